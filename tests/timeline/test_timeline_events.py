"""Dates agreed by neighbours, events and the progress arrays."""

from __future__ import annotations

import numpy as np
import pytest
from timeline_helpers import CRS, TRANSFORM

from sitewatch.detectors.timeline_events import absorb_slivers, refine_dates, timeline_events
from sitewatch.detectors.timeline_progress import progress_arrays
from sitewatch.errors import DataError
from sitewatch.types import ChangeType


def test_neighbours_date_the_pixels_seen_late_under_clouds():
    changed = np.zeros((10, 10), bool)
    changed[2:8, 2:8] = True
    first = np.where(changed, 4, -1)
    last = np.where(changed, 3, -1)
    first[2:5, 2:8] = 6                       # cloudy in 4 and 5 there
    date = refine_dates(changed, first, last)
    assert (date[changed] == 4).all() and (date[~changed] == -1).all()


def test_a_pixel_is_never_dated_outside_its_interval():
    rng = np.random.default_rng(3)
    changed = rng.random((20, 20)) < 0.6
    last = np.where(changed, rng.integers(0, 5, (20, 20)), -1)
    first = np.where(changed, last + rng.integers(1, 4, (20, 20)), -1)
    date = refine_dates(changed, first, last)
    assert ((date[changed] > last[changed]) & (date[changed] <= first[changed])).all()


def test_two_regions_that_changed_at_different_times_keep_their_dates():
    changed = np.zeros((6, 12), bool)
    changed[1:5, 1:5] = changed[1:5, 7:11] = True
    first = np.where(changed, 2, -1)
    first[:, 7:11] = np.where(changed[:, 7:11], 8, -1)
    last = np.where(changed, first - 1, -1)
    date = refine_dates(changed, first, last)
    assert (date[1:5, 1:5] == 2).all() and (date[1:5, 7:11] == 8).all()


def test_refine_dates_refuses_inconsistent_intervals():
    changed = np.ones((2, 2), bool)
    with pytest.raises(DataError, match="after last_unchanged"):
        refine_dates(changed, np.full((2, 2), 3), np.full((2, 2), 3))


def test_slivers_join_their_region_only_where_their_interval_allows():
    date = np.full((8, 8), -1, "int16")
    date[1:7, 1:7] = 3
    date[3, 3] = 5            # allowed (last seen unchanged in 2)
    date[5, 5] = 6            # not allowed: seen unchanged in 4, after the region's date
    last = np.where(date >= 0, 2, -1).astype("int16")
    last[5, 5] = 4
    out = absorb_slivers(date, last, 3)
    assert out[3, 3] == 3 and out[5, 5] == 6


def test_events_carry_their_window_type_and_area():
    date = np.full((20, 20), -1)
    date[2:6, 2:12] = 3
    date[10:18, 10:14] = 7
    last = np.where(date >= 0, date - 1, -1)
    last[2:4, 2:12] = 1                         # part of the first region: cloudy in 2
    ctype = np.where(date >= 0, int(ChangeType.PAVING), 0)
    ctype[10:18, 10:14] = int(ChangeType.ROOF)
    ev = timeline_events(date, TRANSFORM, CRS, last_unchanged=last, change_type=ctype,
                         confidence=np.full((20, 20), 0.8))
    assert [(e.stats["epoch"], e.stats["after_epoch"]) for e in ev] == [(3, 2), (7, 6)]
    assert [ChangeType(e.change_type) for e in ev] == [ChangeType.PAVING, ChangeType.ROOF]
    assert [round(e.area_m2, -1) for e in ev] == [4000.0, 3200.0]
    assert ev[0].stats["mean_probability"] == pytest.approx(0.8)
    assert [e.id for e in ev] == [1, 2]


def test_progress_bounds_hold_and_sum_to_the_changed_area():
    rng = np.random.default_rng(5)
    changed = rng.random((30, 30)) < 0.3
    last = np.where(changed, rng.integers(0, 6, (30, 30)), -1)
    first = np.where(changed, last + rng.integers(1, 4, (30, 30)), -1)
    date = refine_dates(changed, first, last)
    ctype = np.where(changed, rng.integers(1, 8, (30, 30)), 0)
    t = progress_arrays(date, first, last, ctype, 100.0, 10)
    assert t["new"].sum() == pytest.approx(100.0 * changed.sum())
    assert (t["new_low"] <= t["new"] + 1e-9).all() and (t["new"] <= t["new_high"] + 1e-9).all()
    assert (t["cumulative_low"] <= t["cumulative"] + 1e-9).all()
    assert (t["cumulative"] <= t["cumulative_high"] + 1e-9).all()
    np.testing.assert_allclose(t["cumulative"][-1], t["cumulative_low"][-1])
    np.testing.assert_allclose(t["cumulative"], np.cumsum(t["new"], axis=0))
    assert t["new"][:, 0].sum() == 0          # column 0 (no change) stays empty


def test_progress_refuses_epochs_beyond_the_series():
    d = np.array([[5]])
    with pytest.raises(DataError, match="beyond"):
        progress_arrays(d, d, d - 1, np.array([[1]]), 100.0, 3)
