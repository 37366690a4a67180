"""Sentinel-1 change detection: the log-ratio and the omnibus test for k images.

Inputs are backscatter *intensities in linear units* (not dB), one
polarisation (VV by default), as (1, M, N) arrays per date or a (k, M, N)
sequence. Speckle makes an L-look intensity gamma-distributed with shape L,
the equivalent number of looks (ENL), so ratios - not differences - are the
right statistics.

- **Log-ratio**: ``|ln(I_after / I_before)|`` (Dekker 1998; Bazi, Bruzzone,
  Melgani 2005), cut by the calibrated threshold of
  :class:`~sitewatch.detectors.statistic.StatisticDetector`.
- **Omnibus test** (Conradsen, Nielsen, Skriver 2016): the likelihood-ratio
  test that k gamma-distributed intensities share one mean. For a single
  polarisation (p = 1) with ENL ``n``::

      ln Q = n (k ln k + sum_i ln I_i - k ln sum_i I_i)
      -2 rho ln Q ~ chi2(k - 1),  rho = 1 - (k / n - 1 / (n k)) / (6 (k - 1))

  (first-order Box approximation; the paper's second-order term is omitted).
  For k = 2 it is the test on the ratio. Use :func:`omnibus_statistic` for a
  whole sequence; the ``s1-omnibus`` detector tests before vs after (each may
  be a stack of dates: every date enters the test). ``threshold="chi2"`` uses
  the chi-square at level ``far``, which assumes the ENL is right; the default
  fits the no-change bulk instead, which does not.

References
----------
K. Conradsen, A. A. Nielsen, H. Skriver, "Determining the points of change in
time series of polarimetric SAR data", IEEE TGRS 54(5), 3007-3024, 2016.
Y. Bazi, L. Bruzzone, F. Melgani, "An unsupervised approach based on the
generalized Gaussian model to automatic change detection in multitemporal SAR
images", IEEE TGRS 43(4), 2005.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> i1 = rng.gamma(4.4, 0.1 / 4.4, (1, 50, 50)); i2 = rng.gamma(4.4, 0.1 / 4.4, (1, 50, 50))
>>> i2[:, :10, :10] *= 30           # a new building: strong double bounce
>>> cm = OmnibusDetector(enl=4.4, threshold="chi2", far=0.001).run(i1, i2)
>>> bool(cm.mask[:10, :10].mean() > 0.85), bool(cm.mask[10:, 10:].mean() < 0.01)
(True, True)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from sitewatch.detectors.base import FitState
from sitewatch.detectors.params import Param, with_params
from sitewatch.detectors.partial import Partial
from sitewatch.detectors.registry import register_detector
from sitewatch.detectors.statistic import CHI2_PARAMS, StatisticDetector
from sitewatch.errors import DetectorError

__all__ = ["log_ratio", "omnibus_statistic", "omnibus_pvalue", "db_to_linear",
           "LogRatioDetector", "OmnibusDetector"]

_TINY = 1e-10


def db_to_linear(db: np.ndarray) -> np.ndarray:
    """Backscatter in dB to linear intensity.

    Examples
    --------
    >>> db_to_linear(np.array([0.0, -10.0]))
    array([1. , 0.1], dtype=float32)
    """
    return np.power(10.0, np.asarray(db, "float64") / 10.0).astype("float32")


def log_ratio(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``ln(after / before)`` of linear intensities (mean over bands if several).

    Examples
    --------
    >>> round(float(log_ratio(np.full((1, 1, 1), 0.1), np.full((1, 1, 1), 0.2))[0, 0]), 4)
    0.6931
    """
    b = np.maximum(np.asarray(before, "float64"), _TINY)
    a = np.maximum(np.asarray(after, "float64"), _TINY)
    return np.mean(np.log(a) - np.log(b), axis=0).astype("float32")  # type: ignore[no-any-return]


