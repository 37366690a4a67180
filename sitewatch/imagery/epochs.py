"""Epochs: a date range plus a cadence gives one composite per epoch.

An :class:`Epoch` holds the per-pixel composite of the clear observations in
its window, the per-pixel count of clear observations, and the scenes used.
A window with no usable scene is a gap (``raster is None``), never a guess.

With a source that has a scene classification layer (Sentinel-2 L2A), epochs
are built in two passes so that cloudy scenes cost almost nothing:

1. the SCL of every scene in the range is loaded over the site window (one
   small band) and screened (:mod:`sitewatch.imagery.cloud`): a clear mask and a
   clear fraction over the site per scene, bright roofs kept;
2. per epoch, scenes are ranked by clear fraction; those with at least
   ``min_clear`` (up to ``max_scenes``) are loaded in full and composited: the
   per-pixel median of clear observations (``composite="median"``, default) or
   the single clearest scene (``composite="best"``).

Epochs can then be co-registered (:mod:`sitewatch.imagery.coregister`), and
written to / read from a folder with :func:`save_epochs` / :func:`load_epochs`
(COG composites, clear counts, an ``epochs.json`` manifest with scene ids,
dates, baselines, offsets and flags), so other commands can use a fetch output.

Examples
--------
>>> [w.label for w in epoch_windows("2020-01-15", "2020-12-31", "quarter")]
['2020-Q1', '2020-Q2', '2020-Q3', '2020-Q4']
>>> epoch_windows("2020-01-15", "2020-03-31", "month")[0]
EpochWindow(label='2020-01', start='2020-01-15', end='2020-01-31')

Two epochs of the bundled sample, saved and read back:

>>> import tempfile
>>> from sitewatch.imagery.sources import get_source
>>> src = get_source("sample")
>>> eps = build_epochs(src, src.site(), "2015-01-01", "2018-12-31", "year", bands=["B04"])
>>> [(e.label, e.is_gap) for e in eps]
[('2015', False), ('2016', True), ('2017', True), ('2018', False)]
>>> folder = tempfile.mkdtemp()
>>> _ = save_epochs(eps, folder)
>>> back = load_epochs(folder)
>>> back[0].scene_ids == eps[0].scene_ids, back[1].is_gap
(True, True)
"""

from __future__ import annotations

import calendar
import datetime as _dt
import functools
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from rasterio.features import rasterize

from sitewatch._version import __version__
from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.atomic import atomic_write_text
from sitewatch.attribution import copernicus_attribution
from sitewatch.bands import S2_LAND_BANDS
from sitewatch.errors import (
    ConfigError,
    CorruptFileError,
    CredentialsError,
    DataError,
    FetchError,
    NoClearSceneError,
    NoSceneError,
    QuotaExceededError,
    RateLimitError,
)
from sitewatch.geometry import reproject_geometry
from sitewatch.imagery.cloud import CloudScreen, SceneScreen, rank_screens, screen_stack
from sitewatch.imagery.cloud_pixels import PixelScreen, screen_pixels, screening_bands
from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.raster import Provenance, Raster, iso_date

__all__ = ["EpochWindow", "Epoch", "epoch_windows", "build_epochs", "composite_median",
           "composite_best", "save_epochs", "load_epochs", "site_mask", "CADENCES",
           "COMPOSITES", "MANIFEST", "epochs_from_stack"]

log = logging.getLogger(__name__)

CADENCES = ("month", "quarter", "year")
COMPOSITES = ("median", "best")
#: File name of the manifest written by :func:`save_epochs`.
MANIFEST = "epochs.json"
_FORMAT = "sitewatch-epochs/1"


@dataclass(frozen=True)
class EpochWindow:
    """An inclusive date window with a label (``2020-Q2``, ``2020-05``, ``2020``)."""

    label: str
    start: str
    end: str

    def contains(self, date: str) -> bool:
        return self.start <= date <= self.end


