"""One site of a watchlist: fetch, detect, timeline, figures, then a completion marker.

The site's folder holds ``change/`` (change between the first and the last clear
epochs: mask and magnitude COGs, regions as GeoJSON and CSV, figures, summary)
and, with three clear epochs or more, ``timeline/`` (progress tables, events,
first-change dates, progress chart), plus ``done.json``.

:func:`run_watch_site` is what a dask worker runs. It builds the site's outputs in a
private work folder and moves the finished folder into place in one rename, with
its marker ``done.json`` (written atomically) inside: a site folder with a marker
is complete, a killed run leaves no half-written site behind, and a later run
skips the site while its settings (:meth:`WatchSite.fingerprint`) are unchanged.
Errors never escape: they become a ``failed`` :class:`SiteOutcome`.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from sitewatch.pipeline.watchlist import parse_watchlist
>>> wl = parse_watchlist({"sites": [{"id": "park", "source": "sample", "from": "2015-01-01",
...                                  "to": "2018-12-31", "every": "year", "formats": [],
...                                  "bbox": [-122.0135, 37.3250, -122.0025, 37.3360]}]})
>>> out = Path(tempfile.mkdtemp())
>>> first = run_watch_site(wl.sites[0], out)
>>> first.status, first.epochs_used, (out / "park" / "done.json").is_file()
('done', 2, True)
>>> run_watch_site(wl.sites[0], out).status      # settings unchanged: nothing is redone
'skipped'
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import socket
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sitewatch._version import __version__
from sitewatch.atomic import atomic_write_text
from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector
from sitewatch.errors import OutputFolderError, SitewatchError
from sitewatch.imagery.epochs import build_epochs
from sitewatch.imagery.sources import get_source
from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2, detect_change_epochs
from sitewatch.pipeline.outputs import write_change_outputs
from sitewatch.pipeline.watchlist import WatchSite

__all__ = ["SiteOutcome", "run_watch_site", "site_status", "is_site_folder", "MARKER",
           "WORK_DIR"]

log = logging.getLogger(__name__)

#: Completion marker inside a finished site folder.
MARKER = "done.json"
#: Folder (inside the output folder) where sites are built before they are moved into place.
WORK_DIR = ".work"


@dataclass
class SiteOutcome:
    """What happened to one site (JSON-ready with :meth:`to_dict`)."""

    id: str
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    message: str = ""
    epochs: int = 0
    epochs_used: int = 0
    dates: list[str] = field(default_factory=list)
    regions: int = 0
    changed_area_m2: float = 0.0
    method: str = ""
    events: int | None = None
    notes: list[str] = field(default_factory=list)
    worker: str = ""
    folder: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SiteOutcome:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((folder / MARKER).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def is_site_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is a site's folder written by ``sitewatch watch`` (its marker)."""
    path = Path(folder)
    if path.is_symlink() or not path.is_dir():
        return False
    marker = _read_marker(path)
    return marker is not None and {"id", "fingerprint", "sitewatch_version"} <= set(marker)


def site_status(spec: WatchSite, out_root: str | os.PathLike[str]) -> SiteOutcome | None:
    """The outcome recorded by an earlier run, if the site is done with the same settings."""
    marker = _read_marker(Path(out_root) / spec.id)
    if marker is None or marker.get("fingerprint") != spec.fingerprint():
        return None
    outcome = SiteOutcome.from_dict(marker.get("outcome", {}))
    outcome.status = "skipped"
    outcome.message = f"done on {marker.get('finished', '?')}; --force redoes it"
    return outcome


