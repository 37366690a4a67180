"""Change vector analysis (CVA).

The change vector of a pixel is ``after - before`` across bands; its length
(magnitude) measures how much the spectrum moved, its angle to the before
spectrum (spectral angle) what kind of move it was.

References
----------
W. A. Malila, "Change vector analysis: an approach for detecting forest
changes with Landsat", LARS Symposia, 1980.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sitewatch.detectors.registry import register_detector
from sitewatch.detectors.thresholds import threshold_otsu
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["change_vector", "spectral_angle", "detect_cva", "check_pair"]


def check_pair(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a (B, M, N) pair; return float arrays and the joint valid mask.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.ones((2, 2, 2)); a = b.copy(); a[0, 0, 0] = np.nan
    >>> check_pair(b, a)[2]
    array([[False,  True],
           [ True,  True]])
    """
    b = np.asarray(before, dtype="float32")
    a = np.asarray(after, dtype="float32")
    if b.ndim != 3 or b.shape != a.shape:
        raise DetectorError(f"before {b.shape} and after {a.shape} must both be (band, row, col) "
                            "of one shape: load both dates on the same grid and bands")
    ok = np.isfinite(b).all(axis=0) & np.isfinite(a).all(axis=0)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    if not ok.any():
        raise DetectorError("no pixel is valid on both dates: every pixel is cloud or no-data")
    return b, a, ok


def change_vector(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
                  ) -> np.ndarray:
    """(M, N) magnitude of the change vector; NaN where either date is missing.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.zeros((2, 1, 2), "float32"); a = b.copy(); a[:, 0, 1] = [3, 4]
    >>> change_vector(b, a)
    array([[0., 5.]], dtype=float32)
    """
    b, a, ok = check_pair(before, after, valid)
    mag = np.sqrt(np.sum((a - b) ** 2, axis=0, dtype="float32"))
    mag[~ok] = np.nan
    return mag


def spectral_angle(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(M, N) angle in radians between the before and after spectra.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.array([1, 0], "float32").reshape(2, 1, 1)
    >>> a = np.array([0, 1], "float32").reshape(2, 1, 1)
    >>> round(float(spectral_angle(b, a)[0, 0]), 4)
    1.5708
    """
    b = np.asarray(before, dtype="float32")
    a = np.asarray(after, dtype="float32")
    dot = np.sum(a * b, axis=0)
    norm = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.arccos(np.clip(dot / norm, -1, 1)).astype("float32")


@register_detector("cva", summary="Change vector analysis: Euclidean length of the per-pixel "
                   "spectral difference, Otsu threshold.")
def detect_cva(before: np.ndarray, after: np.ndarray, *, band_names: Sequence[str] = (),
               valid: np.ndarray | None = None, pixel_size_m: float = 10.0,
               threshold: float | None = None, **params: Any) -> ChangeMap:
    """Change vector analysis with an Otsu threshold (Malila 1980; Otsu 1979).

    Parameters
    ----------
    before, after : (B, M, N) ndarray
        Reflectance of the two dates on one grid; NaN = missing.
    band_names : sequence of str
        Names of the B bands (recorded only).
    valid : (M, N) bool ndarray, optional
    pixel_size_m : float
        Unused here; part of the detector signature.
    threshold : float, optional
        Fixed magnitude threshold instead of Otsu's.

    Returns
    -------
    ChangeMap

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> b = rng.normal(0.2, 0.01, (4, 20, 20)).astype("float32"); a = b.copy()
    >>> a[:, 5:10, 5:10] += 0.2
    >>> cm = detect_cva(b, a)
    >>> int(cm.mask.sum()), bool(cm.mask[5:10, 5:10].all())
    (25, True)
    """
    mag = change_vector(before, after, valid)
    ok = np.isfinite(mag)
    t = float(threshold) if threshold is not None else threshold_otsu(mag, ok)
    mask = ok & (mag > t)
    return ChangeMap(magnitude=mag, mask=mask, method="cva", valid=ok, threshold=t,
                     params={"threshold": t, "threshold_method": "fixed" if threshold is not None
                             else "otsu", "bands": list(band_names)})
