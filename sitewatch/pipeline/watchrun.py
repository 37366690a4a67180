"""Run a watchlist's sites in parallel on dask.distributed, resumably.

By default a :class:`distributed.LocalCluster` of worker *processes* (one thread
each) is started on this machine; ``scheduler="tcp://HOST:PORT"`` uses an existing
cluster instead (its workers need sitewatch installed and the output folder at the
same path, e.g. on a shared disk). ``workers=0`` runs the sites one after another
in this process, without dask (for debugging).

Sites finished by an earlier run with the same settings are skipped before any
worker starts (:func:`~sitewatch.pipeline.sitejob.site_status`); one site's failure,
even a crashed worker, is recorded and the others go on. The report is written to
``watch_summary.json`` and ``watch_summary.csv`` in the output folder.

Examples
--------
>>> import tempfile
>>> from sitewatch.pipeline.watchlist import parse_watchlist
>>> wl = parse_watchlist({"defaults": {"source": "sample", "from": "2015-01-01",
...                                    "to": "2018-12-31", "every": "year", "formats": []},
...                       "sites": [{"id": "park", "bbox": [-122.0135, 37.325, -122.0025, 37.336]},
...                                 {"id": "bad", "bbox": [10.0, 50.0, 10.01, 50.01]}]})
>>> report = run_watchlist(wl, tempfile.mkdtemp(), workers=0)
>>> [(o.id, o.status) for o in report.outcomes]
[('park', 'done'), ('bad', 'failed')]
>>> report.counts()
{'done': 1, 'skipped': 0, 'failed': 1}
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitewatch.atomic import atomic_write_text
from sitewatch.errors import ConfigError, OutputFolderError
from sitewatch.outdir import fresh_folder
from sitewatch.pipeline.sitejob import (
    WORK_DIR,
    SiteOutcome,
    is_site_folder,
    run_watch_site,
    site_status,
)
from sitewatch.pipeline.watchlist import Watchlist, WatchSite

__all__ = ["WatchReport", "run_watchlist", "DEFAULT_WORKERS", "LOCK_FILE"]

log = logging.getLogger(__name__)

#: Worker processes of the default LocalCluster.
DEFAULT_WORKERS = 2
#: Lock file that keeps two runs out of one output folder.
LOCK_FILE = ".watch.lock"

OutcomeCallback = Callable[[SiteOutcome], None]


@dataclass
class WatchReport:
    """Outcomes of every site of a run, in watchlist order, and the run's facts."""

    outcomes: list[SiteOutcome]
    seconds: float
    workers: int
    scheduler: str
    started: str
    out_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "skipped": 0, "failed": 0}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out

    @property
    def failed(self) -> list[SiteOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def table(self) -> str:
        """A plain-text table, one row per site."""
        head = ("site", "status", "epochs", "dates", "regions", "changed m²", "events", "time s",
                "note")
        rows = [head]
        for o in self.outcomes:
            ran = bool(o.epochs)
            note = o.message if o.status == "failed" else "; ".join(o.notes)
            rows.append((o.id, o.status, f"{o.epochs_used}/{o.epochs}" if ran else "-",
                         " to ".join(o.dates) or "-", str(o.regions) if ran else "-",
                         f"{o.changed_area_m2:,.0f}" if ran else "-",
                         str(o.events) if o.events is not None else "-",
                         f"{o.seconds:.1f}" if o.status != "skipped" else "-", note))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) +
                 (f"  {r[-1]}" if r[-1] else "") for r in rows]
        return "\n".join(line.rstrip() for line in lines)

    def to_dict(self) -> dict[str, Any]:
        return {"started": self.started, "seconds": round(self.seconds, 2),
                "workers": self.workers, "scheduler": self.scheduler,
                "counts": self.counts(), "sites": [o.to_dict() for o in self.outcomes],
                **self.extra}

    def write(self) -> tuple[Path, Path]:
        """Write ``watch_summary.json`` and ``.csv`` into the output folder (atomically)."""
        js = self.out_dir / "watch_summary.json"
        atomic_write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", js)
        buf = io.StringIO()
        cols = list(SiteOutcome.__dataclass_fields__)
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        for o in self.outcomes:
            d = o.to_dict()
            d["dates"] = " ".join(o.dates)
            d["notes"] = "; ".join(o.notes)
            w.writerow(d)
        cs = self.out_dir / "watch_summary.csv"
        atomic_write_text(buf.getvalue(), cs)
        return js, cs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _run_lock(out: Path) -> Iterator[None]:
    """Keep a second run out of ``out``; a lock left by a killed run is taken over."""
    lock = out / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                held = json.loads(lock.read_text())
            except (OSError, ValueError):
                held = {}
            pid = int(held.get("pid", -1))
            if held.get("host") == me["host"] and pid > 0 and not _pid_alive(pid):
                log.info("taking over the lock of a run that ended without cleanup (pid %d)", pid)
                lock.unlink(missing_ok=True)
                continue
            raise ConfigError(f"{out} is in use by another watch run ({held or 'unknown'}): "
                              f"wait for it, or delete {lock} if that run is gone") from None
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


