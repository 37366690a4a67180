"""Detectors that compute a per-pixel change statistic and cut it with a calibrated threshold.

A :class:`StatisticDetector` subclass defines :meth:`~StatisticDetector.statistic`
(and, if it needs them, its own fit passes via :meth:`~StatisticDetector.stat_fit_done`
/ :meth:`~StatisticDetector.stat_block_stats` / :meth:`~StatisticDetector.stat_end_pass`).
This class adds one last pass that histograms the statistic on a fixed
``log1p`` grid (mergeable over blocks) and then cuts it by:

- ``threshold="far"`` (default): the false-alarm rate ``far`` against the
  no-change distribution estimated from the statistic itself. Most pixels of a
  scene do not change, so with ``null_family="empirical"`` (default) the
  no-change distribution is the empirical distribution of the statistic and
  the cut is its ``1 - far`` quantile (Efron's empirical null with
  ``pi0 ~ 1``): for a changed share ``c`` the false-positive rate on unchanged
  pixels then lies between ``(far - c) / (1 - c)`` and ``far / (1 - c)``
  whatever the statistic's shape. On the 9 OSCD cities this holds within a
  factor 2 where parametric tails fitted to the bulk (``"gamma"``,
  ``"lognorm"``, :func:`~sitewatch.detectors.thresholds.fit_null`) miss by 3-15x:
  real no-change pixels (seasons, haze, misregistration) have heavy tails.
  The empirical cut also caps the flagged share at ``far``: where more than
  ``far`` of the scene changed (a small site around a building project), use a
  larger ``far``, ``"otsu"``/``"kittler"``, or the default ``cnn`` detector;
- ``"otsu"`` or ``"kittler"``: the classic histogram thresholds;
- ``"bimodal"``: the higher of the two. Each fails on its own kind of
  histogram: Otsu splits a unimodal no-change bulk in two, Kittler-Illingworth
  can settle in the bulk's lower tail; the higher cut is the one above the bulk
  (the timeline's rule: a site that barely changes raises no false events);
- a number: a fixed threshold on the statistic.

Every pixel also gets a change probability (one minus the local false
discovery rate under the fitted null).

Examples
--------
>>> import numpy as np
>>> from sitewatch.detectors.cva import CVADetector
>>> rng = np.random.default_rng(0)
>>> b = rng.normal(0.2, 0.02, (4, 100, 100)).astype("float32")
>>> a = b + rng.normal(0, 0.02, b.shape).astype("float32")
>>> cm = CVADetector(threshold="far", far=0.05).run(b, a)
>>> bool(0.03 < cm.mask.mean() < 0.07)    # nothing changed: about alpha is flagged
True
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from sitewatch.detectors.base import Detector, FitState
from sitewatch.detectors.params import Param
from sitewatch.detectors.partial import Histogram, Partial
from sitewatch.detectors.thresholds import (
    NULL_FAMILIES,
    fit_null,
    threshold_kittler,
    threshold_otsu,
)
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["StatisticDetector", "STAT_HISTOGRAM", "THRESHOLD_METHODS", "CHI2_PARAMS"]

log = logging.getLogger(__name__)

#: The fixed grid on which change statistics (>= 0) are histogrammed.
STAT_HISTOGRAM = Histogram(0.0, 1e7, 8192, scale="log1p", unit=1e-4)

THRESHOLD_METHODS = ("far", "otsu", "kittler", "bimodal")

#: ``threshold`` and ``far`` of a statistic with a theoretical chi-square null (IR-MAD,
#: the omnibus test): ``threshold="chi2"`` tests at level ``far``.
CHI2_PARAMS = (
    Param("threshold", "far", "How to cut the statistic: a calibrated false-alarm rate (far), "
          "the textbook chi-square test at level far (chi2), a histogram cut (otsu, kittler, "
          "bimodal) or a fixed value.", kind=float, low=0,
          choices=(*THRESHOLD_METHODS, "chi2")),
    Param("far", 0.01, "False-alarm rate of the calibrated cut, or the level of the "
          "chi-square test.", low=0, high=1, low_open=True, high_open=True,
          applies={"threshold": ("far", "chi2")}),
)


class StatisticDetector(Detector):
    """A per-pixel statistic (>= 0, larger = more change) with a calibrated threshold.

    Subclasses set :attr:`null_power` so that ``statistic ** null_power`` is
    close to gamma-distributed without change (2 for a Euclidean length, whose
    square is a scaled chi-square; 1 for a chi-square sum): thresholds and the
    null fit work on that power, the reported cut on the statistic itself.

    Parameters
    ----------
    threshold : {"far", "otsu", "kittler", "bimodal"} or float
        How to cut the statistic (see the module docs).
    far : float
        Requested false-alarm rate for ``threshold="far"`` (share of no-change
        pixels flagged).
    bulk : float
        Quantile of the statistic up to which the no-change fit uses it.
    null_family : {"empirical", "gamma", "lognorm"}
        How the no-change distribution behind ``far`` is estimated. The
        per-pixel change probability always comes from a gamma fitted to the
        bulk (one minus the local false discovery rate).
    """

    null_power: float = 1.0

    parameters: ClassVar[tuple[Param, ...]] = (
        Param("threshold", "far", "How to cut the statistic: a calibrated false-alarm rate "
              "(far), a histogram cut (otsu, kittler, bimodal) or a fixed value.",
              kind=float, low=0, choices=THRESHOLD_METHODS),
        Param("far", 0.01, "False-alarm rate of the calibrated cut (share of unchanged pixels "
              "flagged).", low=0, high=1, low_open=True, high_open=True,
              applies={"threshold": ("far",)}),
        Param("bulk", 0.8, "Quantile of the statistic up to which the no-change fit uses it.",
              low=0, high=1, low_open=True, high_open=True),
        Param("null_family", "empirical", "How the no-change distribution is estimated.",
              kind=str, choices=("empirical", *NULL_FAMILIES)),
    )

    # -- subclass hooks ------------------------------------------------------
    def statistic(self, state: FitState, before: np.ndarray, after: np.ndarray,
                  valid: np.ndarray) -> np.ndarray:
        """(M, N) change statistic >= 0 of a block (NaN where invalid)."""
        raise NotImplementedError

    def stat_fit_done(self, state: FitState) -> bool:
        """Whether the statistic's own passes are finished (default: none needed)."""
        return True

    def stat_block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                         valid: np.ndarray) -> Partial | None:
        return None

    def stat_end_pass(self, state: FitState, total: Partial | None) -> FitState:
        return state

    def extra_outputs(self, state: FitState, before: np.ndarray, after: np.ndarray,
                      valid: np.ndarray, stat: np.ndarray) -> dict[str, Any]:
        """Extra ChangeMap fields (e.g. ``change_type``) for a block; default none."""
        return {}

    #: Optional radiometric normalisation stage run before everything else
    #: (:class:`~sitewatch.detectors.normalize.IMADNormalization`); set by subclasses.
    norm: Any = None

    def initial_state(self) -> FitState:
        st = super().initial_state()
        if self.norm is not None:
            st.update(self.norm.initial_state())
        return st

    def _after(self, state: FitState, after: np.ndarray) -> np.ndarray:
        return after if self.norm is None else self.norm.transform(state, after)

    # -- protocol ------------------------------------------------------------
    def fit_done(self, state: FitState) -> bool:
        return "cut" in state

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial | None:
        if self.norm is not None and not self.norm.done(state):
            return self.norm.block_stats(state, before, after, valid)  # type: ignore[no-any-return]
        after = self._after(state, after)
        if not self.stat_fit_done(state):
            return self.stat_block_stats(state, before, after, valid)
        stat = self.statistic(state, before, after, valid)
        return Partial.of(sums={"hist": STAT_HISTOGRAM.counts(stat[valid] ** self.null_power)})

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        if self.norm is not None and not self.norm.done(state):
            if total is None:
                raise DetectorError(f"{self.name}: no valid pixel")
            return self.norm.end_pass(state, total)  # type: ignore[no-any-return]
        if not self.stat_fit_done(state):
            return self.stat_end_pass(state, total)
        if total is None:
            raise DetectorError(f"{self.name}: no valid pixel to fit a threshold on")
        counts = total.sums["hist"]
        t = self.params["threshold"]
        out: FitState = dict(state)
        try:
            fam = str(self.params["null_family"])
            null = fit_null(counts, STAT_HISTOGRAM, bulk=float(self.params["bulk"]),
                            family="gamma" if fam == "empirical" else fam)
        except DetectorError:
            null = None
        if isinstance(t, int | float):
            cut = float(t) ** self.null_power
        elif t in ("otsu", "kittler", "bimodal"):
            # on the statistic itself (not its power): the classic cuts are scale-dependent
            stat_hist = (counts, Histogram(0.0, 1.0, STAT_HISTOGRAM.nbins),
                         STAT_HISTOGRAM.centers ** (1 / self.null_power))
            if t == "bimodal":
                cuts = [threshold_otsu(hist=stat_hist)]
                try:
                    cuts.append(threshold_kittler(hist=stat_hist))
                except DetectorError:  # no two-class split: Otsu's cut alone
                    log.debug("%s: Kittler-Illingworth found no split; Otsu's cut", self.name)
                cut = max(cuts) ** self.null_power
            else:
                fn = threshold_otsu if t == "otsu" else threshold_kittler
                cut = fn(hist=stat_hist) ** self.null_power
        elif self.params["null_family"] == "empirical":
            cut = STAT_HISTOGRAM.quantile(counts, 1 - float(self.params["far"]))
        elif null is None:
            # degenerate bulk (e.g. identical dates outside the change): the null is a
            # point mass, anything above the bin holding the bulk quantile is change
            q = STAT_HISTOGRAM.quantile(counts, float(self.params["bulk"]))
            cut = float(STAT_HISTOGRAM.edges[STAT_HISTOGRAM.index(np.array([q]))[0] + 1])
        else:
            cut = null.threshold(float(self.params["far"]))
        out["cut"] = cut ** (1 / self.null_power)
        out["null"] = None if null is None else null.to_dict()
        out["prob_table"] = None if null is None else null.probability_table()
        return out

    def apply(self, state: FitState, before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap:
        from sitewatch.detectors.base import check_pair

        b, a, ok = check_pair(before, after, valid)
        a = self._after(state, a)
        stat = self.statistic(state, b, a, ok).astype("float32")
        stat[~ok] = np.nan
        cut = float(state["cut"])
        mask = ok & (stat > cut)
        prob = None
        if state.get("prob_table") is not None:
            table = np.asarray(state["prob_table"])
            idx = STAT_HISTOGRAM.index(np.where(ok, stat, 0.0) ** self.null_power)
            prob = np.where(ok, table[idx], np.nan).astype("float32")
        params = {**self.applied_params(), "threshold_value": cut, "null": state.get("null"),
                  "fit_passes": state.get("pass"), "bands": list(self.band_names)}
        params.update(state.get("report", {}))
        if self.norm is not None:
            params["normalization"] = self.norm.report(state)
        return ChangeMap(magnitude=stat, mask=mask, method=self.name, probability=prob,
                         valid=ok, threshold=cut, params=params,
                         **self.extra_outputs(state, b, a, ok, stat))
