"""A source wrapped with the on-disk cache: searches and windows are read from disk when present.

Wrapping keeps every source simple (no cache code in them) and makes the
promise easy to check: a second identical run calls the wrapped source's
``search`` and ``load`` zero times, so it makes zero network requests as long
as sources open their connections lazily (all of sitewatch's do). Runs that ask
for less than an earlier one reuse it too: a search over a range inside a stored
search's range is cut from it, and a window with fewer bands is cut from a stored
window of the same scene and grid. So after ``sitewatch fetch``, the figure,
report, animation, detection and timeline of the same site and period make no
request.

Examples
--------
>>> import tempfile
>>> from sitewatch.imagery.cache import TileCache
>>> from sitewatch.imagery.sources import get_source
>>> src = CachedSource(get_source("sample"), TileCache(tempfile.mkdtemp()))
>>> site = src.inner.site()
>>> scenes = src.search(site, "2015-01-01", "2018-12-31")
>>> r = src.load(scenes[0], src.native_grid(site), ["B04"])
>>> src.stats
{'search_hits': 0, 'search_misses': 1, 'window_hits': 0, 'window_misses': 1}
>>> _ = src.load(scenes[0], src.native_grid(site), ["B04"])
>>> src.stats["window_hits"]
1
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.imagery.cache import TileCache, cache_key
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.raster import Raster, iso_date

__all__ = ["CachedSource", "SEARCH_TTL_RECENT_S"]

log = logging.getLogger(__name__)

#: Searches whose range ends within 30 days of today are kept 6 hours only.
SEARCH_TTL_RECENT_S = 6 * 3600.0
_RECENT_DAYS = 30
#: Suffix of the index of a site's stored searches (their date ranges).
_RANGES = ".ranges"


class CachedSource(ImagerySource):
    """Any :class:`ImagerySource` behind a :class:`~sitewatch.imagery.cache.TileCache`."""

    def __init__(self, inner: ImagerySource, cache: TileCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name  # type: ignore[misc]
        self.description = inner.description  # type: ignore[misc]
        self.needs_network = inner.needs_network  # type: ignore[misc]
        self.cloud_band = inner.cloud_band  # type: ignore[misc]
        self.stats = {"search_hits": 0, "search_misses": 0, "window_hits": 0,
                      "window_misses": 0}

    def cache_identity(self) -> dict[str, Any]:
        return self.inner.cache_identity()

    def search_identity(self) -> dict[str, Any]:
        return self.inner.search_identity()

    def native_grid(self, site: Site) -> Grid:
        return self.inner.native_grid(site)

    def search(self, site: Site, start: str, end: str, **options: Any) -> list[SceneRecord]:
        geom = hashlib.sha256(site.geometry.wkb).hexdigest()[:16]
        what = {**self.inner.search_identity(), "site": geom, "options": options}
        key = cache_key({"kind": "search", **what, "start": start, "end": end})
        family = cache_key({"kind": "search-ranges", **what})
        hit = self.cache.get_json(self.name, key)
        if hit is None:  # a stored search over a wider range, cut to this one
            hit = self._within(family, iso_date(start), iso_date(end))
        if hit is not None:
            self.stats["search_hits"] += 1
            log.debug("search %s %s..%s from cache", self.name, start, end)
            return [SceneRecord.from_dict(d) for d in hit]
        self.stats["search_misses"] += 1
        found = self.inner.search(site, start, end, **options)
        recent = (_dt.date.today() - _dt.date.fromisoformat(iso_date(end))).days < _RECENT_DAYS
        ttl = SEARCH_TTL_RECENT_S if recent else None
        self.cache.put_json(self.name, key, [s.to_dict() for s in found], ttl_s=ttl,
                            meta={"site": site.id, "start": start, "end": end})
        ranges = [r for r in (self.cache.get_json(self.name, family, suffix=_RANGES) or [])
                  if r.get("key") != key]
        self.cache.put_json(self.name, family, [*ranges, {"start": iso_date(start),
                                                          "end": iso_date(end), "key": key}],
                            meta={"site": site.id}, suffix=_RANGES)
        return found

    def _within(self, family: str, start: str, end: str) -> list[dict[str, Any]] | None:
        """Scenes of a stored search whose range holds ``start``..``end``, cut to it.

        The search APIs select by acquisition date, inclusive, so the scenes of a
        narrower range are those of the wider one dated inside it.
        """
        for r in self.cache.get_json(self.name, family, suffix=_RANGES) or []:
            if r.get("start", "9") <= start and end <= r.get("end", ""):
                found = self.cache.get_json(self.name, r["key"])  # None once expired
                if found is not None:
                    return [d for d in found
                            if start <= SceneRecord.from_dict(d).date <= end]
        return None

    def _family(self, scene: SceneRecord, grid: Grid) -> str:
        """Key of a scene on a grid, whatever the bands."""
        return cache_key({"kind": "window-bands", **self.inner.cache_identity(),
                          "collection": scene.collection, "scene": scene.id,
                          "grid": grid.key()})

    def _key(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> str:
        return cache_key({"kind": "window", **self.inner.cache_identity(),
                          "collection": scene.collection, "scene": scene.id,
                          "grid": grid.key(), "bands": list(bands)})

    def _cached(self, key: str, family: str, bands: Sequence[str]) -> Raster | None:
        """The window from disk: stored with these bands, or cut from one with more."""
        hit = self.cache.get_raster(self.name, key)
        if hit is None:
            hit = self.cache.get_bands(self.name, family, bands)
        if hit is not None:
            self.stats["window_hits"] += 1
        return hit

    def load(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> Raster:
        key, family = self._key(scene, grid, bands), self._family(scene, grid)
        hit = self._cached(key, family, bands)
        if hit is not None:
            return hit
        with self.cache.lock(key):
            hit = self._cached(key, family, bands)  # another process may have made it
            if hit is not None:
                return hit
            self.stats["window_misses"] += 1
            raster = self.inner.load(scene, grid, bands)
            self.cache.put_raster(self.name, key, raster,
                                  {"scene": scene.id, "collection": scene.collection,
                                   "date": scene.date, "grid": grid.to_dict(),
                                   "bands": list(bands)})
            self.cache.add_bands(self.name, family, bands, key)
            return raster
