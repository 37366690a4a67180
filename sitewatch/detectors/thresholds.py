"""Thresholds that split a change statistic into change / no change, and change probability.

Three ways to cut a statistic ``s`` (larger = more change):

- :func:`threshold_otsu` (Otsu 1979): maximise the between-class variance;
- :func:`threshold_kittler` (Kittler & Illingworth 1986): minimum error under
  a two-Gaussian mixture;
- a user-set false-alarm rate. Most pixels of a scene do not change, so the
  statistic's own distribution estimates the no-change one: the detectors'
  default cut is its empirical ``1 - alpha`` quantile
  (:class:`~sitewatch.detectors.statistic.StatisticDetector`, measured on the
  OSCD cities in ``benchmarks/results/oscd.md``). :func:`fit_null` +
  :meth:`NullFit.threshold` is the parametric alternative: the *bulk* of the
  statistic (below its ``bulk`` quantile, 0.8 by default) is a sample of the
  no-change distribution. A two-parameter family (gamma by default, i.e. a
  scaled chi-square with free degrees of freedom) is fitted to that bulk by
  truncated maximum likelihood on the histogram, and the threshold is the
  fitted null's ``1 - alpha`` quantile. This replaces the theoretical
  chi-square of IR-MAD, whose null hypothesis fails on real seasonal pairs.
  On real pairs the fitted tail is too light (seasons, haze and
  misregistration fatten it), which is why the empirical quantile is the
  default cut. :meth:`NullFit.probability` gives each pixel's change probability as one
  minus the local false discovery rate (Efron 2004), ``1 - pi0 f0(s) / f(s)``
  with ``f`` the observed density, monotone in ``s``.

Every threshold also works on a histogram (``hist=``), so block runners merge
histograms of blocks and cut once.

References
----------
N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans.
SMC 9(1), 1979. J. Kittler, J. Illingworth, "Minimum error thresholding",
Pattern Recognition 19(1), 1986. B. Efron, "Large-scale simultaneous hypothesis
testing: the choice of a null hypothesis", JASA 99, 2004.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.normal(0, 1, 900), rng.normal(8, 1, 100)])
>>> 2 < threshold_otsu(x) < 6, 2 < threshold_kittler(x) < 6
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats
from skimage import filters

from sitewatch.detectors.partial import Histogram
from sitewatch.errors import DetectorError

__all__ = ["threshold_otsu", "threshold_kittler", "finite_values", "NullFit", "fit_null",
           "stat_histogram", "NULL_FAMILIES"]

#: Families the no-change distribution may be fitted with.
NULL_FAMILIES = ("gamma", "lognorm")


def finite_values(stat: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """1-D float64 array of the finite values of ``stat`` (inside ``valid`` if given).

    Examples
    --------
    >>> finite_values(np.array([1.0, np.nan, 3.0]))
    array([1., 3.])
    """
    ok = np.isfinite(stat)
    if valid is not None:
        ok &= valid
    return np.asarray(stat[ok], dtype="float64")


def stat_histogram(stat: np.ndarray, valid: np.ndarray | None = None, *, nbins: int = 4096,
                   lo: float | None = None, hi: float | None = None
                   ) -> tuple[np.ndarray, Histogram]:
    """Counts and edges of a statistic's histogram (range from the data unless given).

    Examples
    --------
    >>> c, h = stat_histogram(np.arange(10.0), nbins=5)
    >>> c, h.lo, h.hi
    (array([2., 2., 2., 2., 2.]), 0.0, 9.0)
    """
    vals = finite_values(stat, valid)
    if vals.size < 2 or np.ptp(vals) == 0:
        raise DetectorError("cannot threshold: fewer than two distinct valid values "
                            "(is the whole site masked as cloud or no-data?)")
    h = Histogram(float(vals.min()) if lo is None else lo,
                  float(vals.max()) if hi is None else hi, nbins)
    return h.counts(vals), h


def _hist_arg(stat: np.ndarray | None, valid: np.ndarray | None, nbins: int,
              hist: tuple[Any, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """(counts, bin values): ``hist`` is (counts, Histogram) or (counts, Histogram, values)."""
    if hist is not None:
        counts = np.asarray(hist[0], "float64")
        if np.count_nonzero(counts) < 2:
            raise DetectorError("cannot threshold: fewer than two distinct valid values")
        values = hist[2] if len(hist) > 2 else hist[1].centers
        return counts, np.asarray(values, "float64")
    if stat is None:
        raise DetectorError("give a statistic or a histogram")
    counts, h = stat_histogram(stat, valid, nbins=nbins)
    return counts, h.centers


def threshold_otsu(stat: np.ndarray | None = None, valid: np.ndarray | None = None, *,
                   nbins: int = 256, hist: tuple[Any, ...] | None = None) -> float:
    """Otsu's threshold (Otsu 1979) of the finite values of a change statistic.

    Parameters
    ----------
    stat : ndarray, optional
        Change statistic, larger = more change; NaN ignored.
    valid : bool ndarray, optional
        Pixels to use.
    nbins : int
        Histogram bins (when ``stat`` is given).
    hist : (counts, Histogram) or (counts, Histogram, values), optional
        A merged histogram instead of ``stat`` (``values``: the statistic value
        of each bin, when the bins are of a transform of it).

    Examples
    --------
    >>> threshold_otsu(np.array([0.0, 0.1, 0.2, 5.0, 5.1]), nbins=64) < 5
    True
    """
    counts, x = _hist_arg(stat, valid, nbins, hist)
    return float(filters.threshold_otsu(hist=(counts, x)))


def threshold_kittler(stat: np.ndarray | None = None, valid: np.ndarray | None = None, *,
                      nbins: int = 256, hist: tuple[Any, ...] | None = None) -> float:
    """Kittler-Illingworth minimum-error threshold of a change statistic.

    Minimises ``J(t) = 1 + 2 (P1 ln s1 + P2 ln s2) - 2 (P1 ln P1 + P2 ln P2)``
    over thresholds ``t``, where ``Pi``, ``si`` are the weight and standard
    deviation of the two classes split at ``t`` (a two-Gaussian mixture).

    Parameters
    ----------
    stat, valid, nbins, hist
        As :func:`threshold_otsu`.

    References
    ----------
    J. Kittler, J. Illingworth, "Minimum error thresholding", Pattern
    Recognition 19(1), 41-47, 1986.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(0, 1, 5000), rng.normal(6, 2, 500)])
    >>> 2 < threshold_kittler(x) < 5
    True
    """
    counts, x = _hist_arg(stat, valid, nbins, hist)
    p = counts / counts.sum()
    p1 = np.cumsum(p)
    m1 = np.cumsum(p * x)
    q1 = np.cumsum(p * x * x)
    p2 = 1 - p1
    m2 = m1[-1] - m1
    q2 = q1[-1] - q1
    with np.errstate(invalid="ignore", divide="ignore"):
        mu1, mu2 = m1 / p1, m2 / p2
        v1 = q1 / p1 - mu1 ** 2
        v2 = q2 / p2 - mu2 ** 2
        j = 1 + p1 * np.log(v1) + p2 * np.log(v2) - 2 * (p1 * np.log(p1) + p2 * np.log(p2))
    floor = (float(np.min(np.diff(x))) ** 2) / 12  # a class narrower than a bin is degenerate
    bad = ~np.isfinite(j) | (v1 <= floor) | (v2 <= floor) | (p1 <= 0) | (p2 <= 0)
    if bad.all():
        raise DetectorError("Kittler-Illingworth: the histogram has no two-class split")
    j[bad] = np.inf
    i = int(np.argmin(j))
    return float((x[i] + x[min(i + 1, len(x) - 1)]) / 2)


def _dist(family: str, a: float, scale: float) -> Any:
    if family == "gamma":
        return stats.gamma(a, scale=scale)
    if family == "lognorm":
        return stats.lognorm(a, scale=scale)
    raise DetectorError(f"unknown null family {family!r}: use one of {', '.join(NULL_FAMILIES)}")


@dataclass(frozen=True)
class NullFit:
    """A no-change distribution fitted to the bulk of a statistic (see :func:`fit_null`).

    Attributes
    ----------
    family : str
        ``"gamma"`` (shape ``a``, ``scale``) or ``"lognorm"`` (sigma ``a``, ``scale``).
    a, scale : float
        Fitted parameters.
    pi0 : float
        Estimated share of no-change pixels (at most 1).
    bulk_quantile : float
        The quantile of the statistic up to which the fit used the data.
    counts : (nbins,) ndarray
        The histogram the fit was made on (for probabilities).
    hist : Histogram
    """

    family: str
    a: float
    scale: float
    pi0: float
    bulk_quantile: float
    counts: np.ndarray
    hist: Histogram

    @property
    def dist(self) -> Any:
        """The frozen scipy distribution of the null."""
        return _dist(self.family, self.a, self.scale)

    def threshold(self, alpha: float) -> float:
        """Statistic value exceeded by a share ``alpha`` of no-change pixels.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> s = rng.chisquare(4, 200000)
        >>> nf = fit_null(*stat_histogram(s))
        >>> round(nf.threshold(0.05), 1), round(float(stats.chi2(4).ppf(0.95)), 1)
        (9.5, 9.5)
        """
        if not 0 < alpha < 1:
            raise DetectorError(f"false-alarm rate must be between 0 and 1, got {alpha}")
        return float(self.dist.isf(alpha))

    def pvalue(self, stat: np.ndarray) -> np.ndarray:
        """Per-pixel probability of a value this large or larger without change.

        Examples
        --------
        >>> nf = fit_null(*stat_histogram(np.random.default_rng(0).chisquare(2, 50000)))
        >>> bool(nf.pvalue(np.array([0.0]))[0] > 0.99)
        True
        """
        return np.asarray(self.dist.sf(np.asarray(stat, "float64")), "float32")

    def probability_table(self) -> np.ndarray:
        """(nbins,) change probability per histogram bin: ``1 - local fdr``, monotone.

        Examples
        --------
        >>> rng = np.random.default_rng(2)
        >>> s = np.concatenate([rng.chisquare(3, 95000), rng.normal(40, 3, 5000)])
        >>> t = fit_null(*stat_histogram(s, nbins=512)).probability_table()
        >>> float(t[0]) < 0.01, float(t[-1]) > 0.99
        (True, True)
        """
        h = self.hist
        edges = h.edges
        f0 = np.diff(self.dist.cdf(edges)) * self.pi0
        f = self.counts / max(self.counts.sum(), 1.0)
        # smooth the observed density where it is thin (a few-count tail)
        k = np.ones(9) / 9
        fs = np.convolve(f, k, mode="same")
        with np.errstate(invalid="ignore", divide="ignore"):
            lfdr = np.where(fs > 0, f0 / fs, 0.0)
        prob = np.clip(1 - lfdr, 0, 1)
        below = h.centers < self.dist.median()
        prob[below] = 0.0  # the bulk is no change by construction
        return np.maximum.accumulate(prob)

    def probability(self, stat: np.ndarray) -> np.ndarray:
        """Per-pixel change probability (0-1) of a statistic; NaN stays NaN.

        Examples
        --------
        >>> rng = np.random.default_rng(2)
        >>> s = np.concatenate([rng.chisquare(3, 95000), rng.normal(40, 3, 5000)])
        >>> nf = fit_null(*stat_histogram(s))
        >>> p = nf.probability(np.array([1.0, 40.0, np.nan]))
        >>> float(p[0]) < 0.05, float(p[1]) > 0.95, bool(np.isnan(p[2]))
        (True, True, True)
        """
        s = np.asarray(stat, "float64")
        table = self.probability_table()
        out = table[self.hist.index(np.where(np.isfinite(s), s, self.hist.lo))]
        out = np.where(s > self.hist.hi, 1.0, out)
        return np.where(np.isfinite(s), out, np.nan).astype("float32")

    def to_dict(self) -> dict[str, Any]:
        """The fit's parameters for provenance.

        Examples
        --------
        >>> nf = fit_null(*stat_histogram(np.random.default_rng(0).chisquare(2, 5000)))
        >>> sorted(nf.to_dict())
        ['a', 'bulk_quantile', 'family', 'pi0', 'scale']
        """
        return {"family": self.family, "a": round(self.a, 6), "scale": round(self.scale, 6),
                "pi0": round(self.pi0, 6), "bulk_quantile": self.bulk_quantile}


def fit_null(counts: np.ndarray, hist: Histogram, *, bulk: float = 0.8,
             family: str = "gamma") -> NullFit:
    """Fit the no-change distribution to the bulk of a non-negative statistic's histogram.

    Truncated maximum likelihood on the binned data: only the bins below the
    ``bulk`` quantile enter, each with its probability conditional on lying
    below the cut, so change pixels above the cut cannot fatten the fitted
    tail. The estimate of ``pi0`` (share of no-change pixels) is the
    observed share below the cut divided by the fitted null's probability of it.

    Parameters
    ----------
    counts : (nbins,) ndarray
        Histogram counts of the statistic (values >= 0).
    hist : Histogram
        Its bins.
    bulk : float
        Quantile of the data up to which the fit uses it (0.5-0.99).
    family : {"gamma", "lognorm"}

    Returns
    -------
    NullFit

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> s = np.concatenate([rng.gamma(2.0, 1.5, 90000), rng.uniform(10, 30, 10000)])
    >>> nf = fit_null(*stat_histogram(s))
    >>> round(nf.a, 1), round(nf.scale, 1), round(nf.pi0, 2)
    (2.0, 1.5, 0.9)
    """
    if not 0.3 <= bulk < 1:
        raise DetectorError(f"bulk quantile must be in [0.3, 1), got {bulk}")
    counts = np.asarray(counts, "float64")
    n = counts.sum()
    if n <= 0 or np.count_nonzero(counts) < 3:
        raise DetectorError("cannot fit a no-change distribution: fewer than three distinct "
                            "values (is the whole site masked?)")
    cut = hist.quantile(counts, bulk)
    edges = hist.edges
    ib = max(1, int(np.searchsorted(edges, cut, side="right")) - 1)  # bins [0, ib) in the bulk
    c_in = counts[:ib]
    e = np.maximum(edges[: ib + 1], 0.0)
    x = hist.centers[:ib]
    w = c_in / max(c_in.sum(), 1.0)
    mean = float(np.sum(w * x))
    var = float(np.sum(w * (x - mean) ** 2)) or hist.width ** 2
    if family == "gamma":
        start = np.log([max(mean * mean / var, 0.1), max(var / max(mean, 1e-12), 1e-12)])
    elif family == "lognorm":
        lx = np.log(np.maximum(x, hist.width / 2))
        lm = float(np.sum(w * lx))
        start = np.array([np.log(max(np.sqrt(np.sum(w * (lx - lm) ** 2)), 1e-3)), lm])
    else:
        _dist(family, 1, 1)

    def nll(theta: np.ndarray) -> float:
        d = _dist(family, float(np.exp(theta[0])), float(np.exp(theta[1])))
        cdf = d.cdf(e)
        pb = np.maximum(np.diff(cdf), 1e-300)
        return float(-(c_in @ np.log(pb / max(cdf[-1] - cdf[0], 1e-300))) / n)

    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 4000})
    a, scale = float(np.exp(res.x[0])), float(np.exp(res.x[1]))
    d = _dist(family, a, scale)
    pi0 = float(min(1.0, (c_in.sum() / n) / max(float(d.cdf(e[-1])), 1e-12)))
    return NullFit(family, a, scale, pi0, bulk, counts, hist)
