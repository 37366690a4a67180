"""Write a timeline run to a folder: tables, GeoJSON, the first-change raster, the chart.

=========================  =====================================================
file                       what it holds
=========================  =====================================================
``progress.csv``           per epoch and change type ("all" first): new and
                           cumulative area in m² with low/high bounds, share of
                           the site, clear share, scene ids
``progress.json``          the same rows, plus epochs, parameters, column notes,
                           provenance and attribution
``events.geojson``         regions that changed in the same epoch: window, type,
                           area, confidence, a one-line sentence, scene ids
``first_change.geojson``   one feature per epoch: everything first seen changed
                           in it (dissolved), with its area by type
``first_change_date.tif``  COG, int32: ``first_change`` and ``last_unchanged``
                           (YYYYMMDD of the epoch's first day), ``epoch``
                           (1-based), ``change_type`` code, ``confidence`` (%);
                           0 = no change, -1 = outside the site / never seen
``progress.png``           cumulative area over time by type, with the range
                           the clear observations allow
``summary.json``           provenance: epochs and scene ids, grid, parameters,
                           results, notes, files
=========================  =====================================================
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping

from sitewatch.atomic import atomic_write_text
from sitewatch.imagery.io import write_cog
from sitewatch.pipeline.timeline import TimelineResult
from sitewatch.raster import Raster
from sitewatch.types import ChangeType

__all__ = ["write_timeline_outputs", "first_change_raster", "COLUMN_NOTES"]

log = logging.getLogger(__name__)

#: What each column of the progress table means (copied into progress.json).
COLUMN_NOTES = {
    "new_m2": "area first seen changed in this epoch (after neighbours agreed on dates), m²",
    "new_low_m2": "area that certainly changed in this epoch: seen unchanged in the epoch "
                  "before and changed in this one, m²",
    "new_high_m2": "area that may have changed in this epoch (its last clear view of the old "
                   "state is earlier, its first of the new one this or later), m²",
    "cumulative_m2": "area changed by the end of this epoch, m²",
    "cumulative_low_m2": "area seen changed by the end of this epoch, m²",
    "cumulative_high_m2": "area not seen unchanged since before this epoch (could have "
                          "changed by now), m²",
    "cumulative_share": "cumulative_m2 over the site's area seen clear at least once",
    "clear_share": "share of the site's area with a clear observation in this epoch",
    "median_clear_obs": "median number of clear scenes behind a pixel's composite",
}


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False, default=str) + "\n"


def _yyyymmdd(iso: str) -> int:
    return int(iso.replace("-", "")[:8])


def _csv(rows: list[dict[str, Any]], attribution: str) -> str:
    buf = io.StringIO()
    fields = [*rows[0].keys(), "attribution"] if rows else ["attribution"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "attribution": attribution})
    return buf.getvalue()


def first_change_raster(res: TimelineResult) -> Raster:
    """The per-pixel results as written to ``first_change_date.tif`` (see the module docs).

    Also what ``TimelineResult.to_xarray`` decodes, so the two always agree.
    """
    m, n = res.shape
    starts = np.array([_yyyymmdd(e.start) for e in res.epochs] + [0], "int32")
    date = res.date.astype("int64")
    last = np.where(res.changed, res.history.last_unchanged, -1).astype("int64")
    bands = np.zeros((5, m, n), "int32")
    bands[0] = np.where(date >= 0, starts[date], 0)
    bands[1] = np.where(last >= 0, starts[last], 0)
    bands[2] = np.where(date >= 0, date + 1, 0)
    bands[3] = res.change_type
    bands[4] = np.where(res.changed, np.round(res.history.confidence * 100), 0)
    bands[:, ~res.site_mask] = -1
    prov = type(res.provenance)(res.provenance.source, res.provenance.scene_ids,
                                {**res.provenance.processing, "timeline": res.params})
    return Raster(bands, res.transform, res.crs,
                  band_names=("first_change", "last_unchanged", "epoch", "change_type",
                              "confidence"),
                  nodata=-1, dates=tuple(res.dates), provenance=prov,
                  attrs={"epochs": [e.to_dict() for e in res.epochs],
                         "change_types": {int(c): c.slug for c in ChangeType},
                         "attribution": res.attribution})


def _first_change_features(res: TimelineResult) -> list[dict[str, Any]]:
    by_epoch: dict[int, list[Any]] = {}
    for r in res.events:
        by_epoch.setdefault(r.stats["epoch"], []).append(r)
    feats = []
    for i, regs in sorted(by_epoch.items()):
        e = res.epochs[i]
        geom = shapely.union_all([r.geometry_wgs84 for r in regs])
        by_type: dict[str, float] = {}
        for r in regs:
            k = ChangeType(r.change_type).slug
            by_type[k] = by_type.get(k, 0.0) + r.area_m2
        feats.append({"type": "Feature", "id": i + 1, "geometry": mapping(geom),
                      "properties": {
                          "epoch": e.label, "epoch_start": e.start, "epoch_end": e.end,
                          "first_change": _yyyymmdd(e.start),
                          "area_m2": round(sum(by_type.values()), 1),
                          "area_by_type_m2": {k: round(v, 1) for k, v in by_type.items()},
                          "events": len(regs), "scene_ids": list(e.scene_ids)}})
    return feats


def write_timeline_outputs(res: TimelineResult, out_dir: str | Path, *, figure: bool = True,
                           title: str | None = None, command: list[str] | None = None
                           ) -> dict[str, Path]:
    """Write every output of a timeline run (see the module docs); return name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    rows = res.progress_rows()
    prov = {"site": None if res.site is None else res.site.id,
            "epochs": [{"label": e.label, "start": e.start, "end": e.end,
                        "scene_ids": list(e.scene_ids)} for e in res.epochs],
            "detector": res.params.get("detector"), "attribution": res.attribution}
    paths["progress_csv"] = out / "progress.csv"
    atomic_write_text(_csv(rows, res.attribution), paths["progress_csv"])
    paths["progress_json"] = out / "progress.json"
    atomic_write_text(_json({"columns": COLUMN_NOTES, "rows": rows,
                             "epochs": [e.to_dict() for e in res.epochs],
                             "site_area_m2": round(res.site_area_m2, 1),
                             "params": res.params, "notes": res.notes,
                             "attribution": res.attribution}), paths["progress_json"])
    events = res.event_records()
    feats = [{"type": "Feature", "id": rec["id"], "properties": rec,
              "geometry": mapping(r.geometry_wgs84)}
             for rec, r in zip(events, res.events, strict=True)]
    paths["events"] = out / "events.geojson"
    atomic_write_text(_json({"type": "FeatureCollection", "features": feats,
                             "properties": prov}), paths["events"])
    paths["first_change"] = out / "first_change.geojson"
    atomic_write_text(_json({"type": "FeatureCollection",
                             "features": _first_change_features(res), "properties": prov}),
                      paths["first_change"])
    paths["first_change_date"] = out / "first_change_date.tif"
    # no overviews: GDAL would build them with cubic resampling, wrong for dates and codes
    write_cog(first_change_raster(res), paths["first_change_date"], overviews=False)
    if figure:
        from sitewatch.annotate.figures import save_figure
        from sitewatch.annotate.progress import progress_chart

        name = res.site.name if res.site else "Site"
        area = res.changed_area_m2
        share = area / res.site_area_m2 if res.site_area_m2 else 0.0
        fig = progress_chart(
            rows, title=title or f"{name}: changed area over time",
            subtitle=(f"{area:,.0f} m² ({100 * share:.1f}% of the site) {res.changed_phrase} in "
                      f"{len(res.events)} events, {res.epochs[0].label} to "
                      f"{res.epochs[-1].label}"),
            credit=res.attribution)
        paths["chart"] = save_figure(fig, out / "progress.png", dpi=150)
    summary = res.summary()
    summary["command"] = command if command is not None else sys.argv
    summary["outputs"] = {k: v.name for k, v in paths.items()} | {"summary": "summary.json"}
    paths["summary"] = out / "summary.json"
    atomic_write_text(_json(summary), paths["summary"])
    log.info("wrote %d files to %s", len(paths), out)
    return paths
