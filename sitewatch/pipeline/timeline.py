"""Timelines of a site: epoch composites from any source to change history, events and progress.

:func:`site_timeline` builds the epochs (``sitewatch.imagery.epochs.build_epochs``)
from any imagery source and runs :func:`run_timeline` on them;
:func:`run_timeline` takes epochs from anywhere (a fetch output folder, a test).
The steps:

1. the epochs are stacked (gaps stay gaps) and cut to the site's outline;
2. the two-date detector (CVA by default) is run on every pixel's first and
   last clear observation: its threshold is the timeline's decision rule, and
   its result the two-date baseline;
3. :func:`~sitewatch.detectors.timeline.pixel_history` finds every pixel's first
   lasting change; the minimum mapping unit drops specks; neighbours agree on
   dates (:func:`~sitewatch.detectors.timeline_events.refine_dates`); changes
   are typed from the mean spectra of the old and the new state;
4. events (regions that changed in the same epoch) and the progress table
   (area per epoch and type, with bounds from the clear observations).

:mod:`sitewatch.pipeline.timeline_outputs` writes the result to a folder.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from sitewatch._version import __version__
from sitewatch.aoi.catalogue import site_from_feature
from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.attribution import copernicus_attribution
from sitewatch.detectors.composition import composition_slugs
from sitewatch.detectors.polygons import Region
from sitewatch.detectors.postprocess import minimum_mapping_unit
from sitewatch.detectors.registry import get_detector
from sitewatch.detectors.timeline import (
    PixelHistory,
    StackLike,
    TimelineParams,
    as_stack,
    estimate_noise_var,
    first_last_clear,
    pixel_history,
)
from sitewatch.detectors.timeline_events import (
    absorb_slivers,
    refine_dates,
    smooth_types,
    timeline_events,
)
from sitewatch.detectors.timeline_progress import PROGRESS_FIELDS, progress_arrays
from sitewatch.errors import DataError, DetectorError
from sitewatch.imagery.cache import TileCache
from sitewatch.imagery.epochs import MANIFEST, Epoch, load_epochs, site_mask
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2
from sitewatch.raster import Provenance, pixel_area_m2
from sitewatch.types import ChangeMap, ChangeType

__all__ = ["TimelineResult", "EpochSummary", "run_timeline", "site_timeline", "folder_timeline",
           "fit_timeline", "epoch_days", "settle_changes", "DEFAULT_PERSISTENCE_DAYS",
           "DEFAULT_CADENCE", "TIMELINE_DETECTOR", "REPORTED_TYPES"]

log = logging.getLogger(__name__)

#: Cadence of the epochs when none is asked for.
DEFAULT_CADENCE = "quarter"
#: Detector whose decision rule the timeline uses (its statistic is a spectral distance).
TIMELINE_DETECTOR = "cva"
#: Detectors whose statistic is the distance the timeline compares states with.
DISTANCE_DETECTORS: tuple[str, ...] = ("cva",)
#: How the timeline's detector cuts the early/late distance: the higher of Otsu's
#: and Kittler-Illingworth's cuts, the one above the no-change bulk (Otsu alone split
#: the bulk of the quarterly Slovenia series, Kittler alone the monthly one's lower
#: tail); not a false-alarm quantile, which would cut into the change where much of
#: a site changes (benchmarks/results/timeline*.md).
TIMELINE_DETECTOR_PARAMS: dict[str, Any] = {"threshold": "bimodal"}
#: Change types in the progress tables, in this order ("all" first).
REPORTED_TYPES: tuple[ChangeType, ...] = (
    ChangeType.PAVING, ChangeType.CONSTRUCTION, ChangeType.ROOF, ChangeType.DEMOLITION,
    ChangeType.WATER, ChangeType.VEGETATION, ChangeType.OTHER)


@dataclass(frozen=True)
class EpochSummary:
    """What stood behind one epoch: window, scenes, how much of the site was seen clear."""

    index: int
    label: str
    start: str
    end: str
    gap: bool
    scene_ids: tuple[str, ...]
    dates: tuple[str, ...]
    clear_share: float
    median_clear_obs: float
    screening: dict[str, Any] = field(default_factory=dict)

    @property
    def screened(self) -> str:
        """What the cloud screening took out of the epoch's scenes, for people ("" if none)."""
        if not self.screening:
            return ""
        how = "from the pixels" if self.screening["method"] == "pixels" else "by the SCL"
        return (f"{100 * self.screening['cloud']:.0f}% cloud, "
                f"{100 * self.screening['shadow']:.0f}% shadow screened {how}")

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "start": self.start, "end": self.end,
                "gap": self.gap, "scene_ids": list(self.scene_ids), "dates": list(self.dates),
                "clear_share": round(self.clear_share, 4),
                "median_clear_obs": self.median_clear_obs, "screening": self.screening}


