"""Defaults that follow the cadence: persistence in days, events split by type and space."""

from __future__ import annotations

import numpy as np
import pytest
from timeline_helpers import ASPHALT, SOIL, make_epochs, make_scene_epochs, make_series

from sitewatch.pipeline.timeline import run_timeline
from sitewatch.types import ChangeType

ROAD = (slice(10, 16), slice(2, 38))     # a 60 m wide road, 360 m long
FILL = (slice(16, 36), slice(8, 32))     # the yard being filled right next to it
FAR = (slice(2, 6), slice(30, 38))       # another paving, apart in space


def _road_and_fill(epochs: int, k_road: int, k_fill: int, **kw: object):
    """A dirt track (soil from the start) paved at ``k_road``; the field next to it
    cleared and filled at ``k_fill``."""
    return make_series(epochs, (40, 40), changes=[(ROAD, 0, SOIL), (ROAD, k_road, ASPHALT),
                                                  (FILL, k_fill, SOIL)], **kw)


def _types(res) -> list[tuple[str, str, float]]:
    return sorted((r["change_type"], r["first_seen_changed"], r["area_m2"])
                  for r in res.event_records())


@pytest.mark.parametrize("lag", [0, 1])
def test_quarterly_adjacent_changes_of_two_types_are_two_events(lag: int):
    # the road is paved in one quarter, the fill next to it in the same or the next one
    s = _road_and_fill(12, 5, 5 + lag)
    res = run_timeline(make_epochs(s.stack, every="quarter"))
    ev = _types(res)
    assert [t for t, _, _ in ev] == ["construction", "paving"], ev
    fill = next(e for e in ev if e[0] == "construction")
    road = next(e for e in ev if e[0] == "paving")
    assert road[2] == pytest.approx(6 * 36 * 100, rel=0.1)
    assert fill[2] == pytest.approx(20 * 24 * 100, rel=0.1)
    assert (road[1], fill[1]) == (res.epochs[5].label, res.epochs[5 + lag].label)


def test_one_epoch_per_scene_finds_and_splits_the_events():
    # 40 scenes ten days apart, one epoch each: persistence is in days, so the default
    # (60 days: six more scenes) finds both changes, one scene apart, as two events
    s = make_series(40, (40, 40), changes=[(ROAD, 0, SOIL), (ROAD, 15, ASPHALT),
                                          (FILL, 16, SOIL), (FAR, 0, SOIL), (FAR, 15, ASPHALT)])
    res = run_timeline(make_scene_epochs(s.stack, step_days=10))
    ev = _types(res)
    assert [t for t, _, _ in ev] == ["construction", "paving", "paving"], (ev, res.notes)
    assert res.params["persistence_days"] == 60
    dates = {e[0]: e[1] for e in ev}
    assert dates["paving"] == res.epochs[15].label
    assert dates["construction"] == res.epochs[16].label
    # the two pavings are apart in space: two events of the same type and date
    assert sorted(e[2] for e in ev if e[0] == "paving") == pytest.approx(
        [4 * 8 * 100, 6 * 36 * 100], rel=0.1)
    assert (res.change_type[ROAD] == ChangeType.PAVING).mean() > 0.9


def test_monthly_series_confirms_over_two_months():
    s = make_series(24, (40, 40), changes=[(ROAD, 0, SOIL), (ROAD, 10, ASPHALT)])
    res = run_timeline(make_epochs(s.stack, every="month"))
    assert res.changed[ROAD].mean() > 0.95 and len(res.events) == 1
    # a change seen for one month only at the end is not confirmed, and it is not large
    # and band-moving enough for the exception (a flat brightening)
    s = make_series(24, (40, 40), transients=[(ROAD, 23, 0.1)])
    res = run_timeline(make_epochs(s.stack, every="month"))
    assert not res.changed.any()
    assert np.asarray(res.history.pending)[ROAD].all()
