"""Provenance sidecars: a JSON next to every figure, animation and table.

A sidecar names what the file shows and how it was made: the scenes (ids,
dates, source, processing baselines), the detector and its parameters, the
sitewatch version, the attribution and the command line. For ``fig.png`` it
is ``fig.provenance.json``; PNG, PDF and SVG versions of one figure share it
(its ``files`` list names each). This module imports no plotting library, so
table writers can use it too.

Examples
--------
>>> import numpy as np, tempfile, json
>>> from pathlib import Path
>>> from affine import Affine
>>> from sitewatch.raster import Raster, Provenance
>>> r = Raster(np.zeros((1, 2, 2), "float32"), Affine(10, 0, 0, 0, -10, 0), "EPSG:32651",
...            dates=("2020-05-01",), provenance=Provenance("sample", ("S2A_X",),
...                                                         {"processing_baseline": "02.09"}))
>>> rec = provenance_record(rasters=[r], command=["sitewatch", "figure"])
>>> rec["scenes"][0]["id"], rec["processing_baselines"], rec["attribution"]
('S2A_X', ['02.09'], 'Contains modified Copernicus Sentinel data 2020')
>>> out = Path(tempfile.mkdtemp()) / "fig.png"
>>> _ = out.write_bytes(b"png")
>>> side = write_sidecar(out, rec, kind="figure")
>>> side.name, json.loads(side.read_text())["files"]
('fig.provenance.json', ['fig.png'])
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitewatch._version import __version__
from sitewatch.atomic import atomic_write_text
from sitewatch.attribution import copernicus_attribution
from sitewatch.raster import Raster

if TYPE_CHECKING:
    from sitewatch.aoi.site import Site
    from sitewatch.imagery.scene import SceneRecord
    from sitewatch.pipeline.result import ChangeResult

__all__ = ["provenance_record", "result_provenance", "sidecar_path", "write_sidecar",
           "command_line"]

_BASELINE_KEYS = ("processing_baseline", "s2:processing_baseline", "baseline")


def command_line(command: Sequence[str] | None = None) -> str:
    """The command that made an output, shell-quoted (default: this process's argv)."""
    argv = list(command) if command is not None else list(sys.argv)
    if argv and argv[0].endswith(("ipykernel_launcher.py", "ipykernel/__main__.py")):
        return "python (Jupyter kernel)"
    if argv and os.path.basename(argv[0]) == "sitewatch":
        argv[0] = "sitewatch"
    return shlex.join(argv)


def _baselines(processing: Mapping[str, Any]) -> list[str]:
    return [str(processing[k]) for k in _BASELINE_KEYS if processing.get(k) not in (None, "")]


def _scene_entries(rasters: Iterable[Raster | None],
                   scenes: Iterable[SceneRecord] = ()) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for sc in scenes:
        props = dict(sc.properties or {})
        out[sc.id] = {"id": sc.id, "date": sc.date, "datetime": sc.datetime, "source": sc.source,
                      "platform": sc.platform or None, "collection": sc.collection or None,
                      "processing_baseline": sc.processing_baseline or
                      next(iter(_baselines(props)), None),
                      "cloud_cover": sc.cloud_cover}
    for r in rasters:
        if r is None:
            continue
        ids = r.provenance.scene_ids
        dates = list(r.dates)
        for i, sid in enumerate(ids):
            if sid in out:
                continue
            date = dates[i] if len(dates) == len(ids) else (dates[0] if len(dates) == 1 else None)
            out[sid] = {"id": sid, "date": date, "source": r.provenance.source,
                        "processing_baseline": next(iter(_baselines(r.provenance.processing)),
                                                    None)}
    return sorted(out.values(), key=lambda s: (str(s.get("date")), s["id"]))


def provenance_record(*, rasters: Sequence[Raster | None] = (),
                      scenes: Iterable[SceneRecord] = (), site: Site | None = None,
                      detector: Mapping[str, Any] | None = None,
                      command: Sequence[str] | None = None, credits: Sequence[str] = (),
                      **extra: Any) -> dict[str, Any]:
    """A JSON-ready provenance record for an output.

    Parameters
    ----------
    rasters : sequence of Raster
        What the output shows (None entries, i.e. gap epochs, are skipped).
    scenes : iterable of SceneRecord
        Scene records, where richer than the rasters' provenance.
    site : Site, optional
    detector : mapping, optional
        ``method``, ``params``, ``threshold``, ``min_area_m2``...
    command : sequence of str, optional
        Default: this process's command line.
    credits : sequence of str
        Further credit lines (label licences).
    **extra
        Added as they are (view, stretch, epochs...).
    """
    present = [r for r in rasters if r is not None]
    entries = _scene_entries(present, list(scenes))
    dates = sorted({d for r in present for d in r.dates} |
                   {str(e["date"]) for e in entries if e.get("date")})
    processing: dict[str, Any] = {}
    for r in present:
        processing.update(r.provenance.processing)
    sources = sorted({r.provenance.source for r in present} |
                     {str(e["source"]) for e in entries if e.get("source")})
    grid = None
    if present:
        g = present[0]
        grid = {"crs": g.crs, "transform": list(g.transform)[:6], "width": g.width,
                "height": g.height}
    rec: dict[str, Any] = {
        "sitewatch_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command_line(command),
        "site": None if site is None else {"id": site.id, "name": site.name},
        "source": "+".join(sources) if sources else None,
        "dates": dates,
        "scenes": entries,
        "processing_baselines": sorted({b for e in entries
                                        if (b := e.get("processing_baseline"))}),
        "processing": processing,
        "grid": grid,
        "detector": dict(detector) if detector else None,
        "attribution": copernicus_attribution(dates),
        "credits": list(credits),
    }
    rec.update(extra)
    return rec


def result_provenance(result: ChangeResult, *, command: Sequence[str] | None = None,
                      credits: Sequence[str] = (), scenes: Iterable[SceneRecord] = (),
                      **extra: Any) -> dict[str, Any]:
    """:func:`provenance_record` of a change result (rasters, site and detector)."""
    ch = result.change
    return provenance_record(
        rasters=[result.before, result.after], site=result.site, command=command,
        credits=credits, scenes=scenes,
        detector={"method": ch.method, "params": ch.params, "threshold": ch.threshold,
                  "min_area_m2": result.min_area_m2, "changed_area_m2":
                  round(result.changed_area_m2, 1), "regions": len(result.regions)},
        **extra)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``fig.png`` -> ``fig.provenance.json`` (shared by fig.pdf and fig.svg)."""
    p = Path(path)
    return p.with_name(p.stem + ".provenance.json")


def write_sidecar(path: str | os.PathLike[str], record: Mapping[str, Any], *,
                  kind: str = "figure") -> Path:
    """Write (or extend) the provenance sidecar of ``path``; returns the sidecar's path.

    When the sidecar exists for another format of the same output, the file is
    added to its ``files`` list and the record is refreshed.
    """
    p = Path(path)
    side = sidecar_path(p)
    files: list[str] = []
    if side.exists():
        try:
            files = list(json.loads(side.read_text()).get("files", []))
        except (json.JSONDecodeError, OSError):
            files = []
    if p.name not in files:
        files.append(p.name)
    doc = {"files": files, "kind": kind, **dict(record)}
    atomic_write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", side)
    return side