@dataclass
class Epoch:
    """One epoch's composite.

    Attributes
    ----------
    window : EpochWindow
    raster : Raster or None
        Composite (float32 reflectance, NaN where no clear observation); None = gap.
    clear_count : (M, N) uint16 ndarray
        Clear observations behind each pixel.
    scenes : list of SceneRecord
        Scenes that contributed at least one clear pixel.
    flags : dict
        Quality notes (co-registration shift, gap reason, skipped scenes...).
    screens : list of dict
        Screening summary of every candidate scene of the window (clear fraction,
        rejection shares, rescued bright pixels, whether it was used).
    composite : str
        ``median`` or ``best``.
    """

    window: EpochWindow
    raster: Raster | None
    clear_count: np.ndarray
    scenes: list[SceneRecord] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)
    screens: list[dict[str, Any]] = field(default_factory=list)
    composite: str = "median"

    @property
    def label(self) -> str:
        return self.window.label

    @property
    def is_gap(self) -> bool:
        return self.raster is None

    @property
    def scene_ids(self) -> list[str]:
        return [s.id for s in self.scenes]

    @property
    def clear_fraction(self) -> float:
        """Share of the grid's pixels with at least one clear observation."""
        return float((self.clear_count > 0).mean()) if self.clear_count.size else 0.0


def _month_end(y: int, m: int) -> _dt.date:
    return _dt.date(y, m, calendar.monthrange(y, m)[1])


