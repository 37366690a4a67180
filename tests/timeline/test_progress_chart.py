"""The progress chart, checked by what it draws (not by eye)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from timeline_helpers import ASPHALT, SOIL, make_epochs, make_series

from sitewatch.annotate.progress import TYPE_COLOURS, area_unit, progress_chart
from sitewatch.pipeline.timeline import run_timeline


@pytest.fixture(scope="module")
def rows():
    s = make_series(12, (40, 40), changes=[((slice(4, 10), slice(3, 27)), 5, ASPHALT),
                                          ((slice(16, 26), slice(4, 14)), 8, SOIL)],
                    clouds=[((slice(0, 40), slice(0, 12)), 5)])
    res = run_timeline(make_epochs(s.stack))
    return res.progress_rows()


def test_chart_stacks_the_types_and_shows_the_total(rows):
    fig = progress_chart(rows, title="Test site", subtitle="two changes",
                         credit="Contains modified Copernicus Sentinel data 2020-2022")
    ax, strip = fig.axes
    stacks = [c for c in ax.collections if isinstance(c, PolyCollection)]
    drawn = {r["change_type"] for r in rows if r["change_type"] != "all"
             and r["cumulative_m2"] > 0}
    # one filled area per type present, plus the hatched range band
    assert len(stacks) == len(drawn) + 1
    total = ax.lines[0].get_ydata()
    final = [r for r in rows if r["change_type"] == "all"][-1]["cumulative_m2"]
    assert total[-1] == pytest.approx(final)            # m² (below 100,000 m²)
    assert ax.get_ylabel() == "changed area (m²)"
    assert len(strip.patches) == 12                       # one clear-share bar per epoch
    assert max(p.get_height() for p in strip.patches) == pytest.approx(1.0)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "Copernicus Sentinel data 2020-2022" in texts and "sitewatch" in texts
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "range allowed by cloudy epochs" in labels


def test_chart_draws_into_a_given_axes(rows):
    fig = Figure()
    ax = fig.subplots()
    out = progress_chart(rows, ax=ax, title="In a report")
    assert out is fig and len(fig.axes) == 1 and ax.get_title(loc="left") == "In a report"


def test_colours_are_distinct_and_units_scale():
    assert len(set(TYPE_COLOURS.values())) == len(TYPE_COLOURS)
    assert area_unit(9_000)[0] == "m²" and area_unit(5e6)[0] == "ha"
    big = [{"epoch": "2020", "start": "2020-01-01", "end": "2020-12-31", "change_type": t,
            "cumulative_m2": v, "cumulative_low_m2": v, "cumulative_high_m2": v,
            "clear_share": 1.0} for t, v in (("all", 3e7), ("paving", 3e7))]
    fig = progress_chart(big)
    assert fig.axes[0].get_ylabel() == "changed area (km²)"
    assert np.isclose(fig.axes[0].lines[0].get_ydata()[0], 30.0)


def test_empty_table_is_refused():
    with pytest.raises(ValueError, match="empty"):
        progress_chart([])