def omnibus_statistic(images: np.ndarray, enl: float) -> np.ndarray:
    """``-2 rho ln Q`` of the omnibus test that k intensities share one mean.

    Parameters
    ----------
    images : (k, M, N) ndarray
        Linear intensities of k dates (k >= 2), one polarisation.
    enl : float
        Equivalent number of looks of each image.

    Returns
    -------
    (M, N) float32 ndarray
        Approximately chi-square with k - 1 degrees of freedom without change.

    Examples
    --------
    >>> x = np.full((3, 1, 1), 0.1)
    >>> float(omnibus_statistic(x, 4.4)[0, 0])
    0.0
    """
    x = np.maximum(np.asarray(images, "float64"), _TINY)
    k = x.shape[0]
    if k < 2:
        raise DetectorError("the omnibus test needs at least two dates")
    if enl <= 0:
        raise DetectorError(f"ENL must be positive, got {enl}")
    lnq = enl * (k * np.log(k) + np.log(x).sum(axis=0) - k * np.log(x.sum(axis=0)))
    rho = 1 - (k / enl - 1 / (enl * k)) / (6 * (k - 1))
    return np.maximum(-2 * rho * lnq, 0).astype("float32")  # type: ignore[no-any-return]


def omnibus_pvalue(images: np.ndarray, enl: float) -> np.ndarray:
    """Per-pixel p-value of the omnibus test (small = change), chi-square approximation.

    Examples
    --------
    >>> x = np.stack([np.full((1, 1), 0.1), np.full((1, 1), 1.0)])
    >>> bool(omnibus_pvalue(x, 10)[0, 0] < 1e-4)
    True
    """
    k = np.asarray(images).shape[0]
    return stats.chi2.sf(omnibus_statistic(images, enl), k - 1).astype("float32")  # type: ignore[no-any-return]


@register_detector("s1-logratio", summary="Sentinel-1 log-ratio |ln(I2/I1)| of linear "
                   "intensities, threshold fitted to the no-change bulk.", bands=("VV",),
                   sensor="s1")
class LogRatioDetector(StatisticDetector):
    """Log-ratio change detector for SAR intensities (Bazi et al. 2005).

    The statistic is the absolute log-ratio of the after and before linear
    intensities (averaged over the given bands); speckle is multiplicative, so
    a ratio is the fair comparison. Thresholds as
    :class:`~sitewatch.detectors.statistic.StatisticDetector`.

    Parameters
    ----------
    threshold, far, bulk, null_family
        See :class:`~sitewatch.detectors.statistic.StatisticDetector`.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> i1 = rng.gamma(20, 0.1 / 20, (1, 40, 40)); i2 = rng.gamma(20, 0.1 / 20, (1, 40, 40))
    >>> i2[:, :5, :5] = 1.0
    >>> bool(LogRatioDetector(threshold="otsu").run(i1, i2).mask[:5, :5].all())
    True
    """

    null_power = 2.0

    def statistic(self, state: FitState, before: np.ndarray, after: np.ndarray,
                  valid: np.ndarray) -> np.ndarray:
        return np.abs(log_ratio(before, after))


@register_detector("s1-omnibus", summary="Sentinel-1 omnibus likelihood-ratio test "
                   "(Conradsen 2016) with the ENL as a parameter.", bands=("VV",), sensor="s1")
class OmnibusDetector(StatisticDetector):
    """Omnibus test of equal intensities over all dates of before and after (Conradsen 2016).

    ``before`` and ``after`` hold linear intensities of one polarisation; each
    band is taken as one date (a (k1, M, N) stack before and (k2, M, N)
    after test k1 + k2 dates at once).

    Parameters
    ----------
    enl : float
        Equivalent number of looks of each image (4.4 for Sentinel-1 IW GRD;
        larger for multi-date means or spatially averaged images).
    threshold : {"far", "otsu", "kittler", "chi2"} or float
        ``"chi2"`` cuts at the chi-square ``1 - far`` quantile (trusts the ENL).
    far, bulk, null_family
        See :class:`~sitewatch.detectors.statistic.StatisticDetector`.

    Examples
    --------
    >>> OmnibusDetector(enl=10).params["enl"]
    10
    """

    parameters = with_params(
        StatisticDetector.parameters, *CHI2_PARAMS,
        Param("enl", 4.4, "Equivalent number of looks of each image (4.4 for Sentinel-1 IW "
              "GRD).", low=0, low_open=True))

    def statistic(self, state: FitState, before: np.ndarray, after: np.ndarray,
                  valid: np.ndarray) -> np.ndarray:
        return omnibus_statistic(np.concatenate([before, after]), float(self.params["enl"]))

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial | None:
        p = super().block_stats(state, before, after, valid)
        if p is not None:
            p.maxs["dates"] = np.asarray(float(before.shape[0] + after.shape[0]))
        return p

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        out = super().end_pass(state, total)
        if self.params["threshold"] == "chi2" and total is not None:
            k = int(total.maxs["dates"])
            out["cut"] = float(stats.chi2(k - 1).isf(float(self.params["far"])))
        return out
