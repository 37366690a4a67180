"""Seasons are not construction: green-up in a short window, seasonal cycles over years."""

from __future__ import annotations

import logging

import numpy as np
from timeline_helpers import SOIL, make_epochs

from sitewatch.pipeline.timeline import run_timeline
from sitewatch.types import ChangeType

#: A meadow in winter and at its summer peak (B02 B03 B04 B08 B11 B12).
WINTER = np.array([0.05, 0.07, 0.08, 0.18, 0.22, 0.15], "float32")
SUMMER = np.array([0.035, 0.07, 0.04, 0.38, 0.19, 0.09], "float32")
ROAD = (slice(4, 10), slice(3, 37))
YARD = (slice(26, 36), slice(4, 14))


#: A built-up area that does not change with the seasons.
TOWN = np.array([0.09, 0.10, 0.11, 0.16, 0.2, 0.17], "float32")


def _meadow(months: int, start_month: int, *, seed: int = 5) -> np.ndarray:
    """(T, 6, 40, 40): a meadow (columns 0-19) greening from April to a July peak, browning
    by October, beside a town (columns 20-39)."""
    rng = np.random.default_rng(seed)
    out = np.empty((months, 6, 40, 40), "float32")
    for t in range(months):
        m = (start_month - 1 + t) % 12 + 1
        green = float(np.clip(np.sin(np.pi * (m - 3.5) / 7), 0, 1)) if 4 <= m <= 10 else 0.0
        spec = WINTER + green * (SUMMER - WINTER)
        out[t] = spec[:, None, None] + rng.normal(0, 0.004, (6, 40, 40))
        out[t, :, :, 20:] = TOWN[:, None, None] + rng.normal(0, 0.004, (6, 40, 20))
    return out


def test_spring_green_up_in_a_short_window_is_seasonal_with_a_warning(caplog):
    # 2021-10 to 2022-06: the whole site greens up in spring and stays green to the end;
    # nothing happened but a strip cleared to bare soil, and only that is reported: over
    # the meadow as cleared plants, over the town as a built surface giving way to
    # iron-bearing soil (B04/B02 1.22 -> 1.60: the mineral rule of the change types)
    x = _meadow(9, 10)
    x[4:, :, ROAD[0], ROAD[1]] = SOIL[:, None, None]
    with caplog.at_level(logging.WARNING, logger="sitewatch.pipeline.timeline"):
        res = run_timeline(make_epochs(x, start="2021-10-01", every="month"))
    kinds = {r["change_type"] for r in res.event_records()}
    assert kinds == {"construction", "demolition"}, res.event_records()  # never a season
    assert (res.change_type[ROAD[0], ROAD[1].start:20] == ChangeType.CONSTRUCTION).all()
    assert (res.change_type[ROAD[0], 20:ROAD[1].stop] == ChangeType.DEMOLITION).all()
    assert res.changed[ROAD].mean() > 0.9
    assert res.changed.sum() < 1.1 * res.changed[ROAD].size
    assert res.seasonal is not None and res.seasonal[:, :20].mean() > 0.7
    assert not res.seasonal[:, 20:].any()
    assert res.summary()["results"]["seasonal_area_m2"] > 0.7 * 20 * 40 * 100
    assert any("less than a year" in n for n in res.notes)
    assert any("less than a year" in r.message for r in caplog.records)


def test_seasonal_cycles_over_years_are_not_change_but_a_clearing_is():
    # three years, monthly, starting in winter and ending at the summer peak: the
    # early/late split is a seasonal swing the same months of other years undo
    x = _meadow(31, 1)
    x[20:, :, YARD[0], YARD[1]] = SOIL[:, None, None]         # cleared in 2021-09
    res = run_timeline(make_epochs(x, start="2020-01-01", every="month"))
    assert res.changed[YARD].mean() > 0.9
    assert res.changed.sum() < 1.1 * res.changed[YARD].size, res.event_records()
    main = max(res.event_records(), key=lambda r: r["area_m2"])
    assert main["first_seen_changed"] == "2021-09" and main["change_type"] == "construction"
    assert main["area_m2"] > 0.95 * res.changed_area_m2
    assert not any("less than a year" in n for n in res.notes)
