"""The on-disk cache of fetched windows and searches.

Every window a source loads is stored as a COG plus a JSON sidecar, keyed by
source, collection, scene id, grid and bands (and the radiometry convention),
so a second identical run reads the disk and makes no network request. A small
index per scene and grid (``<key>.bands``) lists the band sets stored, so a run
that needs fewer bands than an earlier fetch (a detector's bands, say) reads them
from the larger window instead of fetching again.
Searches are cached too: for good when the date range ended more than 30 days
ago, for 6 hours otherwise (new scenes keep arriving); an index per site
(``<key>.ranges``) lists the stored date ranges, so a narrower search is cut from
a wider one.

Safety:

* writes are atomic (temporary file + rename): the COG first, the sidecar last,
  and the sidecar holds the COG's SHA-256, so a crash or a truncated file is a
  miss (refetched), never partial data;
* a lock file per key (``fcntl.flock``) makes a second process that wants the
  same window wait for the first and then read its result, so two processes
  fetching the same site at once both succeed and download each window once;
* nothing secret is stored: keys and sidecars hold scene ids, grids, band
  names and public endpoint URLs (query strings, where signatures live, removed).

The cache lives in ``$SITEWATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/sitewatch``,
else ``~/.cache/sitewatch``.

Examples
--------
>>> import tempfile, numpy as np
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> c = TileCache(tempfile.mkdtemp())
>>> r = Raster(np.ones((1, 4, 4), "float32"), Affine(10, 0, 0, 0, -10, 0), "EPSG:32651",
...            band_names=("B04",), dates=("2020-05-01",))
>>> key = cache_key({"source": "demo", "scene": "S2A_X", "bands": ["B04"]})
>>> c.get_raster("demo", key) is None
True
>>> c.put_raster("demo", key, r, {"scene": "S2A_X"})
>>> c.get_raster("demo", key).band_names
('B04',)
>>> c.info().windows
1
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitewatch._version import __version__
from sitewatch.atomic import atomic_write_text
from sitewatch.errors import CacheError, CorruptFileError, DataError
from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.raster import Raster

__all__ = ["TileCache", "CacheInfo", "cache_key", "default_cache_dir", "CACHE_VERSION"]

log = logging.getLogger(__name__)

#: Bumped when the meaning of cached pixels changes (radiometry, layout).
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$SITEWATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/sitewatch``, else ``~/.cache/sitewatch``."""
    env = os.environ.get("SITEWATCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sitewatch"


def cache_key(parts: dict[str, Any]) -> str:
    """A stable hex key for a JSON-able description.

    Examples
    --------
    >>> cache_key({"a": 1, "b": [2]}) == cache_key({"b": [2], "a": 1})
    True
    """
    text = json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "unknown"


@dataclass
class CacheInfo:
    """What the cache holds."""

    root: Path
    windows: int = 0
    searches: int = 0
    bytes: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    oldest: str | None = None
    newest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "windows": self.windows, "searches": self.searches,
                "bytes": self.bytes, "by_source": self.by_source, "oldest": self.oldest,
                "newest": self.newest}


