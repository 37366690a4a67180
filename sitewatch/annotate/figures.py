"""Before/after (and multi-epoch) figures ready for publication.

:func:`compare` lays out two or more panels of the same grid under one shared
stretch, with dates as captions, the change overlay coloured by type and its
legend, the site outline, a metric scale bar, a true-north arrow, an optional
zoom inset with callouts, a title, a subtitle and the attribution lines. The
figure's width, resolution and type sizes come from a preset (``web``,
``single``, ``double``; see :mod:`sitewatch.annotate.style`); its height
follows from the ground shape of the site, so nothing is squeezed or clipped.

:func:`before_after` is the two-panel case, :func:`change_figure` draws a
:class:`~sitewatch.pipeline.result.ChangeResult`, :func:`show_raster` one
panel into any Axes. Every function takes ``ax=``/``axes=`` and returns the
Figure or Axes; none calls ``plt.show()`` or touches pyplot state.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> t = Affine(10, 0, 500000, 0, -10, 4000000)
>>> b = Raster(np.full((3, 40, 40), 0.1, "float32"), t, "EPSG:32651",
...            band_names=("B04", "B03", "B02"), dates=("2020-05-01",))
>>> a = b.with_data(b.data + 0.05, dates=("2025-05-01",))
>>> m = np.zeros((40, 40), bool); m[5:15, 5:15] = True
>>> fig = before_after(b, a, mask=m, title="Test", preset="web")
>>> [ax.get_title(loc="left") for ax in fig.axes]
['Before · 2020-05-01', 'After · 2025-05-01']
>>> round(fig.get_figwidth() * fig.dpi)
1200
"""

from __future__ import annotations

import io
import logging
import math
import os
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sitewatch._version import __version__
from sitewatch.annotate.cartography import display_aspect, north_arrow, scale_bar
from sitewatch.annotate.overlay import (
    change_types,
    draw_changes,
    draw_minor,
    draw_site,
    legend_handles,
    region_polygons,
    type_polygons,
)
from sitewatch.annotate.stretch import Stretch
from sitewatch.annotate.style import (
    MUTED_COLOUR,
    TEXT_COLOUR,
    Preset,
    get_preset,
    house_rc,
    house_style,
)
from sitewatch.annotate.views import PreparedView, View, get_view, prepare_view
from sitewatch.atomic import atomic_write_bytes
from sitewatch.attribution import SITEWATCH_CREDIT, copernicus_attribution
from sitewatch.errors import DataError
from sitewatch.raster import Raster

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from sitewatch.aoi.site import Site
    from sitewatch.detectors.polygons import Region
    from sitewatch.pipeline.result import ChangeResult

__all__ = ["compare", "before_after", "change_figure", "show_raster", "save_figure",
           "figure_bytes", "fit_for_display", "figure_subtitle",
           "date_caption", "credit_lines", "raster_extent", "data_aspect", "FIGURE_OUTLINES"]

log = logging.getLogger(__name__)

#: Regions a change figure outlines by default (the largest); the others are a light fill.
FIGURE_OUTLINES = 25


def raster_extent(r: Raster) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) for ``imshow(extent=...)``."""
    minx, miny, maxx, maxy = r.bounds
    return (minx, maxx, miny, maxy)


def data_aspect(r: Raster) -> float:
    """Axes aspect that shows the ground true to shape (1 for metric CRSs)."""
    return display_aspect(r.crs, (r.bounds[1] + r.bounds[3]) / 2)


def _ground_ratio(r: Raster) -> float:
    """Displayed height / width of the raster's panel."""
    minx, miny, maxx, maxy = r.bounds
    return (maxy - miny) * data_aspect(r) / (maxx - minx)


