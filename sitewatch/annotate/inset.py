"""Zoom inset on the largest change and callout labels ("new paving, 12,400 m²").

Examples
--------
>>> from shapely.geometry import box
>>> from sitewatch.detectors.polygons import Region
>>> r = Region(1, box(0, 0, 100, 50), box(0, 0, 1e-3, 5e-4), 12437.0, 124, (0.0, 0.0), 1)
>>> callout_text(r)
'new paving, 12,400 m²'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sitewatch.annotate.overlay import change_label, draw_changes, draw_site
from sitewatch.annotate.style import TEXT_COLOUR, Preset, format_area, get_preset, halo
from sitewatch.raster import Raster

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from sitewatch.annotate.views import PreparedView
    from sitewatch.detectors.polygons import Region

__all__ = ["callout_text", "zoom_inset", "add_callouts"]

log = logging.getLogger(__name__)


def callout_text(region: Region) -> str:
    """``"<change type>, <area>"`` for a region."""
    return f"{change_label(region.change_type)}, {format_area(region.area_m2)}"


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


def _corner(window: tuple[float, float, float, float], grid: Raster, w: float, h: float,
            polygons: dict[int, list[Any]] | None, margin: float = 0.025
            ) -> tuple[float, float]:
    """Axes-fraction origin of the inset: a corner clear of the zoom window, least change."""
    from shapely.geometry import box

    minx, miny, maxx, maxy = grid.bounds
    sx, sy = maxx - minx, maxy - miny
    wx0, wx1, wy0, wy1 = ((window[0] - minx) / sx, (window[1] - minx) / sx,
                          (window[2] - miny) / sy, (window[3] - miny) / sy)
    polys = [pg for plist in (polygons or {}).values() for pg in plist]
    best: tuple[float, float, float] | None = None
    for ix in (margin, 1 - w - margin):
        for iy in (margin, 1 - h - margin):
            clear = ix + w < wx0 or wx1 < ix or iy + h < wy0 or wy1 < iy
            corner = box(minx + ix * sx, miny + iy * sy, minx + (ix + w) * sx,
                         miny + (iy + h) * sy)
            covered = sum(pg.intersection(corner).area for pg in polys if pg.intersects(corner))
            score = covered + (0 if clear else sx * sy * 10)
            if best is None or score < best[0]:
                best = (score, ix, iy)
    assert best is not None
    return best[1], best[2]


def zoom_inset(ax: Any, image: np.ndarray, grid: Raster, region: Region, *,
               pv: PreparedView | None = None, polygons: dict[int, list[Any]] | None = None,
               overlay: str = "outline", site: BaseGeometry | None = None,
               preset: str | Preset = "double", size: float = 0.42) -> Any:
    """Add a zoom inset on ``region`` to ``ax``, in the corner farthest from it.

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
        Change polygons by type (:func:`~sitewatch.annotate.overlay.type_polygons`).
    size : float
        Inset width as a fraction of the panel.

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
    window = _window(region, grid, aspect, max_fraction=w / 2)
    x0, x1, y0, y1 = window
    ix, iy = _corner(window, grid, w, h, polygons)
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
    if polygons:
        draw_changes(ins, np.zeros((1, 1), "uint8"), grid.transform, mode=overlay,
                     linewidth=p.font_pt / 7, polygons=polygons)
    if site is not None:
        draw_site(ins, site, grid.crs)
    # the caption goes to the end of the inset away from the region
    low = region.geometry.centroid.y < (y0 + y1) / 2
    label = ins.text(0.03, 0.97 if low else 0.03, callout_text(region), transform=ins.transAxes,
                     fontsize=p.small_pt, ha="left", va="top" if low else "bottom",
                     color=TEXT_COLOUR,
                     gid="callout", bbox={"boxstyle": "round,pad=0.2", "fc": "#FFFFFF",
                                          "ec": "none", "alpha": 0.88})
    renderer = _renderer(ax.figure)
    if label.get_window_extent(renderer).width > 0.92 * ins.get_window_extent(renderer).width:
        label.set_text(callout_text(region).replace(", ", ",\n", 1))
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


def add_callouts(ax: Any, regions: Sequence[Region], *, preset: str | Preset = "double"
                 ) -> list[Any]:
    """Label regions with their type and area, leader lines to a point inside each.

    Labels are placed at the first of several candidate offsets that keeps them
    inside the panel and clear of the inset, the panel furniture and each other;
    a region whose label fits nowhere is left unlabelled (logged, never overlapping).

    Returns
    -------
    list of matplotlib Annotation
    """
    p = get_preset(preset)
    fig = ax.figure
    renderer = _renderer(fig)
    ax_box = ax.get_window_extent(renderer)
    taken = [c.get_window_extent(renderer) for c in ax.child_axes]
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
        for dx, dy in offsets:
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
            if inside and not crosses and not any(_overlaps(box, t) for t in taken):
                taken.append(box)
                placed.append(ann)
                break
            ann.remove()
        else:
            log.debug("no room for the callout of region %s: left unlabelled", region.id)
    return placed
