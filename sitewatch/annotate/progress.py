"""The progress chart: how much of a site has changed, by type, epoch after epoch.

Cumulative changed area is drawn as stacked areas per change type at the end
of each epoch, the range the clear observations allow (``cumulative_low`` to
``cumulative_high`` of all types) as a hatched band around the total, and,
under it, the share of the site seen clear in each epoch, so a reader sees
which steps rest on few observations. The function takes the plain rows of the
progress table (``TimelineResult.progress_rows()`` or ``progress.json``'s
``rows``), draws with matplotlib's object API and returns the Figure.

Examples
--------
>>> rows = []
>>> for i, (label, end) in enumerate([("2020-Q1", "2020-03-31"), ("2020-Q2", "2020-06-30"),
...                                    ("2020-Q3", "2020-09-30")]):
...     for ct, cum in (("all", 100.0 * i), ("paving", 100.0 * i)):
...         rows.append({"epoch": label, "start": end[:8] + "01", "end": end,
...                      "change_type": ct, "cumulative_m2": cum, "cumulative_low_m2": cum,
...                      "cumulative_high_m2": cum + 50, "clear_share": 0.8})
>>> fig = progress_chart(rows, title="Test site")
>>> [ax.get_ylabel() for ax in fig.axes][:1]
['changed area (m²)']
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from sitewatch.annotate.style import CHANGE_COLOURS
from sitewatch.attribution import SITEWATCH_CREDIT
from sitewatch.types import ChangeType

__all__ = ["progress_chart", "area_unit", "TYPE_COLOURS"]

#: One colour per change type, keyed by slug in stack order: the house colours of
#: every map and figure (:data:`sitewatch.annotate.style.CHANGE_COLOURS`), so a
#: type looks the same in the chart as on the before/after maps.
TYPE_COLOURS: dict[str, str] = {
    ct.slug: CHANGE_COLOURS[ct]
    for ct in (ChangeType.PAVING, ChangeType.CONSTRUCTION, ChangeType.ROOF,
               ChangeType.DEMOLITION, ChangeType.WATER, ChangeType.VEGETATION,
               ChangeType.OTHER)
}
_ORDER = tuple(TYPE_COLOURS)
_LABELS = {ct.slug: ct.label for ct in ChangeType}


def _day(iso: str) -> _dt.date:
    return _dt.date.fromisoformat(str(iso)[:10])


def area_unit(max_m2: float) -> tuple[str, float]:
    """A readable unit for areas up to ``max_m2``: (name, m² per unit).

    Examples
    --------
    >>> area_unit(41_300), area_unit(2_500_000), area_unit(3e7)
    (('m²', 1.0), ('ha', 10000.0), ('km²', 1000000.0))
    """
    if max_m2 < 1e5:
        return "m²", 1.0
    if max_m2 < 1e7:
        return "ha", 1e4
    return "km²", 1e6


def progress_chart(table: Sequence[Mapping[str, Any]], *, ax: Axes | None = None,
                   title: str = "", subtitle: str = "", credit: str = "",
                   types: Sequence[str] | None = None, show_range: bool = True,
                   show_clear: bool = True, figsize: tuple[float, float] = (8.0, 5.0),
                   dpi: int = 150) -> Figure:
    """Cumulative changed area over time, stacked by change type.

    Parameters
    ----------
    table : sequence of mappings
        Progress rows with ``epoch``, ``end``, ``change_type`` (``"all"`` for
        the total), ``cumulative_m2`` and, for the range, ``cumulative_low_m2`` /
        ``cumulative_high_m2``; ``clear_share`` for the strip.
    ax : Axes, optional
        Draw the areas into this Axes (no clear-share strip, no credit line:
        the caller's figure carries them).
    title, subtitle : str
    credit : str
        Attribution line(s) (e.g. ``"Contains modified Copernicus Sentinel data 2020-2024"``);
        "Made with sitewatch" is added.
    types : sequence of str, optional
        Change type slugs to draw (default: those with any area).
    show_range, show_clear : bool
        Draw the low-high band / the clear-share strip.
    figsize, dpi
        Of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    epochs: list[str] = []
    ends: dict[str, _dt.date] = {}
    values: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in table:
        e = str(row["epoch"])
        if e not in ends:
            epochs.append(e)
            ends[e] = _day(row["end"])
        values[(e, str(row["change_type"]))] = row
    if not epochs:
        raise ValueError("the progress table is empty: nothing to draw")
    x = np.array([ends[e] for e in epochs], dtype="datetime64[D]")

    def series(ct: str, key: str, scale: float = 1.0) -> np.ndarray:
        return np.array([float(values.get((e, ct), {}).get(key) or 0.0) / scale
                         for e in epochs])

    top = max([float(r.get("cumulative_high_m2") or r.get("cumulative_m2") or 0.0)
               for r in table] + [1.0])
    unit, scale = area_unit(top)

    present = [ct for ct in _ORDER if series(ct, "cumulative_m2").any()]
    draw = [ct for ct in (types or present) if ct in TYPE_COLOURS]
    own = ax is None
    if ax is None:
        fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        if show_clear:
            ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1]})
        else:
            ax, strip = fig.subplots(), None
    else:
        fig = ax.figure  # type: ignore[assignment]
        strip = None
    assert ax is not None
    handles: list[Any] = []
    if draw:
        ys = [series(ct, "cumulative_m2", scale) for ct in draw]
        ax.stackplot(x, ys, colors=[TYPE_COLOURS[ct] for ct in draw], alpha=0.9,
                     step=None, linewidth=0)
        # legend top-down in the order of the stack, top first
        handles += [Patch(color=TYPE_COLOURS[ct], label=_LABELS.get(ct, ct))
                    for ct in reversed(draw)]
    total = series("all", "cumulative_m2", scale)
    ax.plot(x, total, color="black", lw=1.2, marker="o", ms=3)
    if show_range and ("all" in {k[1] for k in values}):
        lo = series("all", "cumulative_low_m2", scale)
        hi = series("all", "cumulative_high_m2", scale)
        if (hi > lo).any():
            ax.fill_between(x, lo, hi, facecolor="none", edgecolor="#555555", hatch="////",
                            lw=0)
            handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="////",
                                 label="range allowed by cloudy epochs"))
    ax.set_ylabel(f"changed area ({unit})")
    decimals = 0 if scale == 1 or top / scale >= 10 else 1
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.{decimals}f}"))
    ax.set_ylim(bottom=0)
    ax.margins(x=0.02)
    ax.grid(axis="y", color="#dddddd", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=True, framealpha=0.92,
                  edgecolor="none")
    if strip is not None:
        clear = series("all", "clear_share")
        starts = np.array([str(values.get((e, "all"), {}).get("start") or ends[e])[:10]
                           for e in epochs], dtype="datetime64[D]")
        width = ((x - starts).astype(int) + 1) * 0.9
        strip.bar(starts, clear, width=width, align="edge", color="#7aa6c2")
        strip.set_ylim(0, 1)
        strip.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        strip.set_yticks([0, 1])
        strip.set_ylabel("seen\nclear", fontsize=8)
        strip.spines[["top", "right"]].set_visible(False)
        strip.tick_params(labelsize=8)
    if own and title:
        fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), x=0.01, ha="left",
                     fontsize=12)
    elif not own and title:
        ax.set_title(title, loc="left", fontsize=11)
    if own:
        lines = [". ".join(p for p in (credit, SITEWATCH_CREDIT) if p) + "."]
        fig.text(0.01, 0.005, "\n".join(lines), fontsize=7, color="#333333", ha="left",
                 va="bottom")
        engine = fig.get_layout_engine()
        if isinstance(engine, ConstrainedLayoutEngine):
            engine.set(rect=(0, 0.04, 1, 0.96))
    return fig