def date_caption(r: Raster | None, role: str = "") -> str:
    """Panel caption: role and ISO date(s); composites show their window and scene count.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> r = Raster(np.zeros((1, 2, 2)), Affine.identity(), "EPSG:32651",
    ...            dates=("2020-04-02", "2020-05-11", "2020-06-21"), attrs={"epoch": "2020-Q2"})
    >>> date_caption(r, "After")
    'After · 2020-Q2 · 3 scenes 2020-04-02 to 2020-06-21'
    """
    head = [role] if role else []
    if r is None:
        return " · ".join(head + ["no clear observation"])
    epoch = r.attrs.get("epoch")
    dates = sorted(set(r.dates))
    # a yearly epoch "2015" adds nothing to a single date 2015-09-18
    if epoch and (len(dates) != 1 or not dates[0].startswith(str(epoch))):
        head.append(str(epoch))
    if len(dates) == 1:
        head.append(dates[0])
    elif dates:
        head.append(f"{len(dates)} scenes {dates[0]} to {dates[-1]}")
    return " · ".join(head) or "undated"


def credit_lines(dates: Sequence[str], *, extra: Sequence[str] = (), method: str = "") -> list[str]:
    """The attribution lines every figure carries: Copernicus years, extra credits, sitewatch.

    Examples
    --------
    >>> credit_lines(["2020-05-01", "2025-06-01"])[0]
    'Contains modified Copernicus Sentinel data 2020, 2025.'
    """
    lines = [copernicus_attribution(dates) + "."]
    lines += [e.rstrip(".") + "." for e in extra if e]
    tail = f"{SITEWATCH_CREDIT} {__version__}"
    lines.append(tail + (f" · {method}" if method else "") + ".")
    return lines


def _wrap(text: str, width_in: float, font_pt: float) -> list[str]:
    chars = max(20, int(width_in * 72 / (0.56 * font_pt)))
    return textwrap.wrap(text, chars) or [""]


def wrap_caption(text: str, ax: Axes, preset: str | Preset) -> str:
    """A panel caption broken into lines that fit the panel's width."""
    p = get_preset(preset)
    width_in = ax.get_position().width * ax.figure.get_figwidth()  # type: ignore[union-attr]
    return "\n".join(_wrap(text, width_in, p.font_pt))


def _prepare_axes_panel(ax: Axes, r: Raster) -> None:
    ax.set_xlim(r.bounds[0], r.bounds[2])
    ax.set_ylim(r.bounds[1], r.bounds[3])
    ax.set_aspect(data_aspect(r))
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_linewidth(0.4)
        s.set_color("#333333")


