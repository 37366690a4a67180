"""Detectors as a block runner drives them (fit/apply, :mod:`sitewatch.detectors.base`).

:func:`create_block_detector` configures a registered detector;
:func:`apply_block` applies it to one block and adds the change type exactly as
:func:`sitewatch.pipeline.detect_change` does for whole arrays, so a block runner
and the in-memory path give the same change map.

Examples
--------
>>> import numpy as np
>>> from sitewatch.detectors.partial import merge_partials
>>> det = create_block_detector("cva", threshold="otsu")
>>> rng = np.random.default_rng(0)
>>> b = rng.normal(0.2, 0.01, (3, 40, 40)).astype("float32"); a = b.copy()
>>> a[:, 5:15, 5:15] += 0.3
>>> ok = np.ones((40, 40), bool)
>>> st = det.initial_state()
>>> while not det.fit_done(st):
...     parts = [det.block_stats(st, b[:, r:r + 10], a[:, r:r + 10], ok[r:r + 10])
...              for r in range(0, 40, 10)]
...     st = det.end_pass(st, merge_partials(parts))
...     st["pass"] = st.get("pass", 0) + 1
>>> int(apply_block(det, st, b, a, ok).mask.sum())
100
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sitewatch.detectors.base import Detector
from sitewatch.detectors.changetype import classify_change
from sitewatch.detectors.indices import INDEX_BANDS
from sitewatch.detectors.registry import get_detector
from sitewatch.types import ChangeMap

__all__ = ["create_block_detector", "apply_block"]


def create_block_detector(name: str, *, band_names: tuple[str, ...] = (),
                          pixel_size_m: float = 10.0, **params: Any) -> Detector:
    """A configured detector (fit/apply protocol) by registry name.

    Raises
    ------
    DetectorError
        Unknown detector or parameter.
    """
    return get_detector(name).create(band_names=band_names, pixel_size_m=pixel_size_m,
                                     **params)


def apply_block(det: Detector, state: dict[str, Any], before: np.ndarray, after: np.ndarray,
                valid: np.ndarray | None = None) -> ChangeMap:
    """The change map of one block, typed like the in-memory path types it.

    ``valid``: the caller's mask of valid pixels, if any beyond the finite ones (the
    detector's :func:`~sitewatch.detectors.base.check_pair` finds the NaN itself).
    """
    cm = det.apply(state, before, after, valid)
    names = det.band_names
    if cm.change_type is None and cm.mask.any() and all(n in names for n in INDEX_BANDS):
        # the rules are per pixel: type only the changed pixels (a few percent of a block)
        rows, cols = np.nonzero(cm.mask)
        codes = classify_change(before[:, rows, cols][:, :, None],
                                after[:, rows, cols][:, :, None], names)
        ct = np.zeros(cm.mask.shape, "uint8")
        ct[rows, cols] = codes[:, 0]
        cm.change_type = ct
    return cm
