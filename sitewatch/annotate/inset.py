"""Zoom inset on the largest change and callout labels ("new paving, 12,400 m²").

A callout names a region as its name does (:mod:`sitewatch.detectors.composition`):
its dominant type or its family, and its area; :func:`composition_key` gives the
composition of each labelled region, for the key under a figure's legend.
The inset goes to the corner, at the largest of a few sizes, where it hides none of
the outlined regions (and not the region it magnifies); only when every corner would
hide one does it take the one hiding the least, with a logged note.

Examples
--------
>>> from shapely.geometry import box
>>> from sitewatch.detectors.polygons import Region
>>> r = Region(1, box(0, 0, 100, 50), box(0, 0, 1e-3, 5e-4), 12437.0, 124, (0.0, 0.0), 1)
>>> callout_text(r)
'new paving, 12,400 m²'
>>> r.change_type, r.composition = 8, {3: 0.48, 6: 0.31, 1: 0.21}
>>> callout_text(r)
'construction completed, 12,400 m²'
>>> composition_key([r])
['construction completed, 12,400 m²: new roof 48%, vegetation change 31%, new paving 21%']
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sitewatch.annotate.overlay import change_label, draw_changes, draw_minor, draw_site
from sitewatch.annotate.style import TEXT_COLOUR, Preset, format_area, get_preset, halo
from sitewatch.raster import Raster

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from sitewatch.annotate.views import PreparedView
    from sitewatch.detectors.polygons import Region

__all__ = ["callout_text", "composition_key", "zoom_inset", "add_callouts"]

log = logging.getLogger(__name__)


def callout_text(region: Region, *, width_chars: int = 40) -> str:
    """``"<name>, <area>"`` of a region (its dominant type or family), wrapped."""
    from sitewatch.detectors.composition import region_title

    shares = region.composition
    head = region_title(shares) if shares else change_label(region.change_type)
    return "\n".join(textwrap.wrap(f"{head}, {format_area(region.area_m2)}", width_chars))


def composition_key(regions: Sequence[Region]) -> list[str]:
    """``"<callout>: <composition>"`` of each region that is not all one type."""
    from sitewatch.detectors.composition import composition_text

    return [f"{callout_text(r, width_chars=10_000)}: {composition_text(r.composition)}"
            for r in regions if r.composition and max(r.composition.values()) < 0.995]


def _window(region: Region, grid: Raster, aspect: float, *, max_fraction: float,
            min_px: int = 14, pad: float = 1.3) -> tuple[float, float, float, float]:
    """A window (x0, x1, y0, y1) around the region, square on screen, inside the raster.

    At most ``max_fraction`` of the panel wide (so the inset magnifies), at
    least ``min_px`` pixels.
    """
    gx0, gy0, gx1, gy1 = region.geometry.bounds
    cx, cy = (gx0 + gx1) / 2, (gy0 + gy1) / 2
    minx, miny, maxx, maxy = grid.bounds
    half_x = max((gx1 - gx0) / 2, (gy1 - gy0) * aspect / 2) * pad
    half_x = min(half_x, max_fraction * (maxx - minx) / 2)
    half_x = max(half_x, min_px * grid.res[0] / 2)
    half_y = half_x / aspect
    half_x = min(half_x, (maxx - minx) / 2)
    half_y = min(half_y, (maxy - miny) / 2)
    cx = min(max(cx, minx + half_x), maxx - half_x)
    cy = min(max(cy, miny + half_y), maxy - half_y)
    return cx - half_x, cx + half_x, cy - half_y, cy + half_y


def _placement(region: Region, grid: Raster, aspect: float, w: float, h: float,
               polygons: dict[int, list[Any]] | None, minor: Sequence[Any] = (), *,
               caption_h: Callable[[float], float] = lambda w: 0.0,
               margin: float = 0.02) -> tuple[float, float, float, float,
                                              tuple[float, float, float, float]]:
    """(x, y, w, h) in axes fractions of the inset, and its zoom window.

    Sizes from ``w`` x ``h`` down to half of it, positions on a grid of the panel;
    the footprint (the inset and its caption below it, ``caption_h(width)`` high)
    must stay clear of the zoom window and of every outlined polygon (with its line).
    The largest size that has such a place wins; among its places, the one covering
    least of the light-filled smaller regions, then the one nearest the panel's edges.
    """
    import shapely
    from shapely.geometry import box

    minx, miny, maxx, maxy = grid.bounds
    sx, sy = maxx - minx, maxy - miny
    outlined = [pg for plist in (polygons or {}).values() for pg in plist]
    tree = shapely.STRtree(outlined) if outlined else None
    minor_tree = shapely.STRtree(list(minor)) if len(minor) else None
    pad = 2.5 * max(grid.res)  # an outline's line and halo reach past the polygon
    fallback: tuple[tuple[float, ...], tuple[float, float, float, float,
                                             tuple[float, float, float, float]]] | None = None

    def cover(t: Any, geoms: Sequence[Any], fp: Any) -> float:
        return float(sum(geoms[i].intersection(fp).area for i in t.query(fp, "intersects")))

    for scale in (1.0, 0.85, 0.72, 0.6, 0.5):
        ws, hs = w * scale, h * scale
        ch = caption_h(ws)
        window = _window(region, grid, aspect, max_fraction=ws / 2)
        wx0, wx1, wy0, wy1 = ((window[0] - minx) / sx, (window[1] - minx) / sx,
                              (window[2] - miny) / sy, (window[3] - miny) / sy)
        xs = sorted({*np.arange(margin, 1 - ws - margin, 0.04).tolist(), 1 - ws - margin})
        ys = sorted({*np.arange(margin + ch, 1 - hs - margin, 0.04).tolist(),
                     1 - hs - margin})
        found = None
        for ix in xs:
            for iy in ys:
                fx0, fx1, fy0, fy1 = ix, ix + ws, iy - ch, iy + hs
                if fy0 < margin * 0.5 or not (fx1 < wx0 or wx1 < fx0 or fy1 < wy0 or wy1 < fy0):
                    continue
                fp = box(minx + fx0 * sx - pad, miny + fy0 * sy - pad,
                         minx + fx1 * sx + pad, miny + fy1 * sy + pad)
                hidden = cover(tree, outlined, fp) if tree is not None else 0.0
                filled = cover(minor_tree, minor, fp) if minor_tree is not None else 0.0
                edge = min(fx0, 1 - fx1) + min(fy0, 1 - fy1)
                score = (hidden, filled, round(edge, 3))
                if hidden == 0 and (found is None or score < found[0]):
                    found = (score, (ix, iy, ws, hs, window))
                if fallback is None or score < fallback[0]:
                    fallback = (score, (ix, iy, ws, hs, window))
        if found is not None:
            return found[1]
    assert fallback is not None
    log.info("no place in the panel is free of outlined changes: the zoom inset hides %.0f "
             "m² of them", fallback[0][0])
    return fallback[1]


def zoom_inset(ax: Any, image: np.ndarray, grid: Raster, region: Region, *,
               pv: PreparedView | None = None, polygons: dict[int, list[Any]] | None = None,
               overlay: str = "outline", site: BaseGeometry | None = None,
               preset: str | Preset = "double", size: float = 0.42,
               minor: Sequence[Any] = ()) -> Any:
    """Add a zoom inset on ``region`` to ``ax``, where it hides no outlined change.

    Parameters
    ----------
    ax : Axes
        A panel drawn by :func:`sitewatch.annotate.figures.compare`.
    image : ndarray
        The panel's image (RGB in [0, 1] or index values).
    grid : Raster
        Any raster of the panel's grid.
    region : Region
        Usually the largest change region.
    pv : PreparedView, optional
        For the colour map of index views.
    polygons : dict, optional
        Outlined change polygons by class (:func:`~sitewatch.annotate.overlay.type_polygons`
        or :func:`~sitewatch.annotate.overlay.region_polygons`).
    size : float
        Largest inset width as a fraction of the panel.
    minor : sequence of polygons
        Smaller regions drawn as a light fill.

    Returns
    -------
    Axes
        The inset axes (``gid="zoom-inset"``), captioned with :func:`callout_text`.
    """
    from sitewatch.annotate.figures import data_aspect, raster_extent

    p = get_preset(preset)
    aspect = data_aspect(grid)
    bbox = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches()
    panel_ratio = (bbox.width * fig_w) / (bbox.height * fig_h)
    w, h = size, size * panel_ratio
    if h > 0.6:
        w, h = w * 0.6 / h, 0.6
    panel_w_in = bbox.width * fig_w
    cap_pt = p.small_pt

    def chars(width: float) -> int:  # characters of the caption per line at this width
        return max(14, int(0.9 * width * panel_w_in * 72 / (0.6 * cap_pt)))

    ix, iy, w, h, window = _placement(region, grid, aspect, w, h, polygons, minor)
    x0, x1, y0, y1 = window
    ins = ax.inset_axes((ix, iy, w, h))
    ins.set_gid("zoom-inset")
    # draw only the pixels of the window (a full tile would be heavy for a small inset)
    inv = ~grid.transform
    cols, rows = zip(inv @ (x0, y1), inv @ (x1, y0), strict=True)
    r0, r1 = max(int(np.floor(min(rows))) - 1, 0), min(int(np.ceil(max(rows))) + 1, grid.height)
    c0, c1 = max(int(np.floor(min(cols))) - 1, 0), min(int(np.ceil(max(cols))) + 1, grid.width)
    crop = grid.window(r0, c0, r1 - r0, c1 - c0)
    image = image[r0:r1, c0:c1]
    kw: dict[str, Any] = {"extent": raster_extent(crop), "interpolation": "nearest",
                          "origin": "upper", "aspect": aspect}
    if image.ndim == 2 and pv is not None:
        from matplotlib import colormaps

        kw.update(cmap=colormaps[pv.cmap or "cividis"].with_extremes(bad="#d9d9d9"),
                  vmin=pv.vmin, vmax=pv.vmax)
    ins.imshow(image, **kw)
    ins.set_xlim(x0, x1)
    ins.set_ylim(y0, y1)
    ins.set_aspect(aspect)
    ins.set_xticks([])
    ins.set_yticks([])
    for s in ins.spines.values():
        s.set_color("#FFFFFF")
        s.set_linewidth(1.0)
    if minor:
        draw_minor(ins, minor)
    if polygons:
        draw_changes(ins, None, grid.transform, mode=overlay, linewidth=p.font_pt / 7,
                     polygons=polygons)
    if site is not None:
        draw_site(ins, site, grid.crs)
    # the caption goes to the end of the inset away from the region, as wide as the inset
    low = region.geometry.centroid.y < (y0 + y1) / 2
    label = ins.text(0.03, 0.97 if low else 0.03, callout_text(region, width_chars=chars(w)),
                     transform=ins.transAxes, fontsize=cap_pt, ha="left",
                     va="top" if low else "bottom", color=TEXT_COLOUR, linespacing=1.1,
                     gid="callout", bbox={"boxstyle": "round,pad=0.2", "fc": "#FFFFFF",
                                          "ec": "none", "alpha": 0.88})
    renderer = _renderer(ax.figure)
    for n in (chars(w) - 4, chars(w) - 8, 14):  # narrower lines until it fits the inset
        if label.get_window_extent(renderer).width <= 0.94 * ins.get_window_extent(renderer).width:
            break
        label.set_text(callout_text(region, width_chars=max(n, 10)))
    ind = ax.indicate_inset_zoom(ins, edgecolor="#FFFFFF", alpha=1.0, lw=0.8)
    rect = getattr(ind, "rectangle", None)
    for artist in [rect, *(getattr(ind, "connectors", None) or ())]:
        if artist is not None:  # white with a dark halo: visible on any ground
            artist.set_path_effects(halo(1.4))
    for artist in getattr(ind, "connectors", None) or ():
        artist.set_linewidth(0.6)
    return ins


def _renderer(fig: Any) -> Any:
    """A renderer to measure text with, whatever canvas the figure has."""
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def _overlaps(a: Any, b: Any, pad: float = 2.0) -> bool:
    return not (a.x1 + pad < b.x0 or b.x1 + pad < a.x0 or a.y1 + pad < b.y0 or b.y1 + pad < a.y0)


def add_callouts(ax: Any, regions: Sequence[Region], *, preset: str | Preset = "double",
                 avoid: Sequence[Any] = ()) -> list[Any]:
    """Label regions with their name, area and composition, leader lines to a point inside each.

    Labels are placed at the first of several candidate offsets that keeps them
    inside the panel and clear of the inset and its caption, the panel furniture,
    each other and, where any offset allows, the outlined polygons ``avoid`` (data
    coordinates); a region whose label fits nowhere is left unlabelled (logged,
    never overlapping).

    Returns
    -------
    list of matplotlib Annotation
    """
    p = get_preset(preset)
    fig = ax.figure
    renderer = _renderer(fig)
    ax_box = ax.get_window_extent(renderer)
    taken = [c.get_window_extent(renderer) for c in ax.child_axes]
    taken += [t.get_window_extent(renderer) for c in ax.child_axes for t in c.texts]
    tree = None
    if len(avoid):
        import shapely

        tree = shapely.STRtree(list(avoid))
    to_data = ax.transData.inverted()

    def hides_outline(box: Any) -> bool:
        if tree is None:
            return False
        from shapely.geometry import box as sbox

        (x0, y0), (x1, y1) = to_data.transform([(box.x0, box.y0), (box.x1, box.y1)])
        return len(tree.query(sbox(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)),
                              "intersects")) > 0
    lines = []  # the inset's connector lines: a label must not sit across them
    for a in ax.artists:
        rect = getattr(a, "rectangle", None)  # a zoom inset's indicator
        if rect is None:
            taken.append(a.get_window_extent(renderer))
            continue
        taken.append(rect.get_window_extent(renderer))
        lines += [c.get_transform().transform_path(c.get_path())
                  for c in getattr(a, "connectors", None) or () if c.get_visible()]
    placed = []
    d = p.font_pt * 3.2
    offsets = [(d, d * 0.8), (-d, d * 0.8), (d, -d * 0.8), (-d, -d * 0.8), (0, d * 1.2),
               (0, -d * 1.2), (d * 1.6, 0), (-d * 1.6, 0), (d * 2, d * 1.6), (-d * 2, d * 1.6),
               (d * 2, -d * 1.6), (-d * 2, -d * 1.6), (0, d * 2.4), (0, -d * 2.4),
               (d * 3, d * 2.4), (-d * 3, d * 2.4), (d * 3, -d * 2.4), (-d * 3, -d * 2.4)]
    for region in regions:
        pt = region.geometry.representative_point()
        # first where the label hides no outline, then anywhere clear of the rest
        for (dx, dy), strict in [(o, True) for o in offsets] + [(o, False) for o in offsets]:
            ann = ax.annotate(
                callout_text(region), xy=(pt.x, pt.y), xytext=(dx, dy),
                textcoords="offset points", fontsize=p.small_pt, color=TEXT_COLOUR,
                ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
                va="bottom" if dy > 0 else ("top" if dy < 0 else "center"),
                bbox={"boxstyle": "round,pad=0.2", "fc": "#FFFFFF", "ec": "none", "alpha": 0.88},
                arrowprops={"arrowstyle": "-", "color": "#1A1A1A", "lw": 0.6,
                            "shrinkA": 0, "shrinkB": 1,
                            "path_effects": halo(1.3, colour="#FFFFFF", alpha=0.9)},
                gid="callout", annotation_clip=False)
            box = ann.get_window_extent(renderer)
            inside = (box.x0 >= ax_box.x0 + 2 and box.x1 <= ax_box.x1 - 2
                      and box.y0 >= ax_box.y0 + 2 and box.y1 <= ax_box.y1 - 2)
            crosses = any(ln.intersects_bbox(box.padded(2), filled=False) for ln in lines)
            if inside and not crosses and not any(_overlaps(box, t) for t in taken) \
                    and not (strict and hides_outline(box)):
                taken.append(box)
                ann.region_id = region.id  # type: ignore[attr-defined]
                placed.append(ann)
                break
            ann.remove()
        else:
            log.debug("no room for the callout of region %s: left unlabelled", region.id)
    return placed
