"""The per-scene decision: how much of this scene changed, and which pixels.

A score that ranks pixels well (a network's probability, a change magnitude)
does not carry one cut across scenes: the same value means more change in a
hazy winter pair than in a crisp summer one. A detector using this layer
decides per scene, from histograms gathered over the whole scene (so a block
runner gets the answer of the in-memory run):

1. **Per-scene ranks.** Each evidence map is turned into its *tail score*
   ``t = -log10(1 - F(x))``, ``F`` the map's distribution over the scene's valid
   pixels (:func:`tail_score`): 1 for the top 10 %, 2 for the top 1 %, 3 for the
   top 0.1 %. A stacker (:mod:`sitewatch.detectors.fused`) turns the tail
   scores into a change probability ``p`` per pixel.
2. **How much changed.** The expected number of changed pixels is the sum of
   ``p`` over the scene; the layer flags the ``factor`` x that many
   pixels with the highest ``p`` (:func:`scene_threshold`), and never a pixel
   with ``p`` below ``min_probability``.
3. **Sure change.** Ranks cannot tell how much of a small site changed: around a
   construction project drawn tight, most pixels may have changed and ranks flag
   only the usual few percent. Where the evidence is strong in absolute units
   (the detector's *sure* levels), a pixel is flagged whatever the scene's share.
4. **Absolute evidence floors.** Ranks alone would flag the top of every scene,
   even one where nothing happened. A pixel is flagged only where the
   evidence itself, in units that mean the same in every scene, is above a
   floor (the detector's; for ``fused``: a shift-tolerant change magnitude and
   the network's smoothed probability), so a scene paired with itself (noise,
   gain/offset, a sub-pixel shift) stays clean.

In practice the sum of ``p`` is close to 2 % of every scene: the evidence is
ranked within the scene, and ranks have the same distribution everywhere (on the
10 unlabelled OSCD cities it is 1.9-2.1 %). So the layer acts as a quantile cap
(about ``factor`` x 2 %, 4 % for the shipped ``fused`` stacker) that the floors lower where the
evidence is weak; an estimate of how much changed that also rises where much more
changed was not found on the OSCD cities (absolute change levels there are not
related to the labelled share).

What it promises: on a scene with change, a flagged share near the expected
share of change (within 0.5-2x on most of the OSCD cities, leave-one-city-out;
``benchmarks/results/fusion.md``); on a scene without change, almost nothing
(0.1 % or less of the pixels in the no-change benchmark). What it does not: the
expected share is learned from city-sized scenes (about 1-5 % changed); on a small
site where much more changed, only the sure change and the ranked top are found, so
give a site some surroundings (a few km) when its change is dense. The statistic detectors
(``cva``, ``irmad``, ...) keep their own false-alarm rate ``far``.

Examples
--------
>>> import numpy as np
>>> from sitewatch.detectors.partial import Histogram
>>> h = Histogram(0.0, 1.0, 1000)
>>> x = np.linspace(0, 1, 10001)
>>> t = tail_score(np.array([0.5, 0.9, 0.99]), h, h.counts(x))
>>> [round(float(v), 2) for v in t]
[0.3, 1.0, 2.0]
>>> p = np.r_[np.full(9000, 0.01), np.full(1000, 0.9)]   # 10 % of the scene changed
>>> thr = scene_threshold(PROBABILITY_HISTOGRAM.counts(p), float(p.sum()), factor=1.0,
...                       min_probability=0.05)
>>> round(float((p >= thr).mean()), 3)
0.1
"""

from __future__ import annotations

import numpy as np

from sitewatch.detectors.partial import Histogram
from sitewatch.errors import DetectorError

__all__ = ["tail_score", "scene_threshold", "PROBABILITY_HISTOGRAM"]

#: Fixed bins of the change probability (mergeable over blocks).
PROBABILITY_HISTOGRAM = Histogram(0.0, 1.0, 20000)


def tail_score(x: np.ndarray, hist: Histogram, counts: np.ndarray) -> np.ndarray:
    """``-log10`` of the share of the scene above each value of ``x``.

    ``counts`` is the scene's histogram of the map on ``hist``'s bins; the
    distribution is read by linear interpolation within a bin. With ``n``
    pixels in the scene, the share is taken as ``1 - F n / (n + 1)``, so the
    largest value scores ``log10(n + 1)``, not infinity.

    Examples
    --------
    >>> h = Histogram(0.0, 10.0, 10)
    >>> [round(float(v), 3) for v in tail_score(np.array([0.0, 5.0, 10.0]), h, np.ones(10))]
    [0.0, 0.263, 1.041]
    """
    n = float(counts.sum())
    if n <= 0:
        raise DetectorError("cannot rank a map of a scene with no valid pixel")
    # the share above each bin edge, in float64 before the cast: small shares keep their
    # relative precision in float32
    up = ((n + 1 - np.concatenate([[0.0], np.cumsum(counts)])) / (n + 1)).astype("float32")
    # the position on the bins (linear in the histogram's scale), then the distribution
    # interpolated within the bin: one multiply-add per pixel, no search
    f0, f1 = float(hist._fwd(hist.lo)), float(hist._fwd(hist.hi))
    v = np.asarray(x, "float32")
    if hist.scale == "log1p":
        v = np.log1p(np.maximum(v, np.float32(0)) / np.float32(hist.unit))
    pos = (v - np.float32(f0)) * np.float32(hist.nbins / (f1 - f0))
    np.clip(pos, 0, hist.nbins, out=pos)
    i = np.minimum(pos.astype(np.int32), hist.nbins - 1)
    pos -= i
    u = up[i] + pos * (up[i + 1] - up[i])
    return (-np.log10(u) + np.float32(0)).astype("float32")


def scene_threshold(counts: np.ndarray, expected: float, *, factor: float,
                    min_probability: float) -> float:
    """Cut on ``p`` that flags ``factor`` x ``expected`` pixels of the scene.

    Parameters
    ----------
    counts : ndarray
        The scene's histogram of ``p`` on :data:`PROBABILITY_HISTOGRAM`.
    expected : float
        Expected number of changed pixels: the sum of ``p`` over the scene.
    factor : float
        Pixels flagged per expected changed pixel (above 1: the ranking is
        imperfect, so a wider net catches more of the change than it adds false
        alarms; chosen leave-one-city-out).
    min_probability : float
        The cut is never below this.

    Examples
    --------
    >>> c = PROBABILITY_HISTOGRAM.counts(np.linspace(0, 1, 1001))
    >>> round(scene_threshold(c, 100.0, factor=2.0, min_probability=0.01), 2)
    0.8
    """
    n = float(counts.sum())
    if n <= 0:
        raise DetectorError("cannot decide on a scene with no valid pixel")
    k = min(max(factor * expected, 0.0), n)
    if k < 1:  # less than one pixel expected: flag nothing
        return 1.0
    thr = PROBABILITY_HISTOGRAM.quantile(counts, 1.0 - k / n)
    return float(max(thr, min_probability))
