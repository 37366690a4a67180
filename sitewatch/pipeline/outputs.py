"""Write a change run to an output folder: COGs, tables, figures, animation, summary.

Every file carries or sits beside its provenance: COG tags, a ``properties``
member in the GeoJSON, a ``<name>.provenance.json`` sidecar next to every
figure, animation and table (scene ids, dates, baselines, source, detector and
parameters, sitewatch version, command line), and ``summary.json``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sitewatch.annotate.provenance import result_provenance, write_sidecar
from sitewatch.atomic import atomic_write_text
from sitewatch.detectors.polygons import composition_field
from sitewatch.imagery.io import write_cog
from sitewatch.pipeline.result import ChangeResult
from sitewatch.raster import Raster

__all__ = ["write_change_outputs", "write_change_figures", "write_regions_table",
           "write_timelapse", "write_summary", "FIGURE_FORMATS"]

log = logging.getLogger(__name__)

FIGURE_FORMATS = ("png", "pdf", "svg")


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"


def write_regions_table(result: ChangeResult, path: str | os.PathLike[str], *,
                        provenance: dict[str, Any] | None = None) -> Path:
    """The change regions as CSV (one row per region, areas in m², WGS84 centroids).

    ``change_type`` is the region's class (its dominant type, or ``mixed``), ``name``
    what figures and reports call it, ``composition`` its area share by pixel type
    (``roof:0.482;vegetation:0.310``).
    """
    path = Path(path)
    cols = ["id", "change_type", "change_type_label", "name", "composition", "area_m2",
            "pixels", "centroid_lon", "centroid_lat", "mean_magnitude", "mean_probability",
            "date_before", "date_after"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in result.regions:
        w.writerow({**r.properties(), "composition": composition_field(
            r.composition or {r.change_type: 1.0})})
    atomic_write_text(buf.getvalue(), path)
    if provenance is not None:
        write_sidecar(path, provenance, kind="table")
    return path


def write_change_figures(result: ChangeResult, out_dir: str | os.PathLike[str], *,
                         name: str = "before_after", formats: Sequence[str] = FIGURE_FORMATS,
                         preset: str = "double", web: bool = True, view: str = "true",
                         overlay: str = "outline", title: str | None = None,
                         credits: Sequence[str] = (), command: Sequence[str] | None = None,
                         inset: bool = True, callouts: int = 3) -> dict[str, Path]:
    """The before/after figure in every format (+ a 1200 px web PNG), each with its sidecar.

    Returns
    -------
    dict
        ``figure`` (the PNG), ``figure_pdf``, ``figure_svg``, ``figure_web`` -> path.
    """
    from sitewatch.annotate.figures import change_figure, save_figure

    out = Path(out_dir)
    prov = result_provenance(result, command=command, credits=credits, view=view,
                             overlay=overlay, preset=preset)
    paths: dict[str, Path] = {}
    fig = change_figure(result, title=title, preset=preset, view=view, overlay=overlay,
                        credits=credits, inset=inset, callouts=callouts)
    for fmt in formats:
        key = "figure" if fmt == "png" else f"figure_{fmt}"
        paths[key] = save_figure(fig, out / f"{name}.{fmt}", provenance=prov)
    if web:
        fig_web = change_figure(result, title=title, preset="web", view=view, overlay=overlay,
                                credits=credits, inset=inset, callouts=callouts)
        paths["figure_web"] = save_figure(fig_web, out / f"{name}_web.png",
                                          provenance={**prov, "preset": "web"})
    return paths


def write_timelapse(rasters: Sequence[Raster | None], out_dir: str | os.PathLike[str], *,
                    labels: Sequence[str] | None = None, name: str = "timelapse",
                    first_change: np.ndarray | None = None,
                    change_type: np.ndarray | None = None, mask: np.ndarray | None = None,
                    overlay: str = "outline",
                    view: str = "true", title: str = "", credits: Sequence[str] = (),
                    site: Any = None, scenes: Sequence[Any] = (),
                    detector: dict[str, Any] | None = None,
                    command: Sequence[str] | None = None, mp4: bool = True,
                    width_px: int = 800, method: str = "") -> dict[str, Path]:
    """GIF (and MP4 when an encoder exists) of the epochs, with a provenance sidecar."""
    from sitewatch.annotate.animation import timelapse
    from sitewatch.annotate.provenance import provenance_record

    out = Path(out_dir)
    written = timelapse(rasters, out / name, labels=labels, first_change=first_change,
                        change_type=change_type, mask=mask, overlay=overlay, view=view,
                        title=title, credits=credits, site=site, mp4=mp4, width_px=width_px,
                        method=method)
    prov = provenance_record(rasters=rasters, scenes=scenes, site=site, detector=detector,
                             command=command, credits=credits, view=view,
                             overlay=overlay if first_change is not None or mask is not None
                             else "none",
                             epochs=list(labels) if labels is not None else None,
                             frames=len(rasters))
    for p in written.values():
        write_sidecar(p, prov, kind="animation")
    return {"timelapse" if k == "gif" else f"timelapse_{k}": v for k, v in written.items()}


def write_summary(result: ChangeResult, out_dir: str | Path, paths: dict[str, Path], *,
                  command: Sequence[str] | None = None,
                  extra: dict[str, Any] | None = None) -> Path:
    """``summary.json``: the result's summary, the outputs written and ``extra`` members."""
    out = Path(out_dir)
    summary = result.summary()
    summary["command"] = result_provenance(result, command=command)["command"]
    summary.update(extra or {})
    summary["outputs"] = {k: v.name for k, v in paths.items()} | {"summary": "summary.json"}
    path = out / "summary.json"
    atomic_write_text(_json(summary), path)
    return path


def write_change_outputs(result: ChangeResult, out_dir: str | Path, *, figure: bool = True,
                         title: str | None = None, extra_credit: str = "",
                         command: list[str] | None = None,
                         formats: Sequence[str] = FIGURE_FORMATS, preset: str = "double",
                         view: str = "true", overlay: str = "outline",
                         summary: bool = True) -> dict[str, Path]:
    """Write the change mask and magnitude (COG), regions (GeoJSON + CSV), figures, summary.

    With ``summary=False`` the caller writes ``summary.json`` (:func:`write_summary`)
    once its own outputs are known.

    Returns
    -------
    dict
        Output name -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    credits = [extra_credit] if extra_credit else []
    prov = result_provenance(result, command=command, credits=credits)
    paths: dict[str, Path] = {}
    paths["change_mask"] = out / "change_mask.tif"
    write_cog(result.mask_raster(), paths["change_mask"])
    paths["magnitude"] = out / "change_magnitude.tif"
    write_cog(result.magnitude_raster(), paths["magnitude"])
    paths["regions"] = out / "changes.geojson"
    atomic_write_text(_json(result.to_geojson()), paths["regions"])
    write_sidecar(paths["regions"], prov, kind="table")
    paths["regions_csv"] = write_regions_table(result, out / "changes.csv", provenance=prov)
    if figure:
        paths.update(write_change_figures(result, out, formats=formats, preset=preset,
                                          view=view, overlay=overlay, title=title,
                                          credits=credits, command=command))
    if summary:
        paths["summary"] = write_summary(result, out, paths, command=command)
    log.info("wrote %d files to %s", len(paths), out)
    return paths
