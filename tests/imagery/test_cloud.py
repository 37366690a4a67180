"""Per-site SCL screening; bright new roofs are not clouds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sitewatch.errors import DataError
from sitewatch.imagery.cloud import (
    SCL,
    CloudScreen,
    SceneScreen,
    rank_screens,
    screen_scl,
    screen_stack,
)

NO_RESCUE = CloudScreen(rescue_isolated=False, rescue_persistent=False, buffer_m=0)


def _field(n: int = 40) -> np.ndarray:
    return np.full((n, n), SCL.VEGETATION, "uint8")


@pytest.mark.parametrize(("cls", "masked"), [
    (0, True), (1, True), (2, False), (3, True), (4, False), (5, False), (6, False),
    (7, False), (8, True), (9, True), (10, True), (11, True)])
def test_classes_masked(cls: int, masked: bool) -> None:
    scl = _field()
    scl[10:20, 10:20] = cls
    s = screen_scl(scl, res_m=10, policy=NO_RESCUE)
    assert bool(s.clear[15, 15]) is not masked
    assert s.clear_fraction == pytest.approx(1 - 0.0625 if masked else 1.0)


def test_fractions_by_reason_and_site_window() -> None:
    scl = _field()
    scl[:, :10] = SCL.NO_DATA
    scl[:10, 10:20] = SCL.CLOUD_HIGH
    scl[30:, 30:] = SCL.CLOUD_SHADOW
    site = np.zeros((40, 40), bool)
    site[20:, :] = True  # the site is the southern half: the cloud is outside it
    s = screen_scl(scl, res_m=10, policy=NO_RESCUE, site_mask=site)
    assert s.fractions["no_data"] == pytest.approx(0.25)
    assert s.fractions["cloud"] == 0.0
    assert s.fractions["shadow"] == pytest.approx(100 / 800)
    assert s.clear_fraction == pytest.approx(1 - 0.25 - 100 / 800)


def test_buffer_grows_clouds_not_rescued_roofs() -> None:
    scl = _field()
    scl[18:22, 18:22] = SCL.CLOUD_HIGH
    scl[0:8, 0:8] = SCL.CLOUD_SHADOW  # a shadow: no isolated rescue
    s = screen_scl(scl, res_m=10, policy=CloudScreen(buffer_m=20))
    assert not s.clear[16, 20] and s.clear[15, 20]  # 2 px of buffer


def test_bright_roof_isolated_object_is_kept() -> None:
    """A single scene: a 9,600 m² roof flagged as cloud, no shadow, no other cloud."""
    scl = _field(60)
    scl[20:28, 20:32] = SCL.CLOUD_HIGH  # 8 x 12 px at 10 m = 9,600 m²
    s = screen_scl(scl, res_m=10)
    assert s.clear[20:28, 20:32].all()
    assert s.rescued == {"isolated": 96} and s.clear_fraction == 1.0


def test_real_clouds_are_not_rescued() -> None:
    big = _field(60)
    big[0:40, 0:40] = SCL.CLOUD_MEDIUM  # 16 ha: larger than any roof the check gives back
    assert screen_scl(big, res_m=10).rescued_px == 0
    small_with_shadow = _field(60)
    small_with_shadow[10:14, 10:14] = SCL.CLOUD_HIGH
    small_with_shadow[20:24, 16:20] = SCL.CLOUD_SHADOW
    s = screen_scl(small_with_shadow, res_m=10)
    assert s.rescued_px == 0 and not s.clear[11, 11]
    small_with_cirrus = _field(60)
    small_with_cirrus[10:14, 10:14] = SCL.CLOUD_HIGH
    small_with_cirrus[40:50, 40:50] = SCL.THIN_CIRRUS
    assert screen_scl(small_with_cirrus, res_m=10).rescued_px == 0


def test_bright_roof_persistence_across_a_series() -> None:
    """A roof appears on the 4th date and is flagged as cloud from then on, while
    clouds with shadows pass over it; the roof is kept in every scene, the clouds go."""
    rng = np.random.default_rng(7)
    dates = [f"2022-{m:02d}-{d:02d}" for m in range(1, 7) for d in (5, 20)]
    stack = []
    for i, _ in enumerate(dates):
        scl = _field(60)
        if i >= 3:
            scl[30:38, 30:42] = SCL.CLOUD_HIGH  # the roof
        r, c = rng.integers(0, 45, 2)
        scl[r:r + 15, c:c + 15] = SCL.CLOUD_MEDIUM  # a passing cloud (2.25 ha, too big to
        scl[(r + 20) % 45:(r + 20) % 45 + 10, c:c + 10] = SCL.CLOUD_SHADOW  # rescue alone)
        scl[30:38, 30:42] = SCL.CLOUD_HIGH if i >= 3 else scl[30:38, 30:42]
        stack.append(scl)
    out = screen_stack(stack, dates, res_m=10, policy=CloudScreen(buffer_m=0))
    kept = 0
    for i, (s, scl) in enumerate(zip(out, stack, strict=True)):
        moving = (scl == SCL.CLOUD_MEDIUM)
        assert not s.clear[moving].any(), f"cloud kept in scene {i}"
        if i < 3:
            continue
        labels, _ = ndimage.label(np.isin(scl, (8, 9)), structure=np.ones((3, 3)))
        touching = (labels == labels[34, 36]).sum() > 96  # a cloud merges with the roof
        if not touching:
            assert s.clear[30:38, 30:42].all(), f"roof masked in scene {i}"
            assert s.rescued["persistent"] == 96
            kept += 1
    assert kept >= 6  # of 9 scenes with the roof; the others have a cloud touching it


def test_persistence_needs_mostly_clear_neighbours() -> None:
    """An overcast week flags the same pixels every day: that is weather, not a roof."""
    stack = []
    for _ in range(5):
        scl = _field(30)
        scl[:, :] = SCL.CLOUD_HIGH
        scl[:3, :3] = SCL.VEGETATION
        stack.append(scl)
    out = screen_stack(stack, [f"2022-03-0{d}" for d in range(1, 6)], res_m=10)
    assert all(s.rescued_px == 0 for s in out)
    assert all(s.clear_fraction < 0.02 for s in out)


def test_rank_by_site_clear_fraction_then_cloud_cover() -> None:
    s = [SceneScreen(np.ones((2, 2), bool), f, date="2022-01-01") for f in (0.4, 0.9, 0.9)]
    assert rank_screens(s, cloud_cover=[1.0, 50.0, 10.0]) == [2, 1, 0]


def test_bad_input_is_an_error() -> None:
    with pytest.raises(DataError, match="one \\(row, col\\) layer"):
        screen_scl(np.zeros((2, 3, 3)), res_m=10)
    with pytest.raises(DataError, match="different grids"):
        screen_stack([_field(4), _field(5)], ["2020-01-01", "2020-01-02"], res_m=10)
    with pytest.raises(DataError, match="covers no pixel"):
        screen_scl(_field(4), res_m=10, site_mask=np.zeros((4, 4), bool))
