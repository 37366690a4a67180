"""Rich notebook display: a small picture and a summary for rasters, results, epochs.

``Raster._repr_html_`` and ``ChangeResult._repr_html_`` call these lazily, so
``import sitewatch`` stays free of plotting libraries. Thumbnails of rasters
are drawn with NumPy and Pillow only (fast, no matplotlib); change results
get a small before/after figure with the overlay.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> r = Raster(np.random.default_rng(0).uniform(0, 0.3, (3, 20, 30)).astype("float32"),
...            Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651",
...            band_names=("B04", "B03", "B02"), dates=("2020-05-01",))
>>> png = thumbnail_png(r, max_px=60)
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
>>> "2020-05-01" in raster_html(r) and "<img" in raster_html(r)
True
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sitewatch.annotate.report_html import data_uri
from sitewatch.annotate.stretch import Stretch, shared_stretch
from sitewatch.attribution import copernicus_attribution
from sitewatch.raster import Raster

if TYPE_CHECKING:
    from sitewatch.imagery.epochs import Epoch
    from sitewatch.pipeline.result import ChangeResult

__all__ = ["thumbnail_array", "thumbnail_png", "raster_html", "change_html", "epochs_html",
           "timeline_html"]

_STYLE = ("font-family:'DejaVu Sans',sans-serif;font-size:12px;border-collapse:collapse;"
          "margin:0")


def _display_shape(r: Raster, max_px: int) -> tuple[int, int]:
    """(height, width) in screen pixels with the ground's true shape."""
    from sitewatch.annotate.cartography import display_aspect

    minx, miny, maxx, maxy = r.bounds
    ratio = (maxy - miny) * display_aspect(r.crs, (miny + maxy) / 2) / (maxx - minx)
    if ratio >= 1:
        return max_px, max(1, round(max_px / ratio))
    return max(1, round(max_px * ratio)), max_px


def _bands_for(r: Raster) -> tuple[str, ...]:
    rgb = ("B04", "B03", "B02")
    if all(b in r.band_names for b in rgb):
        return rgb
    return tuple(r.band_names[:3]) if r.count >= 3 else tuple(r.band_names[:1])


def thumbnail_array(r: Raster, *, max_px: int = 320, bands: Sequence[str] | None = None,
                    stretch: Stretch | None = None) -> np.ndarray:
    """(H, W, 3) uint8: true colour when B04/B03/B02 exist, else the first band in grey.

    ``stretch`` shares one stretch between several thumbnails.
    """
    from PIL import Image

    bands = tuple(bands or _bands_for(r))
    data = r.select(bands).data.astype("float32")
    if np.issubdtype(r.data.dtype, np.integer) and len(bands) == 1 and data.max(initial=0) <= 1:
        img = np.repeat(data, 3, axis=0)  # a 0/1 mask as it is
    else:
        data = np.where(r.valid_mask()[None], data, np.nan)
        st = stretch or shared_stretch([data], gamma=1.4 if len(bands) == 3 else 1.0)
        img = st.apply(data)
        img = np.repeat(img, 3, axis=0) if len(bands) == 1 else img
    arr = np.nan_to_num(np.moveaxis(img, 0, -1), nan=0.85)
    out = (arr * 255).clip(0, 255).astype("uint8")
    h, w = _display_shape(r, max_px)
    resample = Image.Resampling.NEAREST if max(r.shape) < max_px else Image.Resampling.BOX
    return np.asarray(Image.fromarray(out).resize((w, h), resample))


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def thumbnail_png(r: Raster, *, max_px: int = 320, bands: Sequence[str] | None = None
                  ) -> bytes:
    """:func:`thumbnail_array` encoded as PNG."""
    return _png(thumbnail_array(r, max_px=max_px, bands=bands))