#: Names of a site's work folder (``<id>.<hex>``) and of a replaced one on its way out.
_WORK_ENTRY = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:\.old)?\.[0-9a-f]{8}$")


def _is_ours(entry: Path) -> bool:
    """Whether an entry of a watch output folder was written by ``sitewatch watch``."""
    name = entry.name
    if name == LOCK_FILE:
        return True
    if name == WORK_DIR:
        return entry.is_dir() and not entry.is_symlink() and \
            all(_WORK_ENTRY.match(p.name) for p in entry.iterdir())
    if name in ("watch_summary.json", "watch_summary.csv"):
        try:
            head = entry.read_text(encoding="utf-8")[:4096]
        except (OSError, UnicodeDecodeError):
            return False
        return ('"counts"' in head and '"sites"' in head) if name.endswith(".json") \
            else head.startswith("id,status")
    return is_site_folder(entry)


def _check_folder(out: Path) -> None:
    """Refuse an output folder holding anything ``sitewatch watch`` did not write."""
    foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir()
                     if not _is_ours(p))
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise OutputFolderError(
            f"{out} holds files sitewatch did not write ({', '.join(foreign[:3])}{more}): "
            "`sitewatch watch` keeps one folder per site there and never touches your files; "
            f"choose a fresh folder, e.g. --out {fresh_folder(out / 'sitewatch-watch', 'watch')}")


def _run_serial(todo: list[WatchSite], out: Path, force: bool,
                done: OutcomeCallback) -> None:
    for spec in todo:
        done(run_watch_site(spec, out, force=force))


def _run_dask(todo: list[WatchSite], out: Path, force: bool, done: OutcomeCallback, *,
              scheduler: str | None, workers: int) -> str:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as err:
        raise ConfigError("parallel watchlists need dask.distributed: pip install "
                          "'sitewatch[dask]' (or run with --workers 0)") from err
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"cannot reach the dask scheduler at {scheduler} ({err}): check "
                              "the address, or leave out --scheduler for a local cluster") from err
        where = scheduler
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        where = f"LocalCluster({workers} processes)"
    log.info("running %d sites on %s", len(todo), where)
    try:
        futures = {client.submit(run_watch_site, spec, str(out), force=force, pure=False,
                                 key=f"sitewatch-site-{spec.id}-{os.urandom(4).hex()}"): spec
                   for spec in todo}
        for fut in as_completed(futures):
            spec = futures[fut]
            try:
                outcome = fut.result()
            except Exception as err:  # the worker died (KilledWorker) or the task was lost
                outcome = SiteOutcome(spec.id, "failed",
                                      message=f"worker lost: {type(err).__name__}: {err}")
            done(outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return where


def run_watchlist(watchlist: Watchlist, out_dir: str | os.PathLike[str], *,
                  scheduler: str | None = None, workers: int = DEFAULT_WORKERS,
                  force: bool = False, on_outcome: OutcomeCallback | None = None
                  ) -> WatchReport:
    """Run every site of ``watchlist`` into ``out_dir/<site id>/``.

    Parameters
    ----------
    watchlist : Watchlist
    out_dir : path-like
        Created if missing; holds one folder per site and the run summary.
    scheduler : str, optional
        Address of an existing dask scheduler (``tcp://HOST:PORT``).
    workers : int
        Worker processes of the local cluster; 0 runs in this process without dask.
    force : bool
        Redo sites an earlier run finished.
    on_outcome : callable, optional
        Called with each :class:`SiteOutcome` as it arrives (progress display).

    Returns
    -------
    WatchReport
        Also written to ``watch_summary.json`` / ``.csv``.
    """
    if workers < 0:
        raise ConfigError(f"--workers {workers}: give 1 or more (0 runs without dask)")
    out = Path(out_dir).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFolderError(f"cannot create {out} ({err.strerror or err}): choose a "
                                "folder you can write") from err
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    results: dict[str, SiteOutcome] = {}

    def done(o: SiteOutcome) -> None:
        results[o.id] = o
        if on_outcome is not None:
            on_outcome(o)

    with _run_lock(out):
        _check_folder(out)
        stale = out / WORK_DIR
        if stale.is_dir():  # half-built sites of a run that was killed: never published
            log.info("removing the unfinished work of an earlier run in %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        todo = []
        for spec in watchlist.sites:
            earlier = None if force else site_status(spec, out)
            if earlier is not None:
                done(earlier)
            else:
                todo.append(spec)
        where = "none (every site already done)"
        if todo and (workers == 0 and not scheduler):
            _run_serial(todo, out, force, done)
            where = "this process (--workers 0)"
        elif todo:
            where = _run_dask(todo, out, force, done, scheduler=scheduler,
                              workers=workers)
        report = WatchReport([results[s.id] for s in watchlist.sites],
                             time.perf_counter() - t0, 0 if scheduler else workers, where,
                             started, out,
                             {"watchlist": str(watchlist.path) if watchlist.path else None})
        report.write()
        try:
            (out / WORK_DIR).rmdir()  # only when empty: a live run elsewhere may use it
        except OSError:
            pass
    return report
