"""The fetch run: a site, dates and a cadence in; epoch composites and their manifest out.

:func:`run_fetch` composes the imagery layer: the source (behind the on-disk
cache unless disabled), cloud screening, epoch composites, co-registration,
and :func:`~sitewatch.imagery.epochs.save_epochs` into the output folder.
``sitewatch fetch`` is a thin wrapper over it.

Examples
--------
>>> import tempfile
>>> from sitewatch.imagery.sources import get_source
>>> site = get_source("sample").site()
>>> res = run_fetch(site, "2015-01-01", "2018-12-31", "year", source="sample", bands=["B04"],
...                 cache=None, out=tempfile.mkdtemp())
>>> [e.label for e in res.epochs if not e.is_gap], res.manifest.name
(['2015', '2018'], 'epochs.json')
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.bands import S1_BANDS, S2_LAND_BANDS
from sitewatch.imagery.cache import TileCache
from sitewatch.imagery.epochs import Epoch, ProgressFn, build_epochs, save_epochs
from sitewatch.imagery.sources import get_source
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.imagery.sources.cached import CachedSource

__all__ = ["FetchResult", "run_fetch", "default_bands", "default_cache", "default_period"]

log = logging.getLogger(__name__)


@dataclass
class FetchResult:
    """What a fetch produced."""

    site: Site
    source: str
    epochs: list[Epoch]
    grid: Grid
    manifest: Path | None = None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def used(self) -> list[Epoch]:
        return [e for e in self.epochs if not e.is_gap]


def default_bands(source: ImagerySource) -> tuple[str, ...]:
    """Bands fetched when the user names none: the source's own default (a local folder:
    the bands its files hold), VV/VH for Sentinel-1, the 10 land bands else."""
    own = getattr(source, "default_bands", None)
    if own:
        return tuple(own)
    return S1_BANDS if getattr(source, "product", "") == "s1-grd" else S2_LAND_BANDS


def default_period(site: Site, start: str | None = None, end: str | None = None,
                   today: _dt.date | None = None) -> tuple[str, str]:
    """The dates a run covers when the user gives none: the site's own period
    (``default_start``/``default_end`` in the catalogue), else the last five years.

    Every command uses it, so a fetch and a later report of the same site without
    dates cover the same period (and the report reads the fetch from the cache).

    Examples
    --------
    >>> from sitewatch.aoi import get_site
    >>> default_period(get_site("cupertino-apple-park"))
    ('2015-09-01', '2018-03-31')
    >>> default_period(get_site("cupertino-apple-park"), end="2017-12-31")
    ('2015-09-01', '2017-12-31')
    """
    today = today or _dt.date.today()
    start = start or site.properties.get("default_start") or f"{today.year - 5}-01-01"
    end = end or site.properties.get("default_end") or today.isoformat()
    return str(start), str(end)


def default_cache(source: str | ImagerySource, *, enabled: bool = True,
                  root: str | os.PathLike[str] | None = None) -> TileCache | None:
    """The cache a run of ``source`` reads and writes: one for every command.

    The shared on-disk :class:`~sitewatch.imagery.cache.TileCache` (``root``, else
    ``$SITEWATCH_CACHE_DIR`` or ``~/.cache/sitewatch``) for sources that download;
    None for the offline ones (``sample``, ``local``: their files are on disk
    already) or when ``enabled`` is false (``--no-cache``).

    Examples
    --------
    >>> default_cache("sample") is None, default_cache("earth-search", enabled=False) is None
    (True, True)
    >>> type(default_cache("earth-search", root="/tmp/c")).__name__
    'TileCache'
    """
    from sitewatch.imagery.sources import source_class

    network = source.needs_network if isinstance(source, ImagerySource) else \
        source_class(source).needs_network
    return TileCache(root) if enabled and network else None


def run_fetch(site: Site, start: str, end: str, every: str | Sequence[tuple[str, str]], *,
              source: str | ImagerySource = "earth-search",
              source_options: dict[str, Any] | None = None,
              bands: Sequence[str] | None = None, grid: Grid | None = None,
              composite: str = "median", min_clear: float = 0.1, max_scenes: int | None = 8,
              max_cloud: float | None = None, coregister: bool = True,
              max_shift_px: float = 3.0, on_excess: str = "flag", on_error: str = "raise",
              cache: TileCache | None = None, out: str | os.PathLike[str] | None = None,
              progress: ProgressFn | None = None, command: Sequence[str] | None = None
              ) -> FetchResult:
    """Fetch epoch composites of a site and (optionally) write them to ``out``.

    Parameters
    ----------
    site : Site
    start, end : str
        ISO dates.
    every : cadence or explicit windows (see :func:`~sitewatch.imagery.epochs.epoch_windows`).
    source : str or ImagerySource
        Registry name (``earth-search``, ``planetary-computer``, ``cdse``, ``sentinelhub``,
        ``sample``, ``local``) or an instance.
    source_options : dict
        Passed to the source (``url``, ``token_url``, ``profile``, ``product``...).
    bands : sequence of str, optional
        Default: :func:`default_bands`.
    grid : Grid, optional
        Default: the source's grid for the site (the site's UTM grid for remote sources).
    composite, min_clear, max_scenes, on_error
        See :func:`~sitewatch.imagery.epochs.build_epochs`.
    max_cloud : float, optional
        Skip scenes whose scene-wide cloud cover (percent) is above this at search time.
    coregister, max_shift_px, on_excess
        Co-registration of the epochs (see :mod:`sitewatch.imagery.coregister`).
    cache : TileCache, optional
        None = no cache.
    out : path-like, optional
        Folder for the composites and ``epochs.json``.
    progress : callable, optional
        ``progress(stage, done, total)``.
    command : sequence of str, optional
        Recorded in the manifest.
    """
    src = get_source(source, **(source_options or {})) if isinstance(source, str) else source
    name = src.name
    if cache is not None:
        src = CachedSource(src, cache)
    use_bands = tuple(bands) if bands else default_bands(src if cache is None
                                                         else src.inner)  # type: ignore[attr-defined]
    grid = grid or src.native_grid(site)
    search_options: dict[str, Any] = {}
    if max_cloud is not None:
        search_options["max_cloud"] = max_cloud
    epochs = build_epochs(src, site, start, end, every, grid=grid, bands=use_bands,
                          composite=composite, min_clear=min_clear, max_scenes=max_scenes,
                          coregister={"max_shift_px": max_shift_px, "on_excess": on_excess}
                          if coregister else False,
                          on_error=on_error, progress=progress, **search_options)
    stats = dict(getattr(src, "stats", {}))
    manifest = None
    if out is not None:
        request = {"site": site.id, "start": start, "end": end,
                   "every": every if isinstance(every, str) else [list(w) for w in every],
                   "source": name, "bands": list(use_bands), "composite": composite,
                   "min_clear": min_clear, "max_scenes": max_scenes, "max_cloud": max_cloud,
                   "coregister": coregister, "max_shift_px": max_shift_px,
                   "grid": grid.to_dict()}
        manifest = save_epochs(epochs, out, site=site, source=name,
                               extra={"request": request, "command": list(command or []),
                                      "cache": stats})
    log.info("fetched %d epochs (%d with data) of %s from %s", len(epochs),
             sum(not e.is_gap for e in epochs), site.id, name)
    return FetchResult(site, name, epochs, grid, manifest, stats)