def _process(spec: WatchSite, work: Path) -> dict[str, Any]:
    """Fetch the epochs; change between the first and last clear ones; the timeline."""
    source = get_source(spec.source, **spec.source_options)
    method = spec.method or None  # None: the default, or its fallback for the bands loaded
    bands = spec.bands or get_detector(method or DEFAULT_DETECTOR).bands or S2_LAND_BANDS
    grid = spec.site.grid() if spec.grid == "site" else source.native_grid(spec.site)
    epochs = build_epochs(source, spec.site, spec.start, spec.end, spec.every, grid=grid,
                          bands=bands)
    used = [e for e in epochs if not e.is_gap]
    min_area = DEFAULT_MIN_AREA_M2 if spec.min_area_m2 is None else spec.min_area_m2
    result = detect_change_epochs(epochs, method=method, min_area_m2=min_area, site=spec.site)
    command = ["sitewatch", "watch", f"(site {spec.id})"]
    write_change_outputs(result, work / "change", figure=bool(spec.formats),
                         formats=spec.formats or ("png",),
                         title=f"{spec.site.name}: change {used[0].label} to {used[-1].label}",
                         command=command)
    facts: dict[str, Any] = {
        "epochs": len(epochs), "epochs_used": len(used),
        "dates": [",".join(result.before.dates), ",".join(result.after.dates)],
        "regions": len(result.regions), "changed_area_m2": round(result.changed_area_m2, 1),
        "method": result.change.method, "notes": []}
    if len(used) < 3:
        facts["notes"].append(f"no timeline: {len(used)} clear epochs, a timeline needs 3 "
                              "(a shorter cadence may give more)")
        return facts
    from sitewatch.pipeline.timeline import run_timeline
    from sitewatch.pipeline.timeline_outputs import write_timeline_outputs

    try:
        tl = run_timeline(epochs, site=spec.site, min_area_m2=min_area)
    except SitewatchError as err:  # the two-date change stands; say why no timeline
        facts["notes"].append(f"no timeline: {err}")
        return facts
    write_timeline_outputs(tl, work / "timeline", figure=bool(spec.formats), command=command)
    facts["events"] = len(tl.events)
    facts["notes"] += [f"timeline: {n}" for n in tl.notes]
    return facts


def _move_into_place(work: Path, final: Path, trash_root: Path) -> None:
    trash = None
    if (final.exists() or final.is_symlink()) and not is_site_folder(final):
        raise OutputFolderError(f"{final} exists and is not a site folder sitewatch wrote: "
                                "sitewatch never replaces your files; move it away or use "
                                "another --out")
    if final.exists():
        trash = trash_root / f"{final.name}.old.{uuid.uuid4().hex[:8]}"
        os.replace(final, trash)
    os.replace(work, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def run_watch_site(spec: WatchSite, out_root: str | os.PathLike[str], *,
                   force: bool = False) -> SiteOutcome:
    """Run one site into ``out_root/<id>/``; never raises for a site's own failure.

    Parameters
    ----------
    spec : WatchSite
    out_root : path-like
        The watchlist's output folder (shared by all workers).
    force : bool
        Redo the site even if an earlier run finished it with the same settings.

    Returns
    -------
    SiteOutcome
        ``skipped`` (already done), ``done`` or ``failed`` (with the error message).
    """
    root = Path(out_root)
    if not force:
        earlier = site_status(spec, root)
        if earlier is not None:
            return earlier
    worker = f"{socket.gethostname()}:{os.getpid()}"
    t0 = time.perf_counter()
    work_root = root / WORK_DIR
    work = work_root / f"{spec.id}.{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        facts = _process(spec, work)
        outcome = SiteOutcome(spec.id, "done", seconds=round(time.perf_counter() - t0, 2),
                              worker=worker, folder=str(root / spec.id), **facts)
        marker = {"id": spec.id, "fingerprint": spec.fingerprint(), "settings": spec.settings(),
                  "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                  "sitewatch_version": __version__, "outcome": outcome.to_dict()}
        atomic_write_text(json.dumps(marker, indent=2, default=str) + "\n", work / MARKER)
        _move_into_place(work, root / spec.id, work_root)
        log.info("site %s done in %.1f s", spec.id, outcome.seconds)
        return outcome
    except SitewatchError as err:
        msg = str(err)
        log.warning("site %s failed: %s", spec.id, msg)
    except Exception as err:  # a bug or a library failure: reported, never fatal to the run
        msg = f"internal error: {type(err).__name__}: {err}"
        log.error("site %s failed:\n%s", spec.id, traceback.format_exc())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SiteOutcome(spec.id, "failed", seconds=round(time.perf_counter() - t0, 2),
                       message=msg, worker=worker)