class TileCache:
    """Windows (COG + sidecar) and search results on disk; see the module docstring.

    Parameters
    ----------
    root : path-like, optional
        Default :func:`default_cache_dir`.
    lock_timeout : float
        Seconds to wait for another process working on the same key.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 lock_timeout: float = 900.0) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.lock_timeout = lock_timeout
        self.base = self.root / f"v{CACHE_VERSION}"

    def __repr__(self) -> str:
        return f"TileCache({str(self.root)!r})"

    # -- paths ------------------------------------------------------------------
    def _window_paths(self, source: str, key: str) -> tuple[Path, Path]:
        d = self.base / "windows" / _safe(source) / key[:2]
        return d / f"{key}.tif", d / f"{key}.json"

    def _search_path(self, source: str, key: str, suffix: str = ".json") -> Path:
        return self.base / "searches" / _safe(source) / f"{key}{suffix}"

    def _mkdir(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CacheError(f"cannot create the cache folder {path} ({err.strerror}): set "
                             "SITEWATCH_CACHE_DIR to a writable folder or pass --no-cache") from err

    # -- locking ----------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive lock on ``key`` across processes (waits up to ``lock_timeout``)."""
        d = self.base / "locks"
        self._mkdir(d)
        path = d / f"{key}.lock"
        fh = open(path, "a+")  # noqa: SIM115 - held for the whole block
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise CacheError(
                            f"waited {self.lock_timeout:.0f} s for another sitewatch process "
                            f"fetching the same window (lock {path}); if none is running, "
                            "delete the lock file") from None
                    time.sleep(0.05)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    # -- windows ------------------------------------------------------------------
    def get_raster(self, source: str, key: str) -> Raster | None:
        """The cached window, or None (missing, incomplete or damaged entries are misses)."""
        tif, meta = self._window_paths(source, key)
        if not meta.is_file():
            return None
        try:
            side = json.loads(meta.read_text())
            if not tif.is_file() or side.get("sha256") != _sha256(tif):
                raise CorruptFileError("checksum mismatch")
            return read_raster(tif)
        except (OSError, ValueError, DataError) as err:
            log.warning("cache entry %s is damaged (%s): fetching it again", tif.name, err)
            for p in (meta, tif):
                with contextlib.suppress(OSError):
                    p.unlink()
            return None

    def put_raster(self, source: str, key: str, raster: Raster, meta: dict[str, Any]) -> None:
        """Store a window atomically (COG, then the sidecar with its checksum)."""
        tif, side = self._window_paths(source, key)
        self._mkdir(tif.parent)
        try:
            write_cog(raster, tif, overviews=False)
            record = {"key": key, "source": source, "sha256": _sha256(tif),
                      "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                      "sitewatch": __version__, **meta}
            atomic_write_text(json.dumps(record, indent=1, default=str), side)
        except OSError as err:
            raise CacheError(f"cannot write to the cache at {self.root} ({err}): free disk "
                             "space, set SITEWATCH_CACHE_DIR elsewhere, or pass --no-cache"
                             ) from err

    # -- band sets of a scene and grid --------------------------------------------
    def _bands_path(self, source: str, family: str) -> Path:
        return self.base / "windows" / _safe(source) / family[:2] / f"{family}.bands"

    def _band_sets(self, source: str, family: str) -> list[dict[str, Any]]:
        path = self._bands_path(source, family)
        try:
            entries = json.loads(path.read_text()) if path.is_file() else []
        except (OSError, ValueError):
            return []
        return [e for e in entries if isinstance(e, dict) and "key" in e and "bands" in e]

    def get_bands(self, source: str, family: str, bands: Sequence[str]) -> Raster | None:
        """A stored window of the same scene and grid (``family``) holding every band asked
        for, cut to those bands; None when there is none."""
        want = set(bands)
        for entry in sorted(self._band_sets(source, family), key=lambda e: len(e["bands"])):
            if want <= set(entry["bands"]):
                hit = self.get_raster(source, entry["key"])
                if hit is not None and want <= set(hit.band_names):
                    return hit.select(bands)
        return None

    def add_bands(self, source: str, family: str, bands: Sequence[str], key: str) -> None:
        """Record that window ``key`` of scene and grid ``family`` holds ``bands``."""
        path = self._bands_path(source, family)
        self._mkdir(path.parent)
        with self.lock(f"bands-{family}"):
            entries = [e for e in self._band_sets(source, family) if e["key"] != key]
            entries.append({"bands": list(bands), "key": key})
            try:
                atomic_write_text(json.dumps(entries), path)
            except OSError as err:
                raise CacheError(f"cannot write to the cache at {self.root} ({err})") from err

    # -- searches -----------------------------------------------------------------
    def get_json(self, source: str, key: str, *, suffix: str = ".json") -> Any | None:
        """A stored search (or, with another ``suffix``, an index of searches), or None."""
        path = self._search_path(source, key, suffix)
        if not path.is_file():
            return None
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        exp = rec.get("expires")
        if exp is not None and time.time() > float(exp):
            return None
        return rec.get("value")

    def put_json(self, source: str, key: str, value: Any, *, ttl_s: float | None = None,
                 meta: dict[str, Any] | None = None, suffix: str = ".json") -> None:
        path = self._search_path(source, key, suffix)
        self._mkdir(path.parent)
        rec = {"key": key, "source": source, "expires": None if ttl_s is None
               else time.time() + ttl_s,
               "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
               **(meta or {}), "value": value}
        try:
            atomic_write_text(json.dumps(rec, default=str), path)
        except OSError as err:
            raise CacheError(f"cannot write to the cache at {self.root} ({err})") from err

    # -- housekeeping -------------------------------------------------------------
    def info(self) -> CacheInfo:
        """Counts and sizes per source."""
        out = CacheInfo(self.root)
        if not self.base.is_dir():
            return out
        stamps: list[float] = []
        for kind in ("windows", "searches"):
            d = self.base / kind
            if not d.is_dir():
                continue
            for src_dir in sorted(p for p in d.iterdir() if p.is_dir()):
                entry = out.by_source.setdefault(src_dir.name,
                                                 {"windows": 0, "searches": 0, "bytes": 0})
                for p in src_dir.rglob("*"):
                    if not p.is_file() or p.name.startswith("."):
                        continue
                    st = p.stat()
                    entry["bytes"] += st.st_size
                    out.bytes += st.st_size
                    if p.suffix == ".json":
                        entry[kind] += 1
                        stamps.append(st.st_mtime)
        out.windows = sum(v["windows"] for v in out.by_source.values())
        out.searches = sum(v["searches"] for v in out.by_source.values())
        if stamps:
            fmt = "%Y-%m-%dT%H:%M:%S"
            out.oldest = time.strftime(fmt, time.localtime(min(stamps)))
            out.newest = time.strftime(fmt, time.localtime(max(stamps)))
        return out

    def clear(self, *, source: str | None = None, older_than_days: float | None = None
              ) -> tuple[int, int]:
        """Delete entries (all, one source's, or older ones): returns (files, bytes) removed."""
        if not self.base.is_dir():
            return (0, 0)
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        files = size = 0
        for kind in ("windows", "searches"):
            d = self.base / kind
            if not d.is_dir():
                continue
            targets = [d / _safe(source)] if source else [p for p in d.iterdir() if p.is_dir()]
            for t in targets:
                if not t.is_dir():
                    continue
                if cutoff is None:
                    for p in t.rglob("*"):
                        if p.is_file():
                            files += 1
                            size += p.stat().st_size
                    shutil.rmtree(t, ignore_errors=True)
                    continue
                for p in list(t.rglob("*")):
                    if p.is_file() and p.stat().st_mtime < cutoff:
                        files += 1
                        size += p.stat().st_size
                        p.unlink(missing_ok=True)
        return files, size