@dataclass
class TimelineResult:
    """Everything a timeline run produced, traceable to its scenes.

    Attributes
    ----------
    epochs : list of EpochSummary
    transform, crs, shape
        The grid.
    band_names : tuple of str
        Bands the history was computed on.
    history : PixelHistory
        Per-pixel results before the minimum mapping unit.
    changed : (M, N) bool
        Lasting change, inside the site, after the minimum mapping unit.
    date : (M, N) int16
        Agreed epoch of each change (-1: none).
    change_type : (M, N) uint8
        :class:`~sitewatch.types.ChangeType` codes.
    events : list of Region
        Regions that changed in the same epoch (``stats``: epoch, after_epoch).
    progress : dict of (T, n_types) ndarray
        Areas in m² (:func:`~sitewatch.detectors.timeline_progress.progress_arrays`).
    site_mask : (M, N) bool
        Pixels inside the site and seen clear at least once.
    pixel_area : ndarray
        Ground area of each pixel, m² (broadcastable to the grid).
    params : dict
        Every parameter of the run (detector, threshold, noise, persistence...).
    two_date : dict
        The detector on every pixel's first and last clear observation.
    notes : list of str
        What a reader must know (relaxed rules, missing bands...).
    source_epochs : list of Epoch, or the folder holding them, optional
        The epochs the timeline ran on, for :meth:`to_xarray` (references, not copies).
    """

    epochs: list[EpochSummary]
    transform: Affine
    crs: str
    shape: tuple[int, int]
    band_names: tuple[str, ...]
    history: PixelHistory
    changed: np.ndarray
    date: np.ndarray
    change_type: np.ndarray
    events: list[Region]
    progress: dict[str, np.ndarray]
    site_mask: np.ndarray
    pixel_area: np.ndarray
    params: dict[str, Any]
    two_date: dict[str, Any]
    provenance: Provenance
    site: Site | None = None
    notes: list[str] = field(default_factory=list)
    seasonal: np.ndarray | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC)
                         .isoformat(timespec="seconds"))
    source_epochs: list[Epoch] | Path | None = field(default=None, repr=False, compare=False)

    # -- areas --------------------------------------------------------------
    def _area(self, mask: np.ndarray) -> float:
        return float(np.broadcast_to(self.pixel_area, self.shape)[mask].sum())

    @property
    def site_area_m2(self) -> float:
        """Area of the site seen clear at least once, m²."""
        return self._area(self.site_mask)

    @property
    def changed_area_m2(self) -> float:
        return self._area(self.changed)

    @property
    def confirmed(self) -> bool:
        """Whether changes had to be confirmed by later epochs (persistence > 0 days)."""
        return float(self.params.get("persistence_days", 0)) > 0

    @property
    def changed_phrase(self) -> str:
        """"changed for good" or, without confirmation, "changed (not confirmed)"."""
        return "changed for good" if self.confirmed else "changed (not confirmed)"

    @property
    def dates(self) -> list[str]:
        return sorted({d for e in self.epochs for d in e.dates})

    @property
    def scene_ids(self) -> list[str]:
        return [s for e in self.epochs for s in e.scene_ids]

    @property
    def attribution(self) -> str:
        return copernicus_attribution(self.dates)

    def area_by_type(self) -> dict[str, float]:
        """Changed area in m² per change type slug (types with no change left out)."""
        cum = self.progress["cumulative"][-1]
        return {ChangeType(c).slug: float(cum[c]) for c in range(1, cum.size) if cum[c] > 0}

    # -- tables -------------------------------------------------------------
    def progress_rows(self) -> list[dict[str, Any]]:
        """The progress table, one row per epoch and change type ("all" first), areas in m².

        Columns: epoch, start, end, change_type, new_m2 (dated to the epoch),
        new_low_m2 / new_high_m2 (certainly / possibly changed in it),
        cumulative_m2 with cumulative_low_m2 / cumulative_high_m2, cumulative_share
        (of the site area), clear_share (of the site seen clear in the epoch),
        median_clear_obs, scenes and scene_ids (';'-separated).
        """
        site = self.site_area_m2
        rows = []
        for e in self.epochs:
            i = e.index
            cols: list[tuple[str, list[int]]] = [("all", [int(c) for c in REPORTED_TYPES])]
            cols += [(c.slug, [int(c)]) for c in REPORTED_TYPES]
            for slug, codes in cols:
                vals = {f: float(self.progress[f][i, codes].sum()) for f in PROGRESS_FIELDS}
                rows.append({
                    "epoch": e.label, "start": e.start, "end": e.end, "change_type": slug,
                    **{f"{f}_m2": round(v, 1) for f, v in vals.items()},
                    "cumulative_share": round(vals["cumulative"] / site, 6) if site else None,
                    "clear_share": round(e.clear_share, 4),
                    "median_clear_obs": e.median_clear_obs,
                    "scenes": len(e.scene_ids), "scene_ids": ";".join(e.scene_ids),
                })
        return rows

    def event_records(self) -> list[dict[str, Any]]:
        """One dict per event: window, type, area, place, confidence and a sentence."""
        out = []
        for r in self.events:
            e = self.epochs[r.stats["epoch"]]
            a = r.stats["after_epoch"]
            after = self.epochs[a] if a >= 0 else None
            ct = ChangeType(r.change_type)
            rec = {
                "id": r.id, "first_seen_changed": e.label,
                "last_seen_unchanged": after.label if after else None,
                "window_start": after.start if after else self.epochs[0].start,
                "window_end": e.end, "change_type": ct.slug, "change_type_label": ct.label,
                "name": r.name, "composition": composition_slugs(r.composition),
                "area_m2": round(r.area_m2, 1), "pixels": r.pixels,
                "centroid_lon": round(r.centroid_lonlat[0], 6),
                "centroid_lat": round(r.centroid_lonlat[1], 6),
                "confidence": round(float(r.stats.get("mean_probability", float("nan"))), 3),
                "mean_magnitude": round(float(r.stats.get("mean_magnitude", float("nan"))), 4),
                "scene_ids": list(e.scene_ids) + (list(after.scene_ids) if after else []),
            }
            rec["sentence"] = event_sentence(rec)
            out.append(rec)
        return out

    def stack_epochs(self) -> list[Epoch]:
        """The epochs the timeline ran on (read from their folder for a block run).

        Raises
        ------
        DataError
            The result keeps no epochs (built by hand): pass them to :meth:`to_xarray`.
        """
        if isinstance(self.source_epochs, Path):
            return load_epochs(self.source_epochs)
        if self.source_epochs is None:
            raise DataError("this timeline keeps no epochs: pass the ones it ran on, "
                            "to_xarray(epochs=...)")
        return list(self.source_epochs)

    def to_xarray(self, epochs: Sequence[Epoch] | None = None) -> Any:
        """The epoch stack over time and the per-pixel results as an xarray Dataset.

        See :func:`sitewatch.interop.xarray_io.timeline_to_xarray` (needs
        ``pip install 'sitewatch[xarray]'``): one ``(time, y, x)`` variable per band,
        ``clear``, and ``first_change`` (dates), ``first_change_epoch``,
        ``change_type``, ``confidence``, ``changed``, ``site`` on ``(y, x)``, with the
        CRS and transform for rioxarray (``ds.rio.crs``).
        """
        from sitewatch.interop.xarray_io import timeline_to_xarray

        return timeline_to_xarray(self, epochs)

    def _repr_html_(self) -> str:
        """Notebook display: the progress chart, key numbers and largest events (lazy import)."""
        from sitewatch.annotate.display import timeline_html

        return timeline_html(self)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary with full provenance."""
        return {
            "sitewatch_version": __version__, "created": self.created,
            "site": None if self.site is None else {"id": self.site.id, "name": self.site.name},
            "epochs": [e.to_dict() for e in self.epochs],
            "grid": {"crs": self.crs, "transform": list(self.transform)[:6],
                     "width": self.shape[1], "height": self.shape[0]},
            "bands": list(self.band_names), "params": self.params,
            "two_date": self.two_date,
            "results": {
                "site_area_m2": round(self.site_area_m2, 1),
                "changed_area_m2": round(self.changed_area_m2, 1),
                "changed_share": (round(self.changed_area_m2 / self.site_area_m2, 6)
                                  if self.site_area_m2 else None),
                "events": len(self.events),
                "area_by_type_m2": {k: round(v, 1) for k, v in self.area_by_type().items()},
                "pending_area_m2": round(self._area(self.history.pending & self.site_mask), 1),
                "seasonal_area_m2": (round(self._area(self.seasonal & self.site_mask), 1)
                                     if self.seasonal is not None else 0.0),
                "transients_set_aside": int(self.history.transients.sum()),
                "largest_events": [r for r in sorted(self.event_records(),
                                                     key=lambda r: -r["area_m2"])[:5]],
            },
            "notes": self.notes, "attribution": self.attribution,
        }


def event_sentence(rec: dict[str, Any]) -> str:
    """The one-line story of an event: "Between 2020-Q1 and 2020-Q2, 41,300 m² of new paving".

    Examples
    --------
    >>> event_sentence({"last_seen_unchanged": "2020-04", "first_seen_changed": "2020-06",
    ...                 "area_m2": 41287.0, "change_type_label": "new paving",
    ...                 "centroid_lat": 40.0356, "centroid_lon": 124.3694})
    'Between 2020-04 and 2020-06, 41,300 m² of new paving (around 40.0356 N, 124.3694 E).'
    """
    area = rec["area_m2"]
    shown = round(area, -2) if area >= 1000 else round(area, -1)
    lat, lon = rec["centroid_lat"], rec["centroid_lon"]
    place = (f"{abs(lat):.4f} {'N' if lat >= 0 else 'S'}, "
             f"{abs(lon):.4f} {'E' if lon >= 0 else 'W'}")
    when = (f"Between {rec['last_seen_unchanged']} and {rec['first_seen_changed']}"
            if rec.get("last_seen_unchanged") else f"By {rec['first_seen_changed']}")
    return f"{when}, {shown:,.0f} m² of {rec['change_type_label']} (around {place})."


# -- composing -------------------------------------------------------------------

#: A change must be seen to hold this long to count (snow, floods and crops come and go):
#: the next quarter of a quarterly series, two more months of a monthly one.
DEFAULT_PERSISTENCE_DAYS = 60.0
#: Bands that are vegetation indices: a change of them is a vegetation change.
VEGETATION_INDEX_BANDS = frozenset({"NDVI", "EVI", "SAVI", "NDRE", "MSAVI", "GNDVI"})


def epoch_days(epochs: Sequence[Epoch]) -> np.ndarray:
    """(T,) float: each epoch's date as a day number (``date.toordinal``).

    The middle scene date of an epoch with scenes, the middle of its window for a gap.

    Examples
    --------
    >>> from sitewatch.imagery.epochs import Epoch, epoch_windows
    >>> import numpy as np
    >>> eps = [Epoch(w, None, np.zeros((1, 1), "uint16"))
    ...        for w in epoch_windows("2020-01-01", "2020-06-30", "quarter")]
    >>> np.diff(epoch_days(eps)).tolist()
    [91.0]
    """
    out = []
    for e in epochs:
        dates = sorted(e.raster.dates) if e.raster is not None and e.raster.dates else []
        if dates:
            ords = [_dt.date.fromisoformat(d[:10]).toordinal() for d in dates]
            out.append(float(np.median(ords)))
        else:
            a = _dt.date.fromisoformat(e.window.start).toordinal()
            b = _dt.date.fromisoformat(e.window.end).toordinal()
            out.append((a + b) / 2)
    day = np.array(out, "float64")
    return np.maximum.accumulate(day) if day.size else day


def _classify(before: np.ndarray, after: np.ndarray, band_names: Sequence[str],
              mask: np.ndarray, notes: list[str]) -> np.ndarray:
    """Change types from the old and new mean spectra (OTHER where bands are missing)."""
    out = np.where(mask, np.uint8(ChangeType.OTHER), np.uint8(0)).astype("uint8")
    try:
        from sitewatch.detectors.changetype import classify_change  # type: ignore[import-not-found]
    except ImportError:  # the typing rules are not installed yet
        notes.append("change types are not assigned (typing rules unavailable): all OTHER")
        return out
    try:
        codes = classify_change(before, after, band_names, mask)
    except (DataError, DetectorError, KeyError, ValueError) as err:
        notes.append(f"change types need more bands ({err}); all changes typed OTHER")
        return out
    return np.where(mask, codes, 0).astype("uint8")


def _summaries(epochs: Sequence[Epoch], valid: np.ndarray, site: np.ndarray,
               area: np.ndarray) -> list[EpochSummary]:
    site_area = float(area[site].sum()) or 1.0
    out = []
    for i, e in enumerate(epochs):
        seen = valid[i] & site
        cc = e.clear_count[seen] if e.clear_count.shape == site.shape else np.zeros(0)
        out.append(EpochSummary(
            i, e.label, e.window.start, e.window.end, e.is_gap, tuple(e.scene_ids),
            tuple(e.raster.dates) if e.raster is not None else (),
            float(area[seen].sum()) / site_area,
            float(np.median(cc)) if cc.size else 0.0, screening_summary(e.screens)))
    return out


def screening_summary(screens: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean cloud and shadow shares of the scenes an epoch used ({} if none was screened).

    Examples
    --------
    >>> screening_summary([{"used": True, "method": "pixels",
    ...                     "fractions": {"cloud": 0.2, "shadow": 0.1}}])
    {'method': 'pixels', 'cloud': 0.2, 'shadow': 0.1, 'scenes': 1}
    """
    used = [s for s in screens if s.get("used") and "fractions" in s]
    if not used:
        return {}
    return {"method": str(used[0].get("method", "scl")),
            "cloud": round(float(np.mean([s["fractions"].get("cloud", 0.0) for s in used])), 4),
            "shadow": round(float(np.mean([s["fractions"].get("shadow", 0.0) for s in used])),
                            4),
            "scenes": len(used)}


