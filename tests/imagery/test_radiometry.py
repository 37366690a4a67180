"""One reflectance convention on both sides of baseline 04.00 (2022-01-25), per scene."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.imagery.radiometry import (
    BOA_ADD_OFFSET,
    dn_to_reflectance,
    harmonisation_for,
    needs_boa_offset,
    offset_evidence,
    parse_baseline,
)


@pytest.mark.parametrize(("baseline", "date", "expected"), [
    ("02.14", "2021-12-30", False),
    ("03.01", "2022-01-24", False),
    ("04.00", "2022-01-25", True),
    ("05.09", "2019-05-01", True),      # reprocessed old scene: the baseline decides
    ("N0400", "2022-02-01", True),
    (None, "2022-01-24", False),        # no baseline: the date decides
    (None, "2022-01-25", True),
])
def test_offset_rule_on_both_sides_of_the_date(baseline: str | None, date: str,
                                               expected: bool) -> None:
    assert needs_boa_offset(baseline, date) is expected
    h = harmonisation_for(baseline, date)
    assert h.offset == (BOA_ADD_OFFSET if expected else 0)
    assert ("(DN - 1000)" in h.reason) is expected


def test_parse_baseline_forms() -> None:
    assert parse_baseline("04.00") == (4, 0)
    assert parse_baseline("N0509") == (5, 9)
    assert parse_baseline(4.0) == (4, 0)
    assert parse_baseline("garbage") is None


def test_same_reflectance_from_old_and_new_encodings() -> None:
    refl = np.array([[0.0123, 0.2, 0.5]])
    old = np.round(refl * 10000).astype("uint16")          # baseline 02.14
    new = (np.round(refl * 10000) + 1000).astype("uint16")  # baseline 04.00
    a = dn_to_reflectance(old, harmonisation_for("02.14", "2021-06-01").offset)
    b = dn_to_reflectance(new, harmonisation_for("04.00", "2022-06-01").offset)
    np.testing.assert_allclose(a, refl, atol=1e-4)
    np.testing.assert_array_equal(a, b)


def test_nodata_and_negative_reflectance() -> None:
    out = dn_to_reflectance(np.array([[0, 500, 1000]], "uint16"), -1000)
    assert np.isnan(out[0, 0])
    assert out[0, 1] == 0.0  # negative surface reflectance is clipped, like Sentinel Hub
    assert out[0, 2] == 0.0


def test_declared_flag_is_used_without_pixel_evidence() -> None:
    h = harmonisation_for("04.00", "2022-06-01", already_harmonised=True, provider="es")
    assert h.offset == 0 and "already removed by es provider" in h.reason
    h = harmonisation_for("04.00", "2022-06-01", already_harmonised=False)
    assert h.offset == BOA_ADD_OFFSET


@pytest.mark.parametrize(("declared", "shifted"), [(False, True), (True, False),
                                                  (True, True), (False, False)])
def test_pixel_evidence_wins_over_a_wrong_flag(declared: bool, shifted: bool) -> None:
    rng = np.random.default_rng(5)
    refl = rng.uniform(0.02, 0.08, (20, 20))               # vegetation/water blue
    dn = np.round(refl * 10000) + (0 if shifted else 1000)
    scl = np.full((20, 20), 4)
    ev = offset_evidence(dn, scl)
    assert ev is (not shifted)
    h = harmonisation_for("04.00", "2022-06-01", already_harmonised=declared, evidence=ev)
    np.testing.assert_allclose(dn_to_reflectance(dn, h.offset), refl, atol=1e-4)
    assert ("contradict" in h.reason) is (declared != shifted)


def test_no_evidence_without_dark_pixels() -> None:
    assert offset_evidence(np.full((20, 20), 3000), np.full((20, 20), 8)) is None
    assert offset_evidence(np.full((5, 5), 300), np.full((5, 5), 4)) is None  # too few
