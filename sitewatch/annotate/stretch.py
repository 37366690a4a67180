"""Display stretches: one robust stretch shared by every panel of a figure.

A stretch computed once over all panels keeps brightness differences between
dates real; per-panel stretches would hide or invent them.

Examples
--------
>>> import numpy as np
>>> a = np.linspace(0, 1, 101, dtype="float32").reshape(1, 1, 101)
>>> s = shared_stretch([a], low=2, high=98)
>>> [round(float(v), 2) for v in s.lo], [round(float(v), 2) for v in s.hi]
([0.02], [0.98])
>>> float(s.apply(a)[0, 0, -1]), float(s.apply(a)[0, 0, 0])
(1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Stretch", "shared_stretch", "to_rgb"]


@dataclass(frozen=True)
class Stretch:
    """Per-band linear stretch from [lo, hi] to [0, 1] with an optional gamma."""

    lo: np.ndarray
    hi: np.ndarray
    gamma: float = 1.0

    def apply(self, data: np.ndarray) -> np.ndarray:
        """(B, M, N) -> (B, M, N) float32 in [0, 1]; NaN stays NaN."""
        lo = self.lo.reshape(-1, 1, 1)
        hi = self.hi.reshape(-1, 1, 1)
        out = (np.asarray(data, "float32") - lo) / np.maximum(hi - lo, 1e-12)
        out = np.clip(out, 0, 1)
        if self.gamma != 1.0:
            out = out ** (1 / self.gamma)
        return out.astype("float32")


def shared_stretch(arrays: Sequence[np.ndarray], *, low: float = 2.0, high: float = 98.0,
                   gamma: float = 1.0, per_band: bool = False) -> Stretch:
    """Percentile stretch over the finite pixels of all arrays together.

    ``per_band=False`` (default) uses one range for every band, which keeps
    colours honest (no false colour casts); ``True`` balances each band.
    """
    stack = np.concatenate([np.asarray(a, "float32").reshape(a.shape[0], -1) for a in arrays],
                           axis=1)
    nb = stack.shape[0]
    if per_band:
        lo = np.array([np.nanpercentile(stack[i], low) for i in range(nb)])
        hi = np.array([np.nanpercentile(stack[i], high) for i in range(nb)])
    else:
        lo = np.full(nb, np.nanpercentile(stack, low))
        hi = np.full(nb, np.nanpercentile(stack, high))
    return Stretch(lo.astype("float32"), hi.astype("float32"), gamma)


def to_rgb(data: np.ndarray, stretch: Stretch) -> np.ndarray:
    """(3, M, N) bands -> (M, N, 3) image in [0, 1]; missing pixels white-grey."""
    img = np.moveaxis(stretch.apply(data), 0, -1)
    missing = ~np.isfinite(img).all(axis=-1)
    img = np.nan_to_num(img, nan=0.0)
    img[missing] = 0.85
    return img