def timeline_bands(method: str, bands: Sequence[str] | None, common: Sequence[str]
                   ) -> tuple[str, ...]:
    """The bands a timeline runs on, after checking the method and the epochs' bands.

    ``bands`` if given, else the detector's own, else every band all epochs hold
    (``common``).

    Examples
    --------
    >>> timeline_bands("cva", None, ["NDVI"])
    ('NDVI',)
    """
    if method not in DISTANCE_DETECTORS:
        raise DetectorError(f"the timeline decides with a spectral distance between states; "
                            f"detector {method!r} is not one: use --method "
                            f"{' or '.join(DISTANCE_DETECTORS)}")
    info = get_detector(method)
    use = tuple(bands) if bands else (info.bands or tuple(common))
    missing = [b for b in use if b not in common]
    if missing:
        raise DataError(f"band(s) {', '.join(missing)} missing from some epochs (they hold "
                        f"{', '.join(common)}): pick bands every epoch has")
    return use


def relax_rules(max_clear: int, persistence_days: float, min_before: int, notes: list[str],
                n_epochs: int | None = None, span_days: float | None = None
                ) -> tuple[float, int]:
    """Persistence (days) and ``min_before`` a series with ``max_clear`` clear epochs can meet.

    A confirmed change needs ``min_before`` clear epochs of the old state and
    two of the new (the first and one ``persistence_days`` later) within the
    series' ``span_days``. Appends a note when the rules are relaxed and logs
    it: at INFO level when the series simply has few scenes (``max_clear ==
    n_epochs``, the number of epochs with a scene: e.g. a before/after pair), as
    a WARNING when clouds or no-data inside the scenes cost the epochs.

    Examples
    --------
    >>> notes = []
    >>> relax_rules(2, 60.0, 2, notes), len(notes)
    ((0.0, 1), 1)
    """
    short = span_days is not None and span_days < persistence_days
    if max_clear >= min_before + 2 and not short:
        return persistence_days, min_before
    new_pers = 0.0 if (max_clear < 3 or short) else persistence_days
    new_before = max(1, min(min_before, max_clear - (2 if new_pers > 0 else 1)))
    notes.append(f"only {max_clear} clear epoch(s) per pixel at most"
                 + (f" over {span_days:.0f} days" if span_days is not None else "")
                 + f": a lasting change needs {min_before} before and the new state seen over "
                 f"{persistence_days:g} days; relaxed to {new_before} before"
                 + (", and changes are not confirmed by later epochs" if new_pers == 0 else ""))
    short_series = n_epochs is not None and max_clear >= n_epochs
    log.log(logging.INFO if short_series else logging.WARNING, notes[-1])
    return new_pers, new_before


