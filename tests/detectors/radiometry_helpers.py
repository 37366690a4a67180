"""Test helper: a pair given with other radiometry."""

from __future__ import annotations

import numpy as np


def other_radiometry(before: np.ndarray, after: np.ndarray, which: str, *, seed: int = 21
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The pair with one date given another per-band gain and offset (TOA vs surface
    reflectance is close to this): ``which`` is ``"before"`` or ``"after"``."""
    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.7, 1.3, (before.shape[0], 1, 1)).astype("float32")
    offset = rng.uniform(-0.03, 0.05, (before.shape[0], 1, 1)).astype("float32")
    if which == "before":
        return before * gain + offset, after
    return before, after * gain + offset