def epoch_windows(start: str, end: str, every: str | Sequence[tuple[str, str]]
                  ) -> list[EpochWindow]:
    """Calendar-aligned windows covering ``start``..``end`` (clipped to them).

    Parameters
    ----------
    start, end : str
        ISO dates, inclusive.
    every : {"month", "quarter", "year"} or sequence of (start, end)
        Cadence, or explicit windows (labelled by their dates).
    """
    s, e = _dt.date.fromisoformat(iso_date(start)), _dt.date.fromisoformat(iso_date(end))
    if s > e:
        raise ConfigError(f"start {s} is after end {e}: swap --from and --to")
    if not isinstance(every, str):
        wins = [EpochWindow(f"{iso_date(a)}/{iso_date(b)}", iso_date(a), iso_date(b))
                for a, b in every]
        if not wins:
            raise ConfigError("no explicit epoch windows given")
        return wins
    if every not in CADENCES:
        raise ConfigError(f"unknown cadence {every!r}: use month, quarter, year or explicit "
                          "windows")
    step = {"month": 1, "quarter": 3, "year": 12}[every]
    y, m = s.year, (((s.month - 1) // step) * step + 1 if step < 12 else 1)
    out = []
    while _dt.date(y, m, 1) <= e:
        m_end = m + step - 1
        y_end = y + (m_end - 1) // 12
        m_end = (m_end - 1) % 12 + 1
        w0, w1 = max(_dt.date(y, m, 1), s), min(_month_end(y_end, m_end), e)
        label = {"month": f"{y}-{m:02d}", "quarter": f"{y}-Q{(m - 1) // 3 + 1}",
                 "year": f"{y}"}[every]
        out.append(EpochWindow(label, w0.isoformat(), w1.isoformat()))
        m += step
        if m > 12:
            y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    return out


def composite_median(rasters: Sequence[Raster], clear: Sequence[np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median of the clear observations: ((B, M, N) float32, (M, N) uint16 count).

    An observation is clear where its mask says so and every band is finite.
    One scene is taken as it is (no median to compute); several are sorted
    once along time (NaN last) and the middle of each pixel's clear values
    read off, so the cost is one sort of a few values per pixel and band
    rather than a masked median.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> r = [Raster(np.full((1, 1, 2), v, "float32"), Affine.identity(), "EPSG:32651")
    ...      for v in (1.0, 2.0, 9.0)]
    >>> clear = [np.array([[True, True]]), np.array([[True, False]]), np.array([[True, False]])]
    >>> comp, n = composite_median(r, clear)
    >>> comp[0].tolist(), n.tolist()
    ([[2.0, 1.0]], [[3, 1]])
    """
    if len(rasters) != len(clear) or not rasters:
        raise DataError(f"{len(rasters)} rasters for {len(clear)} clear masks")
    if len(rasters) == 1:
        return composite_best(rasters[0], clear[0])
    t = len(rasters)
    b, m, n = rasters[0].data.shape
    stack = np.empty((t, b, m * n), "float32")
    count = np.zeros(m * n, "uint16")
    for i, (r, c) in enumerate(zip(rasters, clear, strict=True)):
        x = stack[i]
        x[:] = r.data.reshape(b, -1)
        ok = np.asarray(c, bool).reshape(-1) & np.isfinite(x).all(axis=0)
        x[:, ~ok] = np.nan
        count += ok
    stack.sort(axis=0)   # NaN last: each pixel's k clear values come first
    lo = ((count.astype("int64") - 1) // 2).clip(0)[None, None]
    hi = (count.astype("int64") // 2)[None, None].clip(0, t - 1)
    comp = 0.5 * (np.take_along_axis(stack, lo, axis=0)[0]
                  + np.take_along_axis(stack, hi, axis=0)[0])
    comp[:, count == 0] = np.nan
    return comp.reshape(b, m, n).astype("float32", copy=False), count.reshape(m, n)


def composite_best(raster: Raster, clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One scene's clear pixels: ((B, M, N) float32 with NaN elsewhere, (M, N) uint16 count).

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> r = Raster(np.full((1, 1, 2), 5.0, "float32"), Affine.identity(), "EPSG:32651")
    >>> comp, n = composite_best(r, np.array([[True, False]]))
    >>> comp[0].tolist(), n.tolist()
    ([[5.0, nan]], [[1, 0]])
    """
    ok = np.asarray(clear, bool) & np.isfinite(raster.data).all(axis=0)
    comp = raster.data.astype("float32")   # a copy: the scene itself is left as it is
    comp[:, ~ok] = np.nan
    return comp, ok.astype("uint16")


def site_mask(site: Site, grid: Grid) -> np.ndarray:
    """(M, N) bool: grid pixels touched by the site's outline."""
    geom = reproject_geometry(site.geometry, "EPSG:4326", grid.crs)
    mask = rasterize([(geom, 1)], out_shape=grid.shape, transform=grid.transform, fill=0,
                     all_touched=True, dtype="uint8").astype(bool)
    if not mask.any():
        raise DataError(f"site {site.id} does not overlap its grid: give a grid that covers it")
    return mask


ClearFn = Callable[[Raster], np.ndarray]
#: Provenance facts that differ between scenes (kept per scene in a composite).
_PER_SCENE = ("processing_baseline", "boa_offset", "harmonisation", "collection",
              "orbit_state", "relative_orbit", "platform", "scene")
#: ``progress(stage, done, total)``: stage is "search", "screen" or "load".
ProgressFn = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _scl_layer(source: ImagerySource, scene: SceneRecord, grid: Grid) -> np.ndarray:
    band = source.cloud_band or "SCL"
    r = source.load(scene, grid, [band])
    scl = r.band(band)
    return np.where(np.isfinite(scl), scl, 0).astype("uint8")


def _pixel_screen_bands(source: ImagerySource, policy: PixelScreen, bands: list[str],
                        masked: bool) -> tuple[PixelScreen | None, list[str]]:
    """The bands to load for the pixel screening (the asked ones, plus what the screening
    needs and the source has), or no screening (with a warning) when blue is missing."""
    have = list(getattr(source, "band_names", ()) or ())
    roles = screening_bands(bands)
    extra = []
    for role, options in screening_bands(have).items():
        if not roles[role] and options:
            extra += options
    load = bands + [b for b in extra if b not in bands]
    if not screening_bands(load)["blue"]:
        if not masked:
            # a warning when the source's files lack blue, a note when only the asked bands do
            log.log(logging.WARNING if have else logging.INFO,
                    "no cloud screening: the scenes %s no blue band (B02) and no cloud mask "
                    "was given, so clouds and shadows may be taken for change",
                    "hold" if have else "were not asked for a")
        return None, bands
    return policy, load


def _scene_public(scene: SceneRecord) -> dict[str, Any]:
    """Scene record for manifests: asset hrefs without query strings (signatures)."""
    d = scene.to_dict()
    d["assets"] = {k: urlunsplit(urlsplit(v)._replace(query="", fragment=""))
                   for k, v in (d.get("assets") or {}).items()}
    return d


def _tick_from(tick: ProgressFn, stage: str, base: int, total: int, n: int) -> None:
    tick(stage, base + n, total)


def _map_scenes(fn: Callable[[SceneRecord], Any], scenes: Sequence[SceneRecord], workers: int,
                attempt: Callable[[Callable[[], Any], SceneRecord], Any],
                done: Callable[[int], None]) -> list[Any]:
    """``[attempt(fn(s)) for s in scenes]`` on up to ``workers`` threads, in order.

    Remote reads wait on the network, not the CPU, so a few threads give a few times the
    speed; progress is reported from the calling thread. The first error (when not
    skipped) cancels what has not started and is raised.
    """
    if workers <= 1 or len(scenes) <= 1:
        out = []
        for i, sc in enumerate(scenes):
            out.append(attempt(functools.partial(fn, sc), sc))
            done(i + 1)
        return out
    results: list[Any] = [None] * len(scenes)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(attempt, functools.partial(fn, sc), sc): i
                   for i, sc in enumerate(scenes)}
        try:
            for n, fut in enumerate(as_completed(futures), start=1):
                results[futures[fut]] = fut.result()
                done(n)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def build_epochs(source: ImagerySource, site: Site, start: str, end: str,
                 every: str | Sequence[tuple[str, str]], *, grid: Grid | None = None,
                 bands: Sequence[str] = S2_LAND_BANDS, clear_mask: ClearFn | None = None,
                 scenes: Sequence[SceneRecord] | None = None, composite: str = "median",
                 screen: CloudScreen | PixelScreen | None | str = "auto",
                 min_clear: float = 0.1,
                 max_scenes: int | None = None, coregister: bool | dict[str, Any] = False,
                 on_error: str = "raise", progress: ProgressFn | None = None,
                 workers: int = 4, **search_options: Any) -> list[Epoch]:
    """One composite of clear observations per epoch window.

    Parameters
    ----------
    source : ImagerySource
    site : Site
    start, end : str
        ISO dates.
    every : cadence or explicit windows, see :func:`epoch_windows`.
    grid : Grid, optional
        Default: the source's native grid for the site.
    bands : sequence of str
    clear_mask : callable, optional
        ``fn(raster) -> (M, N) bool`` of clear pixels, applied on top of the
        screening; without SCL it is the only screening (default: every valid
        pixel is clear).
    scenes : sequence of SceneRecord, optional
        Use these instead of searching.
    composite : {"median", "best"}
        Per-pixel median of the clear observations, or the clearest single scene.
    screen : CloudScreen, PixelScreen, None or "auto"
        Cloud screening: "auto" = the SCL policy when the source has a
        classification band, else clouds and shadows found from the pixels
        (:mod:`sitewatch.imagery.cloud_pixels`; every scene is loaded, the
        series screened, then composited); None = no screening.
    min_clear : float
        Scenes clear over less than this share of the site are not used (with SCL).
    max_scenes : int, optional
        Use at most this many of the clearest scenes per epoch (with SCL).
    coregister : bool or dict
        Align the epochs (:func:`~sitewatch.imagery.coregister.coregister_epochs`;
        a dict passes its options).
    on_error : {"raise", "skip"}
        A scene that cannot be fetched stops the run, or is skipped and named
        in the epoch's ``flags["skipped"]``.
    progress : callable, optional
        ``progress(stage, done, total)``.
    workers : int
        Scenes read at once (threads); 1 = one after the other.

    Returns
    -------
    list of Epoch
        In time order; windows without a usable scene are gaps with the reason
        in ``flags["gap"]``.

    Raises
    ------
    NoSceneError
        The search found nothing in the whole range.
    NoClearSceneError
        Scenes exist, but every epoch is a gap (all cloudy over the site).
    """
    if composite not in COMPOSITES:
        raise ConfigError(f"unknown composite {composite!r}: use median or best")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if not 0.0 <= min_clear <= 1.0:
        raise ConfigError(f"min_clear must be between 0 and 1, got {min_clear}")
    tick = progress or _noop
    windows = epoch_windows(start, end, every)
    grid = grid or source.native_grid(site)
    if scenes is not None:
        found = list(scenes)
    else:
        tick("search", 0, 1)
        found = source.search(site, windows[0].start, windows[-1].end, **search_options)
        tick("search", 1, 1)
    if not found:
        raise NoSceneError(f"no scene over {site.id} between {windows[0].start} and "
                           f"{windows[-1].end} from {source.name}: widen the dates, check the "
                           "site lies on land covered by Sentinel-2, or try another --source")
    found = sorted(found, key=lambda s: (s.datetime, s.id))
    in_range = [s for s in found if any(w.contains(s.date) for w in windows)]
    policy: CloudScreen | None
    pixel_policy: PixelScreen | None = None
    if isinstance(screen, str):
        if screen != "auto":
            raise ConfigError(f"screen must be a CloudScreen, PixelScreen, None or 'auto', "
                              f"not {screen!r}")
        policy = CloudScreen() if source.cloud_band else None
        pixel_policy = None if source.cloud_band else PixelScreen()
    elif isinstance(screen, PixelScreen):
        policy, pixel_policy = None, screen
    else:
        policy = screen if source.cloud_band else None
    load_bands = list(bands)
    if pixel_policy is not None:
        pixel_policy, load_bands = _pixel_screen_bands(source, pixel_policy, load_bands,
                                                       clear_mask is not None)
    skipped: dict[str, str] = {}

    def attempt(fn: Callable[[], Any], scene: SceneRecord) -> Any:
        try:
            return fn()
        except (FetchError, CorruptFileError) as err:
            if on_error == "raise":
                if not isinstance(err, RateLimitError | CredentialsError | QuotaExceededError):
                    err.scene_id = scene.id  # type: ignore[union-attr]  # skippable: say so
                raise
            skipped[scene.id] = str(err)
            log.warning("skipped scene %s: %s", scene.id, err)
            return None

    screens: dict[str, SceneScreen] = {}
    if policy is not None and in_range:
        mask = site_mask(site, grid)
        layers, kept = [], []
        got = _map_scenes(lambda sc: _scl_layer(source, sc, grid), in_range, workers,
                          attempt, lambda n: tick("screen", n, len(in_range)))
        for sc, layer in zip(in_range, got, strict=True):
            if layer is not None:
                layers.append(layer)
                kept.append(sc)
        res = abs(grid.transform.a)
        for sc, s in zip(kept, screen_stack(layers, [s.date for s in kept], res_m=res,
                                            policy=policy, site_mask=mask,
                                            scene_ids=[s.id for s in kept]), strict=True):
            screens[sc.id] = s
    plan = []
    for w in windows:
        members = [s for s in in_range if w.contains(s.date) and s.id not in skipped]
        if policy is not None:
            members = [s for s in members if s.id in screens]
            order = rank_screens([screens[s.id] for s in members],
                                 cloud_cover=[s.cloud_cover for s in members])
            ranked = [members[i] for i in order]
            chosen = [s for s in ranked if screens[s.id].clear_fraction >= min_clear]
            limit = 1 if composite == "best" else max_scenes
            chosen = chosen[:limit] if limit else chosen
        else:
            ranked = members
            chosen = members[:1] if composite == "best" else members
        plan.append((w, ranked, chosen))
    total = sum(len(c) for _, _, c in plan)
    done = 0
    held: dict[str, Raster | None] = {}

    def key(sc: SceneRecord) -> str:
        """Scenes by id, and by date too for the pixel screening (a user's copies of one
        file under two dates share its id)."""
        return sc.id if pixel_policy is None else f"{sc.id}@{sc.datetime}"

    if pixel_policy is not None:
        # the series is screened as a whole (a cloud is transient): every scene is loaded
        # once, screened, then composited per epoch
        to_load = [sc for _, _, chosen in plan for sc in chosen]
        got = _map_scenes(lambda sc: source.load(sc, grid, load_bands), to_load, workers,
                          attempt, functools.partial(_tick_from, tick, "load", 0, total))
        done = total
        held = {key(sc): r for sc, r in zip(to_load, got, strict=True)}
        loaded_ok = [(sc, r) for sc, r in zip(to_load, got, strict=True) if r is not None]
        if loaded_ok:
            found_px = screen_pixels(
                [r.data for _, r in loaded_ok], load_bands, policy=pixel_policy,
                valid=[r.valid_mask() & (clear_mask(r) if clear_mask is not None else True)
                       for _, r in loaded_ok],
                site_mask=site_mask(site, grid), scene_ids=[sc.id for sc, _ in loaded_ok],
                dates=[sc.date for sc, _ in loaded_ok])
            screens.update({key(sc): sr for (sc, _), sr in zip(loaded_ok, found_px,
                                                                strict=True)})
    epochs = []
    for w, ranked, chosen in plan:
        rasters, clears, used = [], [], []
        if pixel_policy is not None:
            loaded = [held.pop(key(sc), None) for sc in chosen]
        else:
            loaded = _map_scenes(lambda sc: source.load(sc, grid, load_bands), chosen, workers,
                                 attempt,
                                 functools.partial(_tick_from, tick, "load", done, total))
            done += len(chosen)
        for sc, r in zip(chosen, loaded, strict=True):
            if r is None:
                continue
            if list(r.band_names) != list(bands):
                r = r.select(bands)
            c = r.valid_mask()
            if key(sc) in screens:
                c &= screens[key(sc)].clear
            if clear_mask is not None:
                c &= clear_mask(r)
            if c.any():
                rasters.append(r)
                clears.append(c)
                used.append(sc)
        summary = [{**screens[key(s)].to_dict(), "used": s in used,
                    "method": "scl" if policy is not None else "pixels"} for s in ranked
                   if key(s) in screens]
        flags: dict[str, Any] = {}
        bad = {k: v for k, v in skipped.items() if any(s.id == k for s in found
                                                       if w.contains(s.date))}
        if bad:
            flags["skipped"] = bad
        if not rasters:
            if not ranked and not bad:
                flags["gap"] = "no scene in the window"
            elif policy is not None and ranked:
                best = max(screens[key(s)].clear_fraction for s in ranked)
                flags["gap"] = (f"every scene cloudy over the site: {len(ranked)} scenes, "
                                f"best clear fraction {best:.0%} < min_clear {min_clear:.0%}")
            else:
                flags["gap"] = "no clear observation"
            epochs.append(Epoch(w, None, np.zeros(grid.shape, "uint16"), [], flags, summary,
                                composite))
            log.info("epoch %s: gap (%s)", w.label, flags["gap"])
            continue
        if composite == "best":
            comp, count = composite_best(rasters[0], clears[0])
        else:
            comp, count = composite_median(rasters, clears)
        per_scene = {s.id: {k: v for k, v in r.provenance.processing.items()
                            if k in _PER_SCENE} for s, r in zip(used, rasters, strict=True)}
        proc = {**{k: v for k, v in rasters[0].provenance.processing.items()
                    if k not in _PER_SCENE},
                "composite": ("median of clear observations" if composite == "median"
                              else "clearest single scene"),
                "epoch": w.label,
                "screening": (policy.to_dict() if policy else pixel_policy.to_dict()
                              if pixel_policy else None),
                "scenes": per_scene}
        prov = Provenance(source.name, tuple(s.id for s in used), proc)
        raster = Raster(comp, grid.transform, grid.crs, band_names=tuple(bands),
                        dates=tuple(s.date for s in used), provenance=prov,
                        attrs={"epoch": w.label, "window": [w.start, w.end]})
        epochs.append(Epoch(w, raster, count, used, flags, summary, composite))
        log.info("epoch %s: %d scenes, median %d clear obs", w.label, len(used),
                 int(np.median(count)))
    if all(e.is_gap for e in epochs):
        if skipped and len(skipped) >= len(in_range):
            raise FetchError(f"every scene failed to download ({len(skipped)}); first error: "
                             f"{next(iter(skipped.values()))}")
        if in_range:
            best = max((s.clear_fraction for s in screens.values()), default=0.0)
            raise NoClearSceneError(
                f"all {len(in_range)} scenes over {site.id} between {windows[0].start} and "
                f"{windows[-1].end} are too cloudy over the site (best clear fraction "
                f"{best:.0%}, min_clear {min_clear:.0%}): widen the dates, use a longer "
                "cadence, or lower --min-clear")
        raise NoSceneError(f"no scene of {source.name} falls in the epoch windows between "
                           f"{windows[0].start} and {windows[-1].end}: widen the dates")
    if coregister:
        from sitewatch.imagery.coregister import coregister_epochs

        opts = coregister if isinstance(coregister, dict) else {}
        coregister_epochs(epochs, **opts)
    return epochs


def _file_label(label: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]+", "_", label)


def save_epochs(epochs: Sequence[Epoch], folder: str | os.PathLike[str], *,
                site: Site | None = None, source: str | None = None,
                extra: dict[str, Any] | None = None) -> Path:
    """Write epochs to ``folder``: composites and clear counts as COGs, ``epochs.json`` last.

    Files: ``<label>.tif`` (float32 reflectance composite, provenance in its tags),
    ``<label>_clear_count.tif`` (uint16) per non-gap epoch, and the manifest
    ``epochs.json`` (scene ids, dates, baselines, offsets, screening, flags, grid,
    attribution). Every write is atomic, the manifest written last, so a folder
    with a manifest is complete. Returns the manifest's path.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    years: set[int] = set()
    items = []
    grid_d = None
    for e in epochs:
        item: dict[str, Any] = {"label": e.label, "start": e.window.start, "end": e.window.end,
                                "composite": e.composite, "gap": e.is_gap,
                                "flags": e.flags, "screens": e.screens,
                                "scenes": [_scene_public(s) for s in e.scenes]}
        if e.raster is not None:
            name = _file_label(e.label)
            write_cog(e.raster, out / f"{name}.tif")
            cc = Raster(e.clear_count.astype("uint16"), e.raster.transform, e.raster.crs,
                        band_names=("clear_count",), dates=e.raster.dates,
                        provenance=e.raster.provenance, attrs={"epoch": e.label})
            write_cog(cc, out / f"{name}_clear_count.tif")
            item.update({"file": f"{name}.tif", "clear_count_file": f"{name}_clear_count.tif",
                         "bands": list(e.raster.band_names), "dates": list(e.raster.dates),
                         "n_scenes": len(e.scenes),
                         "clear_fraction": round(e.clear_fraction, 4),
                         "processing": e.raster.provenance.processing})
            years.update(e.raster.years())
            grid_d = grid_d or {"crs": e.raster.crs, "transform": list(e.raster.transform)[:6],
                                "width": e.raster.width, "height": e.raster.height}
        elif e.clear_count.size:
            grid_d = grid_d or None
            item["shape"] = list(e.clear_count.shape)
        items.append(item)
    manifest: dict[str, Any] = {
        "format": _FORMAT, "sitewatch": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "source": source, "site": site.to_feature() if site is not None else None,
        "grid": grid_d,
        "attribution": copernicus_attribution(sorted(years)) if years else None,
        "epochs": items, **(extra or {})}
    path = out / MANIFEST
    atomic_write_text(json.dumps(manifest, indent=1, default=str) + "\n", path)
    return path


def load_epochs(folder: str | os.PathLike[str]) -> list[Epoch]:
    """Read epochs written by :func:`save_epochs` (or ``sitewatch fetch``).

    Raises
    ------
    DataError
        The folder has no ``epochs.json`` or it is not a sitewatch manifest.
    CorruptFileError
        A composite named in the manifest is missing or damaged.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DataError(f"{folder} holds no {MANIFEST}: give the output folder of "
                        "`sitewatch fetch`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{path} is not valid JSON ({err}): fetch again") from err
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
        raise DataError(f"{path} is not a sitewatch epochs manifest (format {fmt!r})")
    try:
        return _epochs_from_manifest(Path(folder), manifest)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        if isinstance(err, DataError):
            raise
        raise CorruptFileError(f"{path} is damaged ({type(err).__name__}: {err}): fetch "
                               "again") from err


def _epochs_from_manifest(folder: Path, manifest: dict[str, Any]) -> list[Epoch]:
    shape = None
    grid = manifest.get("grid")
    if grid:
        shape = (int(grid["height"]), int(grid["width"]))
    out = []
    for item in manifest["epochs"]:
        w = EpochWindow(item["label"], item["start"], item["end"])
        scenes = [SceneRecord.from_dict(d) for d in item.get("scenes", [])]
        raster = None
        if item.get("file"):
            f = Path(folder) / item["file"]
            if not f.is_file():
                raise CorruptFileError(f"{f} named in {MANIFEST} is missing: fetch again")
            raster = read_raster(f)
            count = read_raster(Path(folder) / item["clear_count_file"]).data[0]
        else:
            s = tuple(item.get("shape") or shape or (0, 0))
            count = np.zeros(s, "uint16")
        out.append(Epoch(w, raster, count.astype("uint16"), scenes, dict(item.get("flags", {})),
                         list(item.get("screens", [])), item.get("composite", "median")))
    return out


def epochs_from_stack(stack: np.ndarray | Sequence[np.ndarray], transform: Any, crs: Any,
                      band_names: Sequence[str], *, start: str, every: str = "quarter",
                      source: str = "stack") -> list[Epoch]:
    """Epochs around an in-memory series: one per ``(B, M, N)`` layer, consecutive windows.

    For series built elsewhere (a simulation, an array cube): layer ``i`` becomes the
    composite of the ``i``-th ``every`` window from ``start``, dated the 15th of the
    window's first month, with NaN where it saw nothing clear (its clear count is 0
    there). The result feeds :func:`sitewatch.pipeline.timeline.run_timeline`.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> eps = epochs_from_stack(np.zeros((3, 1, 2, 2), "float32"),
    ...                         Affine(10, 0, 0, 0, -10, 0), "EPSG:32631", ["B04"],
    ...                         start="2020-01-01")
    >>> [e.label for e in eps], eps[1].raster.dates
    (['2020-Q1', '2020-Q2', '2020-Q3'], ('2020-04-15',))
    """
    if every not in CADENCES:
        raise ConfigError(f"unknown cadence {every!r}: use month, quarter or year")
    t = len(stack)
    s = _dt.date.fromisoformat(iso_date(start))
    months = s.month - 1 + {"month": 1, "quarter": 3, "year": 12}[every] * t
    end = _month_end(s.year + months // 12 - (months % 12 == 0), (months - 1) % 12 + 1)
    out = []
    for w, layer in zip(epoch_windows(start, end.isoformat(), every)[:t], stack, strict=False):
        day = w.start[:8] + "15"
        sid = f"{source}-{day}"
        data = np.asarray(layer, dtype="float32")
        r = Raster(data, transform, crs, band_names=tuple(band_names), dates=(day,),
                   provenance=Provenance(source, (sid,)))
        clear = np.isfinite(data).all(axis=0).astype("uint16")
        out.append(Epoch(w, r, clear, [SceneRecord(sid, f"{day}T00:00:00Z", source=source)]))
    return out