def settle_changes(hist: PixelHistory, ctype: np.ndarray, area: np.ndarray,
                   band_names: Sequence[str], min_area_m2: float, span_days: float,
                   notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The spatial steps after the per-pixel history (shared by the in-memory and block runs).

    1. Seasons: a vegetation change (typed so, or any change of a vegetation
       index) that no same-season view of another year could check is set
       aside as seasonal, as are the shifts the same season undid
       (``hist.seasonal``); a note says how much, and warns when the series
       is shorter than a year.
    2. The minimum mapping unit drops specks; the type speckle is smoothed
       (:func:`~sitewatch.detectors.timeline_events.smooth_types`).
    3. Neighbours of the same type agree on dates; small slivers join their
       same-type region.

    Returns
    -------
    changed, date, change_type, seasonal : (M, N) arrays
    """
    veg = ctype == int(ChangeType.VEGETATION)
    if band_names and set(band_names) <= VEGETATION_INDEX_BANDS:
        veg |= ctype == int(ChangeType.OTHER)
    pairs = hist.season_pairs if hist.season_pairs is not None else np.zeros(ctype.shape)
    undecided = hist.changed & veg & (pairs == 0)
    returned = hist.seasonal if hist.seasonal is not None else np.zeros(ctype.shape, bool)
    seasonal = returned | undecided
    a = np.broadcast_to(area, ctype.shape)
    if span_days < 365:
        held = float(a[undecided].sum())
        notes.append(f"the series spans {span_days:.0f} days, less than a year: a vegetation "
                     "change cannot be told from the season, so "
                     + (f"{held:,.0f} m² of vegetation change is reported as seasonal, not "
                        "lasting" if held else "none is reported as lasting")
                     + " (use a window of a year or more to tell)")
        log.warning(notes[-1])
    elif undecided.any():
        notes.append(f"{float(a[undecided].sum()):,.0f} m² of vegetation change had no view of "
                     "the same season in another year to compare with: reported as seasonal")
    if returned.any():
        notes.append(f"{float(a[returned].sum()):,.0f} m² changed with the season and returned "
                     "to its state of the same season: set aside as seasonal")
    changed = minimum_mapping_unit(hist.changed & ~undecided, min_area_m2, area)
    min_px = max(1, math.ceil(min_area_m2 / float(np.median(area))))
    ctype = np.where(changed, smooth_types(np.where(changed, ctype, 0), min_px), 0)
    ctype = ctype.astype("uint8")
    date = refine_dates(changed, hist.first_epoch, hist.last_unchanged, groups=ctype)
    date = absorb_slivers(date, hist.last_unchanged, min_px, groups=ctype)
    return changed, date, ctype, seasonal


def fit_timeline(layers: StackLike, valid: np.ndarray | None, band_names: Sequence[str], *,
                 method: str = TIMELINE_DETECTOR, threshold: float | None = None,
                 persistence_days: float = DEFAULT_PERSISTENCE_DAYS, min_before: int = 2,
                 z_min: float = 3.0, min_share: float = 0.5, relax: bool = True,
                 pixel_size_m: float = 10.0, span_days: float | None = None
                 ) -> tuple[TimelineParams, ChangeMap, list[str]]:
    """The global parameters of a site's timeline, fitted once for all its blocks.

    The detector runs on the mean of each pixel's first and last three clear
    observations (the series' early and late states): its threshold becomes the
    timeline's; the observation noise comes from consecutive clear observations.
    A block runner fits these on the whole site (or a sample of it), then calls
    :func:`~sitewatch.detectors.timeline.pixel_history` block by block with them.

    Returns
    -------
    params : TimelineParams
    two_date : ChangeMap
        The detector's result on the early and late states.
    notes : list of str
        Rules relaxed for lack of clear epochs.
    """
    first, last = first_last_clear(layers, valid, count=3)
    pair_ok = np.isfinite(first).all(axis=0)
    if pair_ok.sum() < 2:
        raise DataError("no pixel of the site was seen clear in two epochs: a timeline needs "
                        "repeated clear views (widen the dates, or a shorter cadence)")
    two = get_detector(method)(first, last, band_names=tuple(band_names), valid=pair_ok,
                               pixel_size_m=pixel_size_m, **TIMELINE_DETECTOR_PARAMS)
    thr = float(threshold) if threshold is not None else two.threshold
    if thr is None or not np.isfinite(thr) or thr <= 0:
        raise DetectorError(f"detector {method} gave no usable threshold ({thr}): pass "
                            "threshold=")
    noise = estimate_noise_var(layers, valid)
    notes: list[str] = []
    if valid is not None:
        clear = np.asarray(valid).sum(axis=0)
    else:
        clear = np.zeros(first.shape[1:], "int32")
        for layer in as_stack(layers)[0]:
            if layer is not None:
                clear += np.isfinite(layer).all(axis=0)
    max_clear = int(clear.max())
    if relax:
        persistence_days, min_before = relax_rules(
            max_clear, persistence_days, min_before, notes,
            n_epochs=sum(x is not None for x in layers), span_days=span_days)
    prm = TimelineParams(threshold=thr, noise_var=noise, persistence_days=persistence_days,
                         min_before=min_before, z_min=z_min, min_share=min_share)
    return prm, two, notes


def run_timeline(epochs: Sequence[Epoch], *, site: Site | None = None,
                 method: str = TIMELINE_DETECTOR, bands: Sequence[str] | None = None,
                 persistence_days: float = DEFAULT_PERSISTENCE_DAYS, min_before: int = 2,
                 z_min: float = 3.0, min_share: float = 0.5,
                 min_area_m2: float = DEFAULT_MIN_AREA_M2, threshold: float | None = None,
                 relax: bool = True) -> TimelineResult:
    """Per-pixel change history, events and progress of a series of epochs.

    Parameters
    ----------
    epochs : sequence of Epoch
        In time order, on one grid (gaps allowed), at least 3.
    site : Site, optional
        Pixels outside its outline are left out; named in the outputs.
    method : str
        Two-date detector whose threshold decides (its statistic must be a
        spectral distance: ``cva``).
    bands : sequence of str, optional
        Bands to use (default: every band all epochs hold).
    persistence_days : float
        The new state must be seen to hold this long (days, whatever the
        cadence: the next quarter of a quarterly series, two more months of a
        monthly one); 0 = no confirmation.
    min_before, z_min, min_share
        See :class:`~sitewatch.detectors.timeline.TimelineParams`.
    min_area_m2 : float
        Minimum mapping unit: smaller changed regions are dropped.
    threshold : float, optional
        Use this distance threshold instead of the detector's.
    relax : bool
        With too few clear epochs for ``min_before`` and ``persistence_days``, relax
        them (and say so in ``notes``) instead of finding nothing.

    Returns
    -------
    TimelineResult

    Raises
    ------
    DataError
        Fewer than 3 epochs, epochs on different grids, or no pixel seen twice.
    """
    epochs = list(epochs)
    present = [e for e in epochs if e.raster is not None]
    if len(epochs) < 3:
        raise DataError(f"a timeline needs at least 3 epochs, got {len(epochs)}: widen --from/"
                        "--to or use a shorter cadence (--every month)")
    if not present:
        raise DataError("every epoch is a gap (no clear observation): widen the dates or try "
                        "another source")
    ref = present[0].raster
    assert ref is not None
    for e in present[1:]:
        r = e.raster
        assert r is not None
        if r.crs != ref.crs or r.shape != ref.shape or not r.transform.almost_equals(
                ref.transform):
            raise DataError(f"epoch {e.label} is on another grid than {present[0].label}: "
                            "build all epochs on the site's grid")
    common = [b for b in ref.band_names
              if all(b in e.raster.band_names for e in present)]  # type: ignore[union-attr]
    use = timeline_bands(method, bands, common)
    notes: list[str] = []
    days = epoch_days(epochs)
    shape = ref.shape
    transform, crs = ref.transform, ref.crs
    area = np.broadcast_to(pixel_area_m2(transform, crs, shape), shape)
    inside = (site_mask(site, Grid(crs, transform, shape[1], shape[0])) if site is not None
              else np.ones(shape, bool))
    layers: list[np.ndarray | None] = []
    valid = np.zeros((len(epochs), *shape), bool)
    for i, e in enumerate(epochs):
        if e.raster is None:
            layers.append(None)
            continue
        r = e.raster if e.raster.band_names == use else e.raster.select(use)
        layers.append(r.data)
        ok = r.valid_mask() & inside
        if e.clear_count.shape == shape:
            ok &= e.clear_count > 0
        valid[i] = ok
    seen = valid.any(axis=0)
    summaries = _summaries(epochs, valid, inside, area)

    # the detector's threshold from the series' early and late states (three clear
    # observations each: states, not single scenes, are what the timeline compares)
    prm, two, fit_notes = fit_timeline(layers, valid, use, method=method, threshold=threshold,
                                       persistence_days=persistence_days,
                                       min_before=min_before, z_min=z_min, min_share=min_share,
                                       relax=relax, pixel_size_m=float(np.sqrt(np.median(area))),
                                       span_days=float(days[-1] - days[0]))
    notes += fit_notes
    hist = pixel_history(layers, prm, valid, days=days)
    ctype = _classify(hist.before_state, hist.after_state, use, hist.changed, notes)
    changed, date, ctype, seasonal = settle_changes(hist, ctype, area, use, min_area_m2,
                                                    float(days[-1] - days[0]), notes)
    events = timeline_events(date, transform, crs, last_unchanged=hist.last_unchanged,
                             change_type=ctype, confidence=hist.confidence,
                             magnitude=hist.magnitude)
    progress = progress_arrays(date, hist.first_epoch, hist.last_unchanged, ctype, area,
                               len(epochs))
    provs = [e.raster.provenance for e in present]  # type: ignore[union-attr]
    prov = provs[0].merged(*provs[1:])
    two_mask = two.mask & inside
    params = {"detector": method, "threshold": prm.threshold,
              "threshold_source": "given" if threshold is not None else
              f"{method} on the mean of each pixel's first and last three clear observations",
              **prm.to_dict(), "min_area_m2": min_area_m2, "bands": list(use)}
    two_date = {"detector": method, "threshold": two.threshold,
                "changed_area_m2": round(float(area[two_mask].sum()), 1),
                "note": "the detector on the mean of each pixel's first and last three clear "
                        "observations, for comparison"}
    log.info("timeline: %d epochs, %.0f m² changed in %d events", len(epochs),
             float(area[changed].sum()), len(events))
    res = TimelineResult(summaries, transform, crs, shape, use, hist, changed, date, ctype,
                         events, progress, inside & seen, np.ascontiguousarray(area), params,
                         two_date, prov, site, notes, source_epochs=epochs)
    res.seasonal = seasonal & inside
    return res


def site_timeline(site: Site, start: str, end: str, every: str | Sequence[tuple[str, str]]
                  = DEFAULT_CADENCE, *, source: str | ImagerySource = "sample",
                  source_options: dict[str, Any] | None = None, grid: Grid | None = None,
                  bands: Sequence[str] | None = None, cache: TileCache | None = None,
                  fetch_options: dict[str, Any] | None = None,
                  **timeline_options: Any) -> TimelineResult:
    """Fetch a site's epochs from an imagery source and run :func:`run_timeline` on them.

    The epochs are built as ``sitewatch fetch`` builds them
    (:func:`sitewatch.pipeline.fetch.run_fetch`: cloud screening, median
    composites, co-registration), so a timeline of a live source is as good as
    its fetch.

    Parameters
    ----------
    site : Site
    start, end : str
        ISO dates.
    every : {"month", "quarter", "year"} or explicit windows
    source : str or ImagerySource
        Registry name (``sample``, ``local``, ``earth-search``...) or a source object.
    source_options : dict, optional
        Passed to the source (``path=`` for local, ``url=``...).
    grid : Grid, optional
        Default: the source's grid for the site.
    bands : sequence of str, optional
        Bands to fetch and use (default: the source's usual land bands).
    cache : TileCache, optional
        Tile cache for remote sources (None: no cache).
    fetch_options : dict, optional
        More options of ``run_fetch`` (``max_scenes``, ``coregister``...).
    **timeline_options
        Passed to :func:`run_timeline`.

    Examples
    --------
    >>> from sitewatch.imagery.sources.sample import SampleSource
    >>> src = SampleSource()
    >>> tl = site_timeline(src.site(), "2015-07-01", "2018-06-30", "year", source=src,
    ...                    bands=["B02", "B03", "B04", "B08", "B11"])
    >>> [e.label for e in tl.epochs], bool(tl.changed.any())
    (['2015', '2016', '2017', '2018'], True)
    """
    from sitewatch.pipeline.fetch import run_fetch

    fetched = run_fetch(site, start, end, every, source=source, source_options=source_options,
                        bands=bands, grid=grid, cache=cache, **(fetch_options or {}))
    return run_timeline(fetched.epochs, site=site, bands=bands, **timeline_options)


def folder_timeline(folder: str | Path, *, site: Site | None = None,
                    **timeline_options: Any) -> TimelineResult:
    """Run :func:`run_timeline` on the epochs of a ``sitewatch fetch`` output folder.

    ``site`` defaults to the one recorded in the folder's manifest.
    """
    epochs = load_epochs(folder)
    if site is None:
        try:
            feat = json.loads((Path(folder) / MANIFEST).read_text()).get("site")
        except (OSError, json.JSONDecodeError):
            feat = None
        site = site_from_feature(feat) if feat else None
    return run_timeline(epochs, site=site, **timeline_options)
