"""Write a change run to an output folder: COGs, GeoJSON, figure, summary."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from sitewatch.atomic import atomic_write_text
from sitewatch.detectors.polygons import regions_to_geojson
from sitewatch.imagery.io import write_cog
from sitewatch.pipeline.result import ChangeResult

__all__ = ["write_change_outputs"]

log = logging.getLogger(__name__)


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"


def write_change_outputs(result: ChangeResult, out_dir: str | Path, *, figure: bool = True,
                         title: str | None = None, extra_credit: str = "",
                         command: list[str] | None = None) -> dict[str, Path]:
    """Write the change mask and magnitude (COG), regions (GeoJSON), figure (PNG), summary.

    Every file carries or sits beside its provenance: COG tags, a ``properties``
    member in the GeoJSON, and ``summary.json`` listing scene ids, dates,
    detector, parameters and the files written.

    Returns
    -------
    dict
        Output name -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["change_mask"] = out / "change_mask.tif"
    write_cog(result.mask_raster(), paths["change_mask"])
    paths["magnitude"] = out / "change_magnitude.tif"
    write_cog(result.magnitude_raster(), paths["magnitude"])
    summary = result.summary()
    summary["command"] = command if command is not None else sys.argv
    prov = {"scene_ids": result.scene_ids,
            "dates": list(result.before.dates) + list(result.after.dates),
            "detector": result.change.method, "attribution": result.attribution}
    paths["regions"] = out / "changes.geojson"
    atomic_write_text(_json(regions_to_geojson(result.regions, properties=prov)),
                      paths["regions"])
    if figure:
        from sitewatch.annotate.figures import before_after, save_figure

        name = result.site.name if result.site else "Site"
        fig = before_after(result.before, result.after, mask=result.change.mask,
                           title=title or f"{name}: detected change",
                           subtitle=(f"{len(result.regions)} change regions, "
                                     f"{result.changed_area_m2:,.0f} m² "
                                     f"({result.change.method})"),
                           extra_credit=extra_credit)
        paths["figure"] = save_figure(fig, out / "before_after.png", dpi=150)
    summary["outputs"] = {k: v.name for k, v in paths.items()} | {"summary": "summary.json"}
    paths["summary"] = out / "summary.json"
    atomic_write_text(_json(summary), paths["summary"])
    log.info("wrote %d files to %s", len(paths), out)
    return paths
