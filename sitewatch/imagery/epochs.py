"""Epochs: a date range plus a cadence gives one composite per epoch.

An :class:`Epoch` holds the per-pixel composite of the clear observations in
its window, the per-pixel count of clear observations, and the scenes used.
A window with no usable scene is a gap (``raster is None``), never a guess.

Examples
--------
>>> [w.label for w in epoch_windows("2020-01-15", "2020-12-31", "quarter")]
['2020-Q1', '2020-Q2', '2020-Q3', '2020-Q4']
>>> epoch_windows("2020-01-15", "2020-03-31", "month")[0]
EpochWindow(label='2020-01', start='2020-01-15', end='2020-01-31')
"""

from __future__ import annotations

import calendar
import datetime as _dt
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.bands import S2_LAND_BANDS
from sitewatch.errors import ConfigError, NoSceneError
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.raster import Provenance, Raster, iso_date

__all__ = ["EpochWindow", "Epoch", "epoch_windows", "build_epochs", "composite_median",
           "CADENCES"]

log = logging.getLogger(__name__)

CADENCES = ("month", "quarter", "year")


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
        Quality notes (co-registration shift, low clear fraction...).
    """

    window: EpochWindow
    raster: Raster | None
    clear_count: np.ndarray
    scenes: list[SceneRecord] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.window.label

    @property
    def is_gap(self) -> bool:
        return self.raster is None

    @property
    def scene_ids(self) -> list[str]:
        return [s.id for s in self.scenes]


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
    stack = np.stack([r.data.astype("float32", copy=False) for r in rasters])  # (T, B, M, N)
    ok = np.stack(clear)[:, None, :, :] & np.isfinite(stack)
    masked = np.where(ok, stack, np.float32(np.nan))
    count = ok.all(axis=1).sum(axis=0).astype("uint16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
        comp = np.nanmedian(masked, axis=0).astype("float32")
    return comp, count


ClearFn = Callable[[Raster], np.ndarray]


def build_epochs(source: ImagerySource, site: Site, start: str, end: str,
                 every: str | Sequence[tuple[str, str]], *, grid: Grid | None = None,
                 bands: Sequence[str] = S2_LAND_BANDS, clear_mask: ClearFn | None = None,
                 scenes: Sequence[SceneRecord] | None = None, **search_options: Any
                 ) -> list[Epoch]:
    """One median composite of clear observations per epoch window.

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
        ``fn(raster) -> (M, N) bool`` of clear pixels (cloud screening); default:
        every valid pixel is clear.
    scenes : sequence of SceneRecord, optional
        Use these instead of searching.

    Returns
    -------
    list of Epoch
        In time order; windows without a usable scene are gaps.
    """
    windows = epoch_windows(start, end, every)
    grid = grid or source.native_grid(site)
    found = list(scenes) if scenes is not None else source.search(site, windows[0].start,
                                                                  windows[-1].end,
                                                                  **search_options)
    if not found:
        raise NoSceneError(f"no scene over {site.id} between {start} and {end}")
    epochs = []
    for w in windows:
        members = [s for s in found if w.contains(s.date)]
        rasters, clears, used = [], [], []
        for sc in members:
            r = source.load(sc, grid, bands)
            c = r.valid_mask()
            if clear_mask is not None:
                c &= clear_mask(r)
            if c.any():
                rasters.append(r)
                clears.append(c)
                used.append(sc)
        if not rasters:
            epochs.append(Epoch(w, None, np.zeros((grid.height, grid.width), "uint16"),
                                [], {"gap": "no clear observation"}))
            continue
        comp, count = composite_median(rasters, clears)
        prov = Provenance(source.name, tuple(s.id for s in used),
                          {"composite": "median of clear observations", "epoch": w.label,
                           **rasters[0].provenance.processing})
        raster = Raster(comp, grid.transform, grid.crs, band_names=tuple(bands),
                        dates=tuple(s.date for s in used), provenance=prov,
                        attrs={"epoch": w.label, "window": [w.start, w.end]})
        epochs.append(Epoch(w, raster, count, used))
        log.info("epoch %s: %d scenes, median %d clear obs", w.label, len(used),
                 int(np.median(count)))
    return epochs