def _rows(rows: Sequence[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th style='text-align:left;padding:1px 8px 1px 0;color:#555'>"
                   f"{html.escape(k)}</th><td style='text-align:left;padding:1px 0'>"
                   f"{html.escape(str(v))}</td></tr>" for k, v in rows)


def _card(img_uri: str, title: str, rows: Sequence[tuple[str, Any]], foot: str) -> str:
    return (f"<div style='display:flex;gap:14px;align-items:flex-start;flex-wrap:wrap'>"
            f"<img src='{img_uri}' style='max-width:100%;image-rendering:pixelated'>"
            f"<div><div style='font-weight:bold;margin-bottom:4px'>{html.escape(title)}</div>"
            f"<table style=\"{_STYLE}\">{_rows(rows)}</table>"
            f"<div style='color:#777;font-size:11px;margin-top:6px'>{html.escape(foot)}</div>"
            f"</div></div>")


def raster_html(r: Raster, *, max_px: int = 256) -> str:
    """A thumbnail and the raster's georeferencing, dates and provenance."""
    res = r.res
    unit = "°" if r.is_geographic else " m"
    rows = [("size", f"{r.height} × {r.width} px, {r.count} band(s)"),
            ("bands", ", ".join(r.band_names)),
            ("CRS", r.crs), ("resolution", f"{res[0]:.6g}{unit} × {res[1]:.6g}{unit}"),
            ("dates", ", ".join(r.dates) or "-"), ("source", r.provenance.source),
            ("scenes", ", ".join(r.provenance.scene_ids) or "-")]
    if r.attrs.get("epoch"):
        rows.insert(0, ("epoch", r.attrs["epoch"]))
    foot = copernicus_attribution(r.dates) if r.dates else ""
    return _card(data_uri(thumbnail_png(r, max_px=max_px), "image/png"), "Raster", rows, foot)


def change_html(result: ChangeResult, *, width_px: int = 560) -> str:
    """A small before/after figure with the change overlay and the result's summary."""
    from sitewatch.annotate.figures import change_figure, figure_bytes
    from sitewatch.annotate.style import format_area

    fig = change_figure(result, preset="web", inset=False, callouts=0)
    png = figure_bytes(fig, dpi=max(72, round(width_px / fig.get_figwidth())))
    ch = result.change
    rows: list[tuple[str, Any]] = [
        ("site", result.site.name if result.site else "-"),
        ("dates", f"{', '.join(result.before.dates)} → {', '.join(result.after.dates)}"),
        ("detector", ch.method + (f" (threshold {ch.threshold:.3g})"
                                  if ch.threshold is not None else "")),
        ("changed area", f"{format_area(result.changed_area_m2)} in {len(result.regions)} "
                         "regions"),
    ]
    for slug, area in sorted(result.area_by_type().items(), key=lambda kv: -kv[1]):
        rows.append((f"  {slug}", format_area(area)))
    if result.metrics and result.metrics.get("f1") is not None:
        m = result.metrics
        rows.append(("vs reference", f"precision {m['precision']:.2f}, recall "
                                     f"{m['recall']:.2f}, F1 {m['f1']:.2f}"))
    return _card(data_uri(png, "image/png"), "Change result", rows, result.attribution)


def epochs_html(epochs: Sequence[Epoch], *, thumb_px: int = 120) -> str:
    """A strip of epoch thumbnails (one stretch for all) with labels and scene counts."""
    present = [e.raster for e in epochs if e.raster is not None]
    st = None
    if present:
        bands = _bands_for(present[0])
        st = shared_stretch([r.select(bands).data for r in present],
                            gamma=1.4 if len(bands) == 3 else 1.0)
    cells = []
    for e in epochs:
        if e.raster is None:
            img = (f"<div style='width:{thumb_px}px;height:{thumb_px}px;background:#ddd;"
                   "display:flex;align-items:center;justify-content:center;color:#555'>"
                   "no clear observation</div>")
        else:
            uri = data_uri(_png(thumbnail_array(e.raster, max_px=thumb_px, stretch=st)),
                           "image/png")
            img = f"<img src='{uri}'>"
        cells.append(f"<div style='text-align:center;font-size:11px'>{img}<div>"
                     f"{html.escape(e.label)} · {len(e.scenes)} scene(s)</div></div>")
    dates = [d for r in present for d in r.dates]
    return (f"<div style='display:flex;gap:6px;flex-wrap:wrap'>{''.join(cells)}</div>"
            f"<div style='color:#777;font-size:11px'>{html.escape(copernicus_attribution(dates))}"
            f"; one stretch for all epochs.</div>")


def timeline_html(timeline: Any, *, width_px: int = 560) -> str:
    """A site timeline: its progress chart, key numbers and largest events.

    ``timeline`` is a :class:`sitewatch.pipeline.timeline.TimelineResult`
    (anything with ``progress_rows()``, ``event_records()``, ``epochs``,
    ``changed_area_m2``, ``site_area_m2``, ``area_by_type()``, ``attribution``).
    """
    from sitewatch.annotate.figures import figure_bytes
    from sitewatch.annotate.progress import progress_chart
    from sitewatch.annotate.style import format_area

    site = getattr(timeline, "site", None)
    name = site.name if site is not None else "Site"
    fig = progress_chart(timeline.progress_rows(), title=f"{name}: changed area over time",
                         credit=timeline.attribution)
    png = figure_bytes(fig, dpi=max(60, round(width_px / fig.get_figwidth())))
    epochs = timeline.epochs
    events = sorted(timeline.event_records(), key=lambda r: -r["area_m2"])
    rows: list[tuple[str, Any]] = [
        ("site", name),
        ("epochs", f"{len(epochs)}: {epochs[0].label} to {epochs[-1].label}" if epochs else "-"),
        ("changed", f"{format_area(timeline.changed_area_m2)} of "
                    f"{format_area(timeline.site_area_m2)} seen clear"),
        ("events", len(events)),
    ]
    for slug, area in sorted(timeline.area_by_type().items(), key=lambda kv: -kv[1]):
        rows.append((f"  {slug}", format_area(area)))
    for rec in events[:3]:
        rows.append(("event", rec.get("sentence", "")))
    for note in getattr(timeline, "notes", [])[:3]:
        rows.append(("note", note))
    return _card(data_uri(png, "image/png"), "Timeline", rows, timeline.attribution)