def fit_for_display(image: np.ndarray, target_px: float) -> np.ndarray:
    """Block-average an image whose width exceeds twice ``target_px`` (same extent).

    A panel a few hundred points wide cannot show a full 10980-pixel tile;
    averaging blocks first keeps memory and file sizes sane and avoids aliasing.

    Examples
    --------
    >>> fit_for_display(np.ones((100, 400, 3)), 50).shape
    (25, 100, 3)
    >>> fit_for_display(np.ones((10, 40)), 50).shape
    (10, 40)
    """
    factor = int(image.shape[1] // (2 * max(target_px, 1)))
    if factor < 2:
        return image
    from skimage.measure import block_reduce

    block = (factor, factor) + (1,) * (image.ndim - 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return np.asarray(block_reduce(image, block, np.nanmean), dtype=image.dtype)


def _panel_px(ax: Axes) -> float:
    fig = ax.figure
    return float(ax.get_position().width * fig.get_figwidth() * fig.dpi)  # type: ignore[union-attr]


def _draw_image(ax: Axes, image: np.ndarray, grid: Raster, pv: PreparedView) -> Any:
    image = fit_for_display(image, _panel_px(ax))
    ext = raster_extent(grid)
    if pv.view.kind == "rgb":
        im = ax.imshow(image, extent=ext, interpolation="nearest", origin="upper",
                       aspect=data_aspect(grid))
    else:
        from matplotlib import colormaps

        cmap = colormaps[pv.cmap or "cividis"].with_extremes(bad="#d9d9d9")
        im = ax.imshow(image, extent=ext, interpolation="nearest", origin="upper", cmap=cmap,
                       vmin=pv.vmin, vmax=pv.vmax, aspect=data_aspect(grid))
    if not np.isfinite(image).any() or (pv.view.kind == "rgb" and np.all(image == 0.85)):
        ax.text(0.5, 0.5, "no clear observation", transform=ax.transAxes, ha="center",
                va="center", color=MUTED_COLOUR)
    return im


def show_raster(raster: Raster, *, ax: Axes | None = None,
                view: str | View | Sequence[str] = "true", stretch: Stretch | None = None,
                caption: str | None = None,
                mask: np.ndarray | None = None, change_type: np.ndarray | None = None,
                overlay: str = "outline", site: Site | BaseGeometry | None = None,
                scalebar: bool = True, north: bool = True, preset: str | Preset = "double"
                ) -> Axes:
    """Draw one raster panel (with optional overlay, scale bar and north arrow) into ``ax``.

    Returns the Axes (a new figure of the preset's width when ``ax`` is None).
    Unlike :func:`compare`, it adds no title or credits: the caller's figure
    must carry the attribution (:func:`credit_lines`).
    """
    p = get_preset(preset)
    with house_style(p):
        if ax is None:
            fig = Figure(figsize=(p.width_in / 2, p.width_in / 2 * _ground_ratio(raster)),
                         dpi=p.dpi)
            FigureCanvasAgg(fig)
            ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
        pv = prepare_view([raster], view, stretch=stretch)
        _prepare_axes_panel(ax, raster)
        _draw_image(ax, pv.images[0], raster, pv)
        if mask is not None or change_type is not None:
            types = change_types(mask=mask, change_type=change_type)
            draw_changes(ax, types, raster.transform, mode=overlay,
                         linewidth=p.font_pt / 8)
        if site is not None:
            draw_site(ax, getattr(site, "geometry", site), raster.crs)
        if caption is None:
            caption = date_caption(raster)
        if caption:
            ax.set_title(caption, loc="left", fontsize=p.font_pt, pad=p.font_pt * 0.35)
        if scalebar:
            scale_bar(ax, raster.crs, fontsize=p.small_pt)
        if north:
            north_arrow(ax, raster.crs, size_pt=p.font_pt * 2.2, fontsize=p.small_pt)
    return ax


def _site_geometry(site: Site | BaseGeometry | None, grid: Raster) -> BaseGeometry | None:
    """The site's WGS84 geometry, or None when it is just the raster's own frame."""
    if site is None:
        return None
    geom = getattr(site, "geometry", site)
    from sitewatch.geometry import reproject_geometry

    g = reproject_geometry(geom, "EPSG:4326", grid.crs)
    minx, miny, maxx, maxy = grid.bounds
    px = max(grid.res)
    gx0, gy0, gx1, gy1 = g.bounds
    if gx0 <= minx + px and gy0 <= miny + px and gx1 >= maxx - px and gy1 >= maxy - px:
        log.debug("site outline is the raster frame: not drawn")
        return None
    return geom  # type: ignore[no-any-return]


def compare(rasters: Sequence[Raster | None], *, captions: Sequence[str] | None = None,
            view: str | View | Sequence[str] = "true", mask: np.ndarray | None = None,
            change_type: np.ndarray | None = None, overlay: str = "outline",
            overlay_on: str = "last", site: Site | BaseGeometry | None = None,
            regions: Sequence[Region] | None = None, inset: bool = False, callouts: int = 0,
            title: str = "", subtitle: str = "", preset: str | Preset = "double",
            credits: Sequence[str] = (), method: str = "", stretch: Stretch | None = None,
            scalebar: bool = True, north: bool = True, legend: bool = True,
            axes: Sequence[Axes] | None = None, dpi: int | None = None,
            index_range: tuple[float, float] | None = None,
            attribution_dates: Sequence[str] | None = None,
            legend_types: Sequence[int] = (), outlines: int | None = None) -> Figure:
    """Panels of several rasters on one grid, one shared stretch, overlays and credits.

    Parameters
    ----------
    rasters : sequence of Raster (None = gap)
        Same grid, in time order.
    captions : sequence of str, optional
        Default: :func:`date_caption` of each raster.
    view : str, View or three band names
        ``true``, ``false``, ``swir``, ``ndvi``, ``ndbi``, ``ndwi``, ``mndwi``
        (see :mod:`sitewatch.annotate.views`).
    mask, change_type : (M, N) ndarray, optional
        Changed pixels and their :class:`~sitewatch.types.ChangeType` codes.
    overlay : {"outline", "fill"}
    overlay_on : {"last", "all"}
        Draw the change overlay on the last panel only (default) or on every one.
    site : Site or shapely geometry (WGS84), optional
        Outline drawn unless it is the raster's own frame.
    regions : sequence of Region, optional
        For the inset and callouts (largest first).
    inset : bool
        Zoom inset on the largest region (needs ``regions``).
    callouts : int
        Label this many of the largest regions ("new paving, 12,400 m²").
    title, subtitle : str
    preset : {"web", "single", "double"} or Preset
    credits : sequence of str
        Extra credit lines (e.g. the OSCD label licence).
    method : str
        A short method note for the sitewatch credit line.
    stretch : Stretch, optional
        Shared RGB stretch (default: 2-98 % over every panel, gamma 1.4).
    axes : sequence of Axes, optional
        Draw the panels into these; title and legend are then left to the
        caller, and the attribution is written inside the last panel.
    dpi : int, optional
        Override the preset's resolution.
    index_range : (float, float), optional
        Fixed colour range of index views.
    attribution_dates : sequence of str, optional
        Dates for the Copernicus line (default: the rasters' own).
    legend_types : sequence of int
        Change types to list in the legend besides those drawn.
    outlines : int, optional
        With ``regions``: outline only the ``outlines`` largest regions, each in the
        colour of its class (its dominant type, or mixed), and draw the others as a
        light fill with one legend entry that counts them. Default: every changed
        pixel outlined in the colour of its own type.

    Returns
    -------
    matplotlib.figure.Figure
    """
    present = [r for r in rasters if r is not None]
    if len(rasters) < 1 or not present:
        raise DataError("compare needs at least one raster with data")
    grid = present[0]
    for r in present[1:]:
        if r.shape != grid.shape or r.crs != grid.crs or \
                not r.transform.almost_equals(grid.transform):
            raise DataError("panels are on different grids: load every epoch on the site's grid")
    p = get_preset(preset)
    v = get_view(view)
    n = len(rasters)
    if captions is None:
        roles = ["Before", "After"] if n == 2 else [""] * n
        captions = [date_caption(r, role) for r, role in zip(rasters, roles, strict=True)]
    dates = [d for r in present for d in r.dates]
    types = None
    if mask is not None or change_type is not None:
        types = change_types(mask=mask, change_type=change_type)
        if types.shape != grid.shape:
            raise DataError(f"change mask {types.shape} does not match the rasters {grid.shape}")
    site_geom = _site_geometry(site, grid)
    minor: list[Any] = []
    if regions is not None and outlines is not None:
        polys = region_polygons(regions[:outlines])
        minor = [g for r in regions[outlines:] for g in getattr(r.geometry, "geoms",
                                                                 [r.geometry])]
    else:
        polys = type_polygons(types, grid.transform) if types is not None else {}
    credit = credit_lines(dates if attribution_dates is None else attribution_dates,
                          extra=credits, method=method)
    if v.kind == "rgb":
        credit[-1] = credit[-1].rstrip(".") + f" · {v.label}, one stretch for all panels."
    lw = p.font_pt / 12
    n_minor = len(regions[outlines:]) if regions is not None and outlines is not None else 0
    key: list[str] = []
    if regions and (inset or callouts) and axes is None:
        from sitewatch.annotate.inset import composition_key

        key = composition_key(regions[:max(callouts, 1 if inset else 0)])
    handles = legend_handles(sorted(set(polys) | set(legend_types)), mode=overlay,
                             site=site_geom is not None, linewidth=lw * 1.4, minor=n_minor) \
        if legend else ([], [])
    with house_style(p):
        pv = prepare_view(list(rasters), v, stretch=stretch, index_range=index_range)
        fig, axes_, frame = _layout(p, grid, n, captions=captions, title=title,
                                    subtitle=subtitle, index=v.kind == "index", dpi=dpi,
                                    axes=axes, credit=credit, handles=handles, key=key)
        im = None
        for i, (ax, img, cap) in enumerate(zip(axes_, pv.images, captions, strict=True)):
            _prepare_axes_panel(ax, grid)
            im = _draw_image(ax, img, grid, pv)
            ax.set_title(wrap_caption(cap, ax, p), loc="left", fontsize=p.font_pt,
                         pad=p.font_pt * 0.35, color=TEXT_COLOUR)
            if (polys or minor) and (overlay_on == "all" or i == n - 1):
                if minor:
                    draw_minor(ax, minor, linewidth=lw)
                draw_changes(ax, types, grid.transform, mode=overlay, linewidth=lw,
                             polygons=polys)
            if site_geom is not None:
                draw_site(ax, site_geom, grid.crs, linewidth=lw * 1.1)
        if scalebar:
            scale_bar(axes_[0], grid.crs, fontsize=p.small_pt)
        if north:
            north_arrow(axes_[0], grid.crs, size_pt=p.font_pt * 2.0, fontsize=p.small_pt)
        if regions and (inset or callouts):
            from sitewatch.annotate.inset import add_callouts, zoom_inset

            after_ax = axes_[-1]
            after_img = pv.images[-1]
            skip = 0
            labelled: list[Region] = []
            if inset:
                zoom_inset(after_ax, after_img, grid, regions[0], pv=pv, polygons=polys,
                           overlay=overlay, site=site_geom, preset=p, minor=minor)
                skip = 1
                labelled.append(regions[0])
            if callouts > skip:
                anns = add_callouts(after_ax, regions[skip:callouts], preset=p,
                                    avoid=[g for plist in polys.values() for g in plist])
                ids = {getattr(a, "region_id", None) for a in anns}
                labelled += [r for r in regions[skip:callouts] if r.id in ids]
            if frame is not None and frame["key_h"]:  # the labelled regions' composition
                from sitewatch.annotate.inset import composition_key

                frame["key"] = [w for k in composition_key(labelled)
                                for w in _wrap(k, p.width_in - 2 * frame["margin"], p.small_pt)]
        if frame is None:  # caller's axes
            from sitewatch.annotate.style import halo

            axes_[-1].text(0.99, 0.01, " ".join(credit), transform=axes_[-1].transAxes,
                           fontsize=p.small_pt * 0.8, ha="right", va="bottom", color="#ffffff",
                           wrap=True, gid="attribution", path_effects=halo(1.5))
            return axes_[0].figure  # type: ignore[return-value]
        _decorate(fig, frame, p, title=title, subtitle=subtitle, handles=handles,
                  colorbar=(im, v.label) if v.kind == "index" else None)
    return fig


def _layout(p: Preset, grid: Raster, n: int, *, captions: Sequence[str], title: str,
            subtitle: str, index: bool, dpi: int | None, axes: Sequence[Axes] | None,
            credit: Sequence[str], handles: tuple[list[Any], list[str]],
            key: Sequence[str] = ()) -> tuple[Figure, list[Axes], dict[str, Any] | None]:
    """Figure of the preset's width, height from the ground shape; returns panel axes."""
    if axes is not None:
        if len(axes) != n:
            raise DataError(f"{n} rasters but {len(axes)} axes given")
        return axes[0].figure, list(axes), None  # type: ignore[return-value]
    line = p.line_in
    margin = 0.45 * line
    gap = 0.55 * line
    ncols = n if n <= 3 else math.ceil(n / 2)
    nrows = math.ceil(n / ncols)
    pw = (p.width_in - 2 * margin - (ncols - 1) * gap) / ncols
    ph = pw * _ground_ratio(grid)
    cap_lines = max(len(_wrap(c, pw, p.font_pt)) for c in captions)
    cap_h = line * (cap_lines + 0.35)
    head_h = margin
    if title:
        head_h += len(_wrap(title, p.width_in - 2 * margin, p.title_pt)) * p.title_pt * 1.3 / 72
    if subtitle:
        head_h += len(_wrap(subtitle, p.width_in - 2 * margin, p.font_pt)) * line
    if title or subtitle:
        head_h += 0.3 * line
    panels_h = nrows * (cap_h + ph) + (nrows - 1) * gap * 0.6
    cbar_h = 3.1 * line if index else 0.0
    legend_rows = _legend_rows(handles[1], p, p.width_in - 2 * margin)
    legend_h = (legend_rows * 1.25 + 0.7) * p.small_pt * 1.3 / 72 if legend_rows else 0.0
    lines = [w for c in credit for w in _wrap(c, p.width_in - 2 * margin, p.small_pt)]
    credit_h = len(lines) * p.small_pt * 1.25 / 72 + margin
    key_lines = [w for k in key for w in _wrap(k, p.width_in - 2 * margin, p.small_pt)]
    key_h = (len(key_lines) * 1.25 + 1.0) * p.small_pt / 72 if key_lines else 0.0
    height = head_h + panels_h + cbar_h + legend_h + key_h + credit_h
    fig = Figure(figsize=(p.width_in, height), dpi=dpi or p.dpi)
    FigureCanvasAgg(fig)
    fig.patch.set_facecolor("white")
    axes_: list[Axes] = []
    top = height - head_h
    for k in range(n):
        row, col = divmod(k, ncols)
        y_top = top - row * (cap_h + ph + gap * 0.6) - cap_h
        x = margin + col * (pw + gap)
        axes_.append(fig.add_axes((x / p.width_in, (y_top - ph) / height, pw / p.width_in,
                                   ph / height)))
    bottom_of_panels = top - panels_h
    frame = {"width": p.width_in, "height": height, "margin": margin, "head_h": head_h,
             "panels_bottom": bottom_of_panels, "cbar_h": cbar_h, "legend_h": legend_h,
             "pw": pw, "ncols": ncols, "legend_rows": legend_rows, "credit": lines,
             "key": key_lines, "key_h": key_h}
    return fig, axes_, frame


def _legend_rows(labels: Sequence[str], p: Preset, width_in: float) -> int:
    if not labels:
        return 0
    # as few rows as fit the width; matplotlib fills a legend column by column, so each
    # column is as wide as its longest label
    w = [len(label) * 0.56 * p.small_pt / 72 + 0.4 for label in labels]
    for rows in range(1, len(labels)):
        cols = [max(w[j:j + rows]) for j in range(0, len(w), rows)]
        if sum(cols) < width_in:
            return rows
    return len(labels)


def _decorate(fig: Figure, frame: dict[str, Any], p: Preset, *, title: str, subtitle: str,
              handles: tuple[list[Any], list[str]], colorbar: tuple[Any, str] | None
              ) -> None:
    W, H, m = frame["width"], frame["height"], frame["margin"]
    y = H - m
    if title:
        lines = _wrap(title, W - 2 * m, p.title_pt)
        fig.text(m / W, y / H, "\n".join(lines), fontsize=p.title_pt, fontweight="bold",
                 ha="left", va="top", color=TEXT_COLOUR, gid="title")
        y -= len(lines) * p.title_pt * 1.3 / 72
    if subtitle:
        lines = _wrap(subtitle, W - 2 * m, p.font_pt)
        fig.text(m / W, y / H, "\n".join(lines), fontsize=p.font_pt, ha="left", va="top",
                 color=MUTED_COLOUR, gid="subtitle")
    y = frame["panels_bottom"] - 0.55 * p.line_in
    if colorbar is not None:
        im, label = colorbar
        cax = fig.add_axes((m / W, (y - 1.55 * p.line_in) / H, min(0.5 * (W - 2 * m), 2.6) / W,
                            0.5 * p.line_in / H))
        cb = fig.colorbar(im, cax=cax, orientation="horizontal")
        cb.ax.tick_params(labelsize=p.small_pt, length=2, width=0.4, pad=1)
        cb.outline.set_linewidth(0.4)  # type: ignore[operator]
        cb.set_label(label + ", one colour range for every panel", fontsize=p.small_pt,
                     labelpad=2)
        cb.ax.xaxis.set_label_position("top")
        y -= frame["cbar_h"]
    if handles[0]:
        n = len(handles[0])
        ncol = math.ceil(n / frame["legend_rows"])
        fig.legend(handles=handles[0], labels=handles[1], loc="upper left",
                   bbox_to_anchor=(m / W, y / H), ncol=ncol, fontsize=p.small_pt,
                   frameon=False, handlelength=1.6, handletextpad=0.5, columnspacing=1.2,
                   borderaxespad=0, borderpad=0)
        y -= frame["legend_h"]
    if frame["key"]:  # the composition of the labelled changes
        fig.text(m / W, (y + 0.15 * p.small_pt / 72) / H, "\n".join(frame["key"]),
                 fontsize=p.small_pt, ha="left", va="top", color=TEXT_COLOUR,
                 linespacing=1.25, gid="composition-key")
    fig.text(m / W, m * 0.8 / H, "\n".join(frame["credit"]), fontsize=p.small_pt, ha="left",
             va="bottom", color=MUTED_COLOUR, linespacing=1.25, gid="attribution")


def before_after(before: Raster, after: Raster, *, mask: np.ndarray | None = None,
                 change_type: np.ndarray | None = None, title: str = "", subtitle: str = "",
                 extra_credit: str = "", **kwargs: Any) -> Figure:
    """Before and after panels: :func:`compare` of two rasters.

    Examples
    --------
    See the module docstring.
    """
    credits = list(kwargs.pop("credits", ()))
    if extra_credit:
        credits.append(extra_credit)
    return compare([before, after], mask=mask, change_type=change_type, title=title,
                   subtitle=subtitle, credits=credits, **kwargs)


def figure_subtitle(result: ChangeResult, *, outlines: int | None = FIGURE_OUTLINES) -> str:
    """The figure's headline: dates, changed area (the run's total) and regions.

    The area is :attr:`ChangeResult.changed_area_m2` rounded to three significant
    figures (within 0.5 % of every other output of the run).
    """
    from sitewatch.annotate.style import format_area

    d0 = result.before.dates[0] if result.before.dates else "before"
    d1 = result.after.dates[-1] if result.after.dates else "after"
    n = len(result.regions)
    text = (f"Change detected between {d0} and {d1}: {format_area(result.changed_area_m2)} "
            f"in {n} region{'s' if n != 1 else ''}")
    if outlines is not None and n > outlines:
        text += f", the {outlines} largest outlined"
    return text


def change_figure(result: ChangeResult, *, title: str | None = None,
                  subtitle: str | None = None, inset: bool = True, callouts: int = 3,
                  outlines: int | None = FIGURE_OUTLINES, **kwargs: Any) -> Figure:
    """The before/after figure of a change result, with its regions, site and method.

    Parameters
    ----------
    result : ChangeResult
    title, subtitle : str, optional
        Default: the site's name; the dates, changed area and region count
        (:func:`figure_subtitle`).
    inset, callouts
        See :func:`compare`; callouts name the largest regions with their composition.
    outlines : int, optional
        Outline this many of the largest regions, each in its class's colour; the
        others are a light fill, counted in the legend (None: every pixel by its type).
    **kwargs
        Passed to :func:`compare` (``view``, ``overlay``, ``preset``, ``credits``...).
    """
    name = result.site.name if result.site else "Detected change"
    if subtitle is None:
        subtitle = figure_subtitle(result, outlines=outlines)
    ch = result.change
    thr = f", threshold {ch.threshold:.3g}" if ch.threshold is not None else ""
    method = kwargs.pop("method", f"change: {ch.method}{thr}, regions ≥ "
                                  f"{result.min_area_m2:g} m²")
    return before_after(result.before, result.after, mask=ch.mask, change_type=ch.change_type,
                        title=name if title is None else title, subtitle=subtitle,
                        site=kwargs.pop("site", result.site), regions=result.regions,
                        inset=inset and bool(result.regions), callouts=callouts,
                        method=method, outlines=outlines, **kwargs)


_METADATA_KEYS = {"png": ("Title", "Author", "Description", "Copyright", "Software", "Source"),
                  "pdf": ("Title", "Author", "Subject", "Keywords", "Creator"),
                  "svg": ("Title", "Creator", "Description", "Rights", "Source")}


def figure_bytes(fig: Figure, fmt: str = "png", *, dpi: int | None = None) -> bytes:
    """The figure encoded as PNG, PDF or SVG with the house settings and metadata."""
    import matplotlib as mpl

    fmt = fmt.lower()
    if fmt not in _METADATA_KEYS:
        raise DataError(f"cannot save a figure as {fmt!r}: use .png, .pdf or .svg")
    texts = [t.get_text() for t in fig.texts]
    title = next((t.get_text() for t in fig.texts if t.get_gid() == "title"), "sitewatch figure")
    attribution = next((t.get_text() for t in fig.texts if t.get_gid() == "attribution"),
                       " ".join(texts))
    meta_all = {"Title": title, "Author": "sitewatch", "Creator": f"sitewatch {__version__}",
                "Software": f"sitewatch {__version__}", "Description": attribution,
                "Subject": attribution, "Rights": attribution.split("\n")[0],
                "Copyright": attribution.split("\n")[0], "Keywords": "sitewatch, Sentinel",
                "Source": "Copernicus Sentinel data"}
    metadata = {k: meta_all[k] for k in _METADATA_KEYS[fmt]}
    buf = io.BytesIO()
    rc: Any = {**house_rc(), "svg.hashsalt": "sitewatch"}
    with mpl.rc_context(rc):
        fig.savefig(buf, format=fmt, dpi=dpi or max(int(fig.dpi), 300 if fmt == "png" else 0),
                    metadata=metadata, facecolor=fig.get_facecolor())
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int | None = None,
                provenance: Mapping[str, Any] | None = None) -> Path:
    """Save a figure atomically as PNG, PDF or SVG (from the suffix), text kept as text.

    SVG text stays ``<text>`` (``svg.fonttype: none``) and PDF embeds TrueType
    text, so titles, dates and the attribution are searchable and editable.
    With ``provenance`` a JSON sidecar (:func:`sitewatch.annotate.provenance.
    write_sidecar`) is written next to the file.

    Parameters
    ----------
    fig : Figure
    path : path-like
        ``.png``, ``.pdf`` or ``.svg``.
    dpi : int, optional
        Default: the figure's own (the preset's) resolution, at least 300 for PNG.
    provenance : mapping, optional
        Record for the sidecar.

    Returns
    -------
    Path
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    atomic_write_bytes(figure_bytes(fig, fmt, dpi=dpi), path)
    if provenance is not None:
        from sitewatch.annotate.provenance import write_sidecar

        write_sidecar(path, provenance, kind="figure")
    log.info("wrote %s", path)
    return path
