"""Helpers of the timeline tests: synthetic epoch stacks with known answers, Epoch objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from affine import Affine

from sitewatch.imagery.epochs import Epoch, epoch_windows
from sitewatch.imagery.scene import SceneRecord
from sitewatch.raster import Provenance, Raster

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
#: Spectra (B02 B03 B04 B08 B11 B12) of a field and of new asphalt.
FIELD = np.array([0.045, 0.075, 0.055, 0.32, 0.20, 0.11], "float32")
ASPHALT = np.array([0.09, 0.10, 0.11, 0.13, 0.15, 0.13], "float32")
SOIL = np.array([0.10, 0.13, 0.16, 0.22, 0.32, 0.26], "float32")
TRANSFORM = Affine(10, 0, 616000, 0, -10, 4431500)
CRS = "EPSG:32651"


@dataclass
class Series:
    """A synthetic stack and what is known about it."""

    stack: np.ndarray           # (T, B, M, N) with NaN gaps
    valid: np.ndarray           # (T, M, N)
    truth: np.ndarray           # (M, N) first epoch of the new state, -1 none
    notes: dict[str, object] = field(default_factory=dict)


def make_series(epochs: int = 12, shape: tuple[int, int] = (30, 30), *, noise: float = 0.004,
                changes: Sequence[tuple[tuple[slice, slice], int, np.ndarray]] = (),
                transients: Sequence[tuple[tuple[slice, slice], int, float]] = (),
                clouds: Sequence[tuple[tuple[slice, slice], int]] = (),
                seed: int = 12345) -> Series:
    """A field with noise; ``changes`` switch a window to a spectrum from epoch ``k``;
    ``transients`` brighten a window in one epoch (a missed cloud); ``clouds`` mask
    a window in one epoch (a gap)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    base = np.broadcast_to(FIELD[:, None, None], (len(FIELD), rows, cols))
    stack = np.empty((epochs, len(FIELD), rows, cols), "float32")
    truth = np.full(shape, -1, "int16")
    for t in range(epochs):
        img = base.copy()
        for win, k, spec in changes:
            if t >= k:
                img[(slice(None), *win)] = spec[:, None, None]
        stack[t] = img + rng.normal(0, noise, img.shape)
    for win, k, _ in changes:
        truth[win] = k
    for win, t, amount in transients:
        stack[(t, slice(None), *win)] += amount
    valid = np.ones((epochs, rows, cols), bool)
    for win, t in clouds:
        valid[(t, *win)] = False
        stack[(t, slice(None), *win)] = np.nan
    return Series(stack, valid, truth)


def make_epochs(stack: np.ndarray, *, start: str = "2020-01-01", every: str = "quarter",
                gaps: Sequence[int] = (), transform: Affine = TRANSFORM, crs: str = CRS,
                bands: Sequence[str] = BANDS) -> list[Epoch]:
    """Epoch objects (one scene each) around a (T, B, M, N) stack; ``gaps`` are empty epochs."""
    t = stack.shape[0]
    months = {"quarter": 3, "month": 1, "year": 12}[every]
    y0, m0 = int(start[:4]), int(start[5:7])
    end_m = m0 + months * t - 1
    end = f"{y0 + (end_m - 1) // 12}-{(end_m - 1) % 12 + 1:02d}-28"
    wins = epoch_windows(start, end, every)[:t]
    out = []
    for i, w in enumerate(wins):
        shape = stack.shape[2:]
        if i in gaps:
            out.append(Epoch(w, None, np.zeros(shape, "uint16"), [], {"gap": "test"}))
            continue
        date = w.start[:8] + "15"
        sid = f"S2TEST_{date.replace('-', '')}"
        r = Raster(stack[i], transform, crs, band_names=tuple(bands), dates=(date,),
                   provenance=Provenance("test", (sid,)))
        cc = np.isfinite(stack[i]).all(axis=0).astype("uint16")
        out.append(Epoch(w, r, cc, [SceneRecord(sid, f"{date}T02:00:00Z", source="test")]))
    return out


def make_scene_epochs(stack: np.ndarray, *, start: str = "2020-01-01", step_days: int = 10,
                      bands: Sequence[str] = BANDS) -> list[Epoch]:
    """One epoch per scene (an explicit one-day window per acquisition), ``step_days`` apart."""
    import datetime as dt

    d0 = dt.date.fromisoformat(start)
    days = [(d0 + dt.timedelta(days=step_days * i)).isoformat() for i in range(len(stack))]
    wins = epoch_windows(days[0], days[-1], [(d, d) for d in days])
    out = []
    for i, w in enumerate(wins):
        sid = f"S2TEST_{days[i].replace('-', '')}"
        r = Raster(stack[i], TRANSFORM, CRS, band_names=tuple(bands), dates=(days[i],),
                   provenance=Provenance("test", (sid,)))
        cc = np.isfinite(stack[i]).all(axis=0).astype("uint16")
        out.append(Epoch(w, r, cc, [SceneRecord(sid, f"{days[i]}T02:00:00Z", source="test")]))
    return out
