"""Thresholds that split a change statistic into change / no change.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.normal(0, 1, 900), rng.normal(8, 1, 100)])
>>> 2 < threshold_otsu(x) < 6
True
"""

from __future__ import annotations

import numpy as np
from skimage import filters

from sitewatch.errors import DetectorError

__all__ = ["threshold_otsu", "finite_values"]


def finite_values(stat: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """1-D array of the finite values of ``stat`` (inside ``valid`` if given)."""
    ok = np.isfinite(stat)
    if valid is not None:
        ok &= valid
    return np.asarray(stat[ok], dtype="float64")


def threshold_otsu(stat: np.ndarray, valid: np.ndarray | None = None, *, nbins: int = 256
                   ) -> float:
    """Otsu's threshold (Otsu 1979) of the finite values of a change statistic.

    Parameters
    ----------
    stat : ndarray
        Change statistic, larger = more change; NaN ignored.
    valid : bool ndarray, optional
        Pixels to use.
    nbins : int
        Histogram bins.

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms",
    IEEE Trans. SMC 9(1), 1979.
    """
    vals = finite_values(stat, valid)
    if vals.size < 2 or np.ptp(vals) == 0:
        raise DetectorError("cannot threshold: fewer than two distinct valid values "
                            "(is the whole site masked as cloud or no-data?)")
    return float(filters.threshold_otsu(vals, nbins=nbins))
