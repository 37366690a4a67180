"""Relative radiometric normalisation from IR-MAD invariant pixels (orthogonal regression).

Canty & Nielsen (2008): run IR-MAD on the pair, take the pixels it finds
most certainly unchanged (here: the ``invariant_share`` with the smallest MAD
chi-square, 25 % by default - the theoretical chi-square p-value is not
trusted on real pairs), and for each band fit ``before = intercept + slope *
after`` on them by orthogonal (total least squares) regression, which treats
both dates as noisy. The after image mapped by these lines is radiometrically
comparable to the before image, so difference-based detectors (CVA,
PCA-k-means) can use it; ``normalize=True`` on those detectors does this.

Blockwise: the IR-MAD passes, one histogram pass (the invariant cut), one
pass of per-band sums over the invariant pixels.

References
----------
M. J. Canty, A. A. Nielsen, "Automatic radiometric normalization of
multitemporal satellite imagery with the iteratively re-weighted MAD
transformation", Remote Sens. Environ. 112(3), 1025-1036, 2008.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> b = rng.uniform(0.02, 0.4, (3, 50, 50)).astype("float32")
>>> a = 1.3 * b + 0.05 + rng.normal(0, 0.002, b.shape).astype("float32")   # haze + gain
>>> a[:, :10, :10] = 0.6                                                     # a change
>>> norm, report = normalize_radiometry(b, a)
>>> float(np.abs(norm - b)[:, 20:, 20:].mean()) < 0.005
True
>>> [round(s, 2) for s in report["slope"]]
[0.77, 0.77, 0.77]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sitewatch.detectors.base import FitState, check_pair
from sitewatch.detectors.irmad import IRMADFit
from sitewatch.detectors.partial import Partial
from sitewatch.detectors.statistic import STAT_HISTOGRAM
from sitewatch.errors import DetectorError

__all__ = ["IMADNormalization", "normalize_radiometry", "orthogonal_regression"]


def orthogonal_regression(sx: float, sy: float, sxx: float, syy: float, sxy: float, n: float
                          ) -> tuple[float, float]:
    """Intercept and slope of ``y = a + b x`` by orthogonal regression, from sums.

    The line is the first principal axis of the (x, y) covariance.

    Examples
    --------
    >>> x = np.array([0.0, 1, 2, 3]); y = 2 * x + 1
    >>> a, b = orthogonal_regression(x.sum(), y.sum(), x @ x, y @ y, x @ y, 4)
    >>> round(a, 6), round(b, 6)
    (1.0, 2.0)
    """
    mx, my = sx / n, sy / n
    vxx, vyy, vxy = sxx / n - mx * mx, syy / n - my * my, sxy / n - mx * my
    if abs(vxy) < 1e-30:
        raise DetectorError("orthogonal regression: the invariant pixels do not vary together "
                            "(constant band?)")
    b = (vyy - vxx + np.sqrt((vyy - vxx) ** 2 + 4 * vxy * vxy)) / (2 * vxy)
    return float(my - b * mx), float(b)


class IMADNormalization:
    """The normalisation as a sequence of fit passes (a stage of other detectors).

    Parameters
    ----------
    invariant_share : float
        Share of valid pixels, those with the smallest MAD chi-square, used as invariant.
    **irmad
        ``max_iter``, ``tol``, ``ridge`` of :class:`~sitewatch.detectors.irmad.IRMADFit`.

    Examples
    --------
    >>> IMADNormalization(invariant_share=0.1).invariant_share
    0.1
    """

    def __init__(self, *, invariant_share: float = 0.25, **irmad: Any) -> None:
        if not 0 < invariant_share <= 0.9:
            raise DetectorError(f"invariant_share must be in (0, 0.9], got {invariant_share}")
        self.invariant_share = float(invariant_share)
        self.irmad = IRMADFit(**irmad)

    def initial_state(self) -> FitState:
        return self.irmad.initial_state()

    def done(self, state: FitState) -> bool:
        return "norm_slope" in state

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial:
        if not self.irmad.done(state):
            return self.irmad.block_stats(state, before, after, valid)
        chi = self.irmad.statistic(state, before, after, valid)
        if "norm_cut" not in state:
            return Partial.of(sums={"hist": STAT_HISTOGRAM.counts(chi[valid])})
        inv = valid & (chi <= state["norm_cut"])
        x, y = after[:, inv].astype("float64"), before[:, inv].astype("float64")
        return Partial.of(sums={"n": inv.sum(), "sx": x.sum(1), "sy": y.sum(1),
                                "sxx": (x * x).sum(1), "syy": (y * y).sum(1),
                                "sxy": (x * y).sum(1)})

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        if total is None:
            raise DetectorError("radiometric normalisation: no valid pixel")
        if not self.irmad.done(state):
            return self.irmad.end_pass(state, total)
        if "norm_cut" not in state:
            cut = STAT_HISTOGRAM.quantile(total.sums["hist"], self.invariant_share)
            return {**state, "norm_cut": cut}
        s = total.sums
        n = float(s["n"])
        if n < 10:
            raise DetectorError("radiometric normalisation: fewer than 10 invariant pixels")
        fits = [orthogonal_regression(s["sx"][i], s["sy"][i], s["sxx"][i], s["syy"][i],
                                      s["sxy"][i], n) for i in range(len(s["sx"]))]
        return {**state, "norm_intercept": np.array([f[0] for f in fits]),
                "norm_slope": np.array([f[1] for f in fits]), "norm_pixels": n}

    @staticmethod
    def transform(state: FitState, after: np.ndarray) -> np.ndarray:
        """The after image mapped onto the before image's radiometry."""
        a = np.asarray(state["norm_intercept"], "float32")[:, None, None]
        b = np.asarray(state["norm_slope"], "float32")[:, None, None]
        return (a + b * np.asarray(after, "float32")).astype("float32")

    @staticmethod
    def report(state: FitState) -> dict[str, Any]:
        """Slopes, intercepts and invariant-pixel count (for provenance)."""
        return {"intercept": [round(float(v), 6) for v in state["norm_intercept"]],
                "slope": [round(float(v), 6) for v in state["norm_slope"]],
                "invariant_pixels": int(state["norm_pixels"]),
                "irmad": state.get("irmad")}


def normalize_radiometry(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None,
                         *, invariant_share: float = 0.25, **irmad: Any
                         ) -> tuple[np.ndarray, dict[str, Any]]:
    """``after`` normalised to ``before`` from IR-MAD invariant pixels (in memory).

    Parameters
    ----------
    before, after : (B, M, N) ndarray
    valid : (M, N) bool ndarray, optional
    invariant_share : float
        See :class:`IMADNormalization`.

    Returns
    -------
    after_normalized : (B, M, N) float32 ndarray
        NaN where ``after`` was NaN.
    report : dict
        Per-band ``slope``/``intercept`` (before = intercept + slope * after),
        invariant pixel count, IR-MAD convergence.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> b = rng.uniform(0.02, 0.4, (2, 40, 40)); a = 0.5 * b - 0.01
    >>> n, rep = normalize_radiometry(b, a)
    >>> bool(np.allclose(n, b, atol=1e-5)), rep["irmad"]["converged"]
    (True, True)
    """
    b, a, ok = check_pair(before, after, valid)
    if not ok.any():
        raise DetectorError("no pixel is valid on both dates")
    stage = IMADNormalization(invariant_share=invariant_share, **irmad)
    state = stage.initial_state()
    while not stage.done(state):
        state = stage.end_pass(state, stage.block_stats(state, b, a, ok))
    return stage.transform(state, a), stage.report(state)
