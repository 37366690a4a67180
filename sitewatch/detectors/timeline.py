"""Per-pixel change histories over a stack of epochs: the first lasting change of every pixel.

The input is a stack of epoch composites, ``(time, band, row, col)``, with a
clear-observation mask; a cloudy or missing observation is a *gap*, never a
change. For each pixel the history answers: did it change for good, in which
epoch interval did the change start, how large and how sure is it.

The method, per pixel (vectorised over pixels; a pure function of the stack
and a few global parameters, so it runs block by block):

1. **Best split.** For every candidate epoch ``k`` the clear observations
   before ``k`` and from ``k`` on are averaged (cumulative sums, O(T) per
   pixel) and the split with the largest likelihood-ratio statistic of a mean
   shift, ``sqrt(n_b n_a / n) * |mean_a - mean_b|``, is kept (the classical
   change-point estimate). Both states must have been seen in at least
   ``min_before`` and ``persistence + 1`` clear observations.
2. **Decision with the two-date detector's rule.** The change is kept when the
   distance between the two states exceeds the detector's ``threshold`` (the
   change vector length of CVA; the threshold comes from the two-date detector
   run on the series' first and last clear observations, see
   :func:`first_last_clear`) *and* is significant against the pixel's own
   variability: ``z = |mean_a - mean_b| / sqrt(s^2 (1/n_b + 1/n_a)) > z_min``,
   with ``s^2`` the within-state variance shrunk towards the site's
   observation noise (a scaled inverse-chi-square prior with ``prior_dof``
   degrees of freedom). Seasonal pixels swing within both states and so
   need a larger shift.
3. **Persistence.** The first ``persistence + 1`` clear observations of the
   new state must each differ from the old state by more than the threshold,
   and at least ``min_share`` of all later clear observations must (the pixel
   does not return). A first observation that fails this is a transient (a
   missed cloud, a shadow, a parked ship): it is set aside as a gap and the
   pixel is examined again (``max_rounds`` times).
4. **First lasting change.** Inside the old state, an earlier lasting split
   is looked for (clearing before paving) and, when it passes the same tests,
   the change is dated there.

The change is dated by the interval between the last clear observation of the
old state (``last_unchanged``) and the first of the new one (``first_epoch``);
:mod:`sitewatch.detectors.timeline_events` narrows it with the pixel's
neighbours.

**Block by block.** Every pixel's result depends only on its own observations
and on :class:`TimelineParams` (the detector's threshold, the observation noise):
fit those once for the site (``sitewatch.pipeline.timeline.fit_timeline``, or
from a sample of blocks), call :func:`pixel_history` on each block (any cut, no
halo), stitch the 2-D results, then run the spatial steps (minimum mapping
unit, :func:`~sitewatch.detectors.timeline_events.refine_dates`, events) on the
stitched maps. The answer is the one of the whole-array call (tested).

References
----------
D. V. Hinkley, "Inference about the change-point in a sequence of random
variables", Biometrika 57(1), 1970 (the likelihood-ratio change point).
Z. Zhu, C. E. Woodcock, "Continuous change detection and classification of land
cover using all available Landsat data", Remote Sensing of Environment 144,
2014 (changes confirmed by consecutive anomalous observations; clouds as gaps).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> stack = rng.normal(0.2, 0.005, (8, 3, 4, 4)).astype("float32")
>>> stack[5:, :, 1, 1] += 0.3            # lasting change from epoch 5
>>> stack[3, :, 2, 2] += 0.3             # one-epoch transient
>>> stack[2, :, 0, 0] = np.nan           # a cloud: a gap
>>> h = pixel_history(stack, TimelineParams(threshold=0.1, noise_var=7.5e-5))
>>> h.changed.astype(int)
array([[0, 0, 0, 0],
       [0, 1, 0, 0],
       [0, 0, 0, 0],
       [0, 0, 0, 0]])
>>> int(h.first_epoch[1, 1]), int(h.last_unchanged[1, 1]), int(h.clear_count[0, 0])
(5, 4, 7)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from sitewatch.detectors.base import available_cores
from sitewatch.errors import DataError

__all__ = ["TimelineParams", "PixelHistory", "pixel_history", "first_last_clear",
           "estimate_noise_var", "as_stack", "StackLike"]

log = logging.getLogger(__name__)

#: A stack: a (T, B, M, N) array, or a sequence of T (B, M, N) arrays (None for a gap).
StackLike = np.ndarray | Sequence[np.ndarray | None]

#: Pixels processed together (bounds the memory of one pass: T x B x this x 4 bytes).
CHUNK_PIXELS = 16384

#: Most chunks processed at once (each holds a few T x B x CHUNK_PIXELS arrays).
MAX_WORKERS = 4


@dataclass(frozen=True)
class TimelineParams:
    """Global parameters of :func:`pixel_history` (the same for every block of a site).

    Parameters
    ----------
    threshold : float
        The detector's threshold on the distance between two states (for CVA,
        the change vector length in reflectance units).
    noise_var : float
        Variance of one clear observation around its state, summed over bands
        (see :func:`estimate_noise_var`); the prior of the significance test.
    persistence_days : float
        How long the new state must be seen to hold: its clear observations
        must reach at least this many days past its first one (60: the next
        quarter of a quarterly series, the next two months of a monthly one,
        two months of scenes for one epoch per scene), with at least
        ``confirm_share`` of them (all of up to three) still far from the old
        state. 0: no confirmation.
    min_before : int
        Clear observations of the old state needed before a change (2: a change
        right after the first observation, which may itself be a missed cloud,
        is not reported).
    z_min : float
        Significance of the shift against the pixel's own variability.
    min_share : float
        Share of the later clear observations that must still differ from the
        old state (a pixel that returns is not changed).
    prior_dof : float
        Weight, in observations, of ``noise_var`` in each pixel's variance.
    large_factor : float
        A change larger than this many thresholds may rest on one clear
        observation of the old state, or on new-state observations spanning
        less than ``persistence_days`` (under clouds, at the ends of the
        series), if it moves bands apart (a uniform brightening or darkening
        of every band is a missed cloud or shadow); its confidence is halved.
        0: never.
    season_days : float
        Observations at most this many days apart in the year (in different
        years) are of the same season: a change whose new state matches the
        old state of the same season returns with it and is seasonal.
    max_rounds : int
        Times a pixel is re-examined after setting aside a transient.
    first_rounds : int
        Times an earlier lasting change is looked for inside the old state.
    """

    threshold: float
    noise_var: float
    persistence_days: float = 60.0
    min_before: int = 2
    z_min: float = 3.0
    min_share: float = 0.5
    prior_dof: float = 4.0
    large_factor: float = 1.5
    season_days: float = 45.0
    confirm_share: float = 0.75
    max_rounds: int = 3
    first_rounds: int = 2

    def __post_init__(self) -> None:
        if not np.isfinite(self.threshold) or self.threshold <= 0:
            raise DataError(f"timeline threshold must be a positive number, got {self.threshold}")
        if not np.isfinite(self.noise_var) or self.noise_var < 0:
            raise DataError(f"noise variance must be >= 0, got {self.noise_var}")
        if not self.persistence_days >= 0 or self.min_before < 1:
            raise DataError("persistence must be >= 0 days and min_before >= 1 "
                            f"(got {self.persistence_days}, {self.min_before})")
        if not 0 <= self.min_share <= 1:
            raise DataError(f"min_share is a share in [0, 1], got {self.min_share}")

    def to_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, float | np.floating) else v)
                for k, v in asdict(self).items()}


@dataclass
class PixelHistory:
    """What :func:`pixel_history` found for every pixel.

    Attributes
    ----------
    changed : (M, N) bool
        A lasting change was found.
    first_epoch : (M, N) int16
        Epoch of the first clear observation of the new state; -1 if unchanged.
    last_unchanged : (M, N) int16
        Epoch of the last clear observation of the old state; -1 if unchanged.
    magnitude : (M, N) float32
        Distance between the old and the new state (NaN if unchanged).
    zscore : (M, N) float32
        Significance of the shift (NaN if unchanged).
    share : (M, N) float32
        Share of the later clear observations that differ from the old state.
    n_before, n_after : (M, N) uint16
        Clear observations of the old and of the new state.
    confidence : (M, N) float32
        ``share * (1 - 0.5 ** min(n_before, n_changed_after))`` in [0, 1]: how
        consistently and by how many clear observations each state was seen
        (0 if unchanged), halved for a large change resting on one clear
        observation of a state.
    transients : (M, N) uint16
        Observations set aside as transients.
    clear_count : (M, N) uint16
        Clear observations in the series.
    pending : (M, N) bool
        Unchanged so far, but the last clear observation differs from all
        before it: a possible change to confirm with the next epochs.
    before_state, after_state : (B, M, N) float32
        Mean spectra of the old and the new state (NaN if unchanged).
    seasonal : (M, N) bool
        A shift that the same-season observations of other years undo: set
        aside as seasonal, not changed.
    season_pairs : (M, N) uint16
        Same-season (old, new) observation pairs a change was checked on (0: the
        series could not tell it from the season).
    """

    changed: np.ndarray
    first_epoch: np.ndarray
    last_unchanged: np.ndarray
    magnitude: np.ndarray
    zscore: np.ndarray
    share: np.ndarray
    n_before: np.ndarray
    n_after: np.ndarray
    confidence: np.ndarray
    transients: np.ndarray
    clear_count: np.ndarray
    pending: np.ndarray
    before_state: np.ndarray
    after_state: np.ndarray
    seasonal: np.ndarray | None = None
    season_pairs: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.changed.shape)  # type: ignore[return-value]


# -- stack handling ------------------------------------------------------------

def as_stack(stack: StackLike, valid: np.ndarray | None = None
             ) -> tuple[list[np.ndarray | None], tuple[int, int, int, int]]:
    """Check a stack; return its epochs as a list and its (T, B, M, N) shape.

    Examples
    --------
    >>> import numpy as np
    >>> layers, shape = as_stack([np.zeros((2, 3, 3)), None, np.ones((2, 3, 3))])
    >>> shape, layers[1] is None
    ((3, 2, 3, 3), True)
    """
    if isinstance(stack, np.ndarray):
        if stack.ndim != 4:
            raise DataError(f"a timeline stack is (time, band, row, col), got shape {stack.shape}")
        layers: list[np.ndarray | None] = list(stack)
    else:
        layers = [None if s is None else np.asarray(s) for s in stack]
    present = [s for s in layers if s is not None]
    if len(layers) < 3:
        raise DataError(f"a timeline needs at least 3 epochs, got {len(layers)}: widen the dates "
                        "or use a shorter cadence")
    if not present:
        raise DataError("every epoch is a gap: no clear observation at all")
    shape = present[0].shape
    if len(shape) != 3 or any(s.shape != shape for s in present):
        raise DataError("every epoch must be a (band, row, col) array of one shape, got "
                        f"{sorted({s.shape for s in present})}")
    if valid is not None and np.shape(valid) != (len(layers), *shape[1:]):
        raise DataError(f"valid mask {np.shape(valid)} does not match the stack "
                        f"{(len(layers), *shape[1:])}: give one (row, col) mask per epoch")
    return layers, (len(layers), *shape)  # type: ignore[return-value]


def _chunk(layers: Sequence[np.ndarray | None], valid: np.ndarray | None, rows: slice,
           shape: tuple[int, int, int, int], buffers: tuple[np.ndarray, np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray]:
    """(T, B, P) float32 and (T, P) bool of a band of rows, in the flat ``buffers`` (float32
    and bool, large enough; reused chunk after chunk); gaps are 0 / False."""
    t, b, _, n = shape
    nr = rows.stop - rows.start
    x = buffers[0][:t * b * nr * n].reshape(t, b, nr * n)
    v = buffers[1][:t * nr * n].reshape(t, nr * n)
    for i, layer in enumerate(layers):
        if layer is None:
            x[i] = 0
            v[i] = False
            continue
        xi = x[i]
        xi[:] = layer[:, rows].reshape(b, -1)
        ok = np.isfinite(xi).all(axis=0)
        if valid is not None:
            ok &= np.asarray(valid[i][rows], bool).reshape(-1)
        if not ok.all():
            xi[:, ~ok] = 0
        v[i] = ok
    return x, v


def first_last_clear(stack: StackLike, valid: np.ndarray | None = None, *, count: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's early and late state: the two-date problem of the series.

    The mean of each pixel's first ``count`` and of its last ``count`` clear
    observations (fewer where the pixel has fewer than ``2 * count``: half of
    them each). The two-date detector run on this pair gives the timeline its
    threshold; with ``count=1`` it is also the two-date baseline to compare with.

    Returns
    -------
    first, last : (B, M, N) float32
        NaN where a pixel has fewer than two clear observations.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.arange(6, dtype="float32").reshape(6, 1, 1, 1); s[0] = np.nan
    >>> [float(a[0, 0, 0]) for a in first_last_clear(s)]
    [1.0, 5.0]
    >>> [float(a[0, 0, 0]) for a in first_last_clear(s, count=2)]
    [1.5, 4.5]
    """
    layers, (t, b, m, n) = as_stack(stack, valid)
    masks: list[np.ndarray | None] = []
    total = np.zeros((m, n), "int32")
    for i, layer in enumerate(layers):
        if layer is None:
            masks.append(None)
            continue
        ok = np.isfinite(layer).all(axis=0)
        if valid is not None:
            ok &= np.asarray(valid[i], bool)
        masks.append(ok)
        total += ok
    each = np.clip(np.minimum(count, total // 2), 1, None)
    ends = []
    for order in (range(t), range(t - 1, -1, -1)):
        acc = np.zeros((b, m, n), "float32")
        seen = np.zeros((m, n), "int32")
        for i in order:
            layer, ok = layers[i], masks[i]
            if layer is None or ok is None:
                continue
            take = ok & (seen < each)
            np.add(acc, layer, out=acc, where=take[None])
            seen += take
        with np.errstate(invalid="ignore", divide="ignore"):
            acc /= seen
        acc[:, total < 2] = np.nan
        ends.append(acc)
    return ends[0], ends[1]


def estimate_noise_var(stack: StackLike, valid: np.ndarray | None = None, *,
                       sample: int = 20_000, seed: int = 0) -> float:
    """Variance of one clear observation around its state, summed over bands.

    From the squared distances between consecutive clear observations of the
    pixels of a random sample of rows: their median, scaled by that of a chi-square with
    B degrees of freedom, estimates twice the variance; the median keeps
    changes and transients from inflating it. Seasonal swings between epochs do
    count, which is right: they are the variability a change must exceed.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s = rng.normal(0, 0.1, (10, 4, 50, 50)).astype("float32")
    >>> round(estimate_noise_var(s), 2)         # 4 bands x 0.01
    0.04
    """
    layers, (t, b, m, n) = as_stack(stack, valid)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(m, size=min(m, max(1, -(-sample // n))), replace=False))
    prev = np.full((b, rows.size * n), np.nan, "float32")
    d2: list[np.ndarray] = []
    for i, layer in enumerate(layers):
        if layer is None:
            continue
        x = np.take(layer, rows, axis=1).reshape(b, -1).astype("float32", copy=False)
        ok = np.isfinite(x).all(axis=0)
        if valid is not None:
            ok &= np.take(np.asarray(valid[i], bool), rows, axis=0).reshape(-1)
        both = ok & np.isfinite(prev).all(axis=0)
        d2.append(np.sum((x[:, both] - prev[:, both]) ** 2, axis=0))
        np.copyto(prev, x, where=ok[None])
    allv = np.concatenate(d2) if d2 else np.empty(0)
    if allv.size < 10:
        raise DataError("too few pairs of clear observations to estimate the noise: the series "
                        "is mostly gaps (more epochs, or a longer cadence)")
    return float(np.median(allv) / stats.chi2.median(b) * b / 2)


# -- the per-pixel algorithm ----------------------------------------------------

def _cumsum0(a: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Cumulative sum over the first axis, of ``a * mask`` if a mask is given.

    A loop over the (short) time axis: numpy's axis-0 accumulate and broadcast
    multiplications over (T, B, P) are 5-15x slower.
    """
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        if mask is None:
            out[i] = a[i]
        else:
            np.multiply(a[i], mask[i], out=out[i])
        if i:
            out[i] += out[i - 1]
    return out


def _ssum(d: np.ndarray) -> np.ndarray:
    """Sum of squares over the band axis (-2)."""
    return np.einsum("...bp,...bp->...p", d, d)


def _best_split(xz: np.ndarray, v: np.ndarray, sq: np.ndarray,
                bounds: tuple[np.ndarray, np.ndarray] | None, min_before: int,
                min_after: int, *, centred: bool = False,
                loose: tuple[int, int] | None = None) -> Any:
    """Likelihood-ratio best split of each pixel's clear observations in [lo, hi).

    ``xz`` is zero where ``v`` is False; ``bounds=None`` means the whole series;
    ``centred`` says the clear observations of each pixel sum to zero (one pass less).
    ``loose=(min_before, min_after)`` also returns the best split under those counts
    (the same statistic, a second pick).
    """
    t, b, p = xz.shape
    if bounds is None:
        seg = v
        cs = _cumsum0(xz)
    else:
        tidx = np.arange(t)[:, None]
        seg = v & (tidx >= bounds[0][None]) & (tidx < bounds[1][None])
        cs = _cumsum0(xz, seg[:, None])
    segf = seg.astype("float32")
    cn = _cumsum0(segf)
    tot, n = cs[-1], cn[-1]
    # split at k (first epoch of the new state), k = 1..t-1: before sums are cs[k-1]
    sb, nb = cs[:-1], cn[:-1]
    na = n[None] - nb
    with np.errstate(invalid="ignore", divide="ignore"):
        ia, ib = 1 / na, 1 / nb
        # |mean_a - mean_b|^2 = |tot ia - sb (ia + ib)|^2, expanded to avoid a (t, b, p) temporary
        c = ia + ib
        s2 = c * c * _ssum(sb)
        if not centred:
            s2 += _ssum(tot)[None] * ia * ia - 2 * ia * c * np.einsum("bp,tbp->tp", tot, sb)
        w2 = nb * na / np.maximum(n, 1)[None] * s2
    sqs = _cumsum0(sq, segf)
    ar = np.arange(p)

    def pick(least_before: int, least_after: int) -> dict[str, np.ndarray]:
        cand = seg[1:] & (nb >= least_before) & (na >= least_after)
        w = np.where(cand, w2, -1.0)
        k1 = w.argmax(axis=0)
        ok = w[k1, ar] > 0
        nbk, nak = nb[k1, ar], na[k1, ar]
        sbk = sb[k1, :, ar].T
        with np.errstate(invalid="ignore", divide="ignore"):
            mb = sbk / nbk
            ma = (tot - sbk) / nak
        sqb = sqs[k1, ar]
        ss = (sqb - nbk * _ssum(mb)) + (sqs[-1] - sqb - nak * _ssum(ma))
        return {"k": k1 + 1, "ok": ok, "dist": np.sqrt(np.maximum(_ssum(ma - mb), 0)),
                "nb": nbk, "na": nak, "mb": mb, "ma": ma, "ss": np.maximum(ss, 0), "n": n}

    best = pick(min_before, min_after)
    return best if loose is None else (best, pick(*loose))


def _zscore(st: dict[str, np.ndarray], noise_var: float, prior_dof: float) -> np.ndarray:
    dof = np.maximum(st["n"] - 2, 0)
    s2 = (prior_dof * noise_var + st["ss"]) / np.maximum(prior_dof + dof, 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        return st["dist"] / np.sqrt(np.maximum(s2, 1e-12) * (1 / st["nb"] + 1 / st["na"]))


def _confirm(xz: np.ndarray, v: np.ndarray, k: np.ndarray, mb: np.ndarray, ma: np.ndarray,
             prm: TimelineParams, days: np.ndarray, *, min_before: int | None = None
             ) -> dict[str, np.ndarray]:
    """Does the new state last, and was the old one seen consistently?

    After the split: the clear observations from ``k`` up to the first one at
    least ``persistence_days`` after it must be farther than the threshold from
    the old state ``mb`` (``confirm_share`` of them; all of up to three), and
    at least ``min_share`` of all of them (no return). Before it: the last
    ``min_before`` clear observations must each be that far from the new state
    ``ma``, and at least ``min_share`` of all of them (a lone odd observation,
    such as a missed cloud in the first epoch, is not an old state).
    """
    t = xz.shape[0]
    need_before = prm.min_before if min_before is None else min_before
    thr = prm.threshold
    tidx = np.arange(t)[:, None]
    ar = np.arange(k.size)
    after = v & (tidx >= k[None])
    before = v & (tidx < k[None])
    far_a = after & (np.sqrt(_ssum(xz - mb[None])) > thr)
    far_b = before & (np.sqrt(_ssum(xz - ma[None])) > thr)
    first_far = far_a[k, ar]
    if prm.persistence_days > 0:
        reach = after & ((days[:, None] - days[k][None]) >= prm.persistence_days)
        reached = reach.any(axis=0)
        upto = np.where(reached, reach.argmax(axis=0), t - 1)
        span = after & (tidx <= upto[None])
        n_span = span.sum(axis=0)
        persists = reached & ((span & far_a).sum(axis=0) >= np.ceil(prm.confirm_share * n_span))
    else:
        reached = np.ones(k.size, bool)
        persists = first_far
    late = before & (_cumsum0(before[::-1].astype("int32"))[::-1] <= need_before)
    held = (late.sum(axis=0) == need_before) & ~(late & ~far_b).any(axis=0)
    n_far = far_a.sum(axis=0)
    n_after = after.sum(axis=0)
    share = n_far / np.maximum(n_after, 1)
    share_b = far_b.sum(axis=0) / np.maximum(before.sum(axis=0), 1)
    return {"persists": persists, "share": share, "n_far": n_far, "first_far": first_far,
            "reached": reached, "all_far": n_far == n_after,
            "ok": persists & held & (share >= prm.min_share) & (share_b >= prm.min_share),
            "held": held & (share_b >= prm.min_share)}


def _spikes(xz: np.ndarray, v: np.ndarray, thr: float) -> np.ndarray:
    """(T, P) bool: clear observations farther than ``thr`` from both clear neighbours
    while those two are within ``thr`` of each other (one-epoch excursions)."""
    t, b, p = xz.shape
    prev = np.zeros_like(xz)
    nxt = np.zeros_like(xz)
    has_prev = np.zeros((t, p), bool)
    has_next = np.zeros((t, p), bool)
    vf = v.astype(xz.dtype)
    for i in range(1, t):  # the previous clear observation of each epoch
        np.subtract(xz[i - 1], prev[i - 1], out=prev[i])
        prev[i] *= vf[i - 1]
        prev[i] += prev[i - 1]
        has_prev[i] = has_prev[i - 1] | v[i - 1]
    for i in range(t - 2, -1, -1):
        np.subtract(xz[i + 1], nxt[i + 1], out=nxt[i])
        nxt[i] *= vf[i + 1]
        nxt[i] += nxt[i + 1]
        has_next[i] = has_next[i + 1] | v[i + 1]
    t2 = thr * thr
    return (v & has_prev & has_next & (_ssum(xz - prev) > t2) & (_ssum(xz - nxt) > t2)
            & (_ssum(prev - nxt) <= t2))


def _significant(st: dict[str, np.ndarray], prm: TimelineParams) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    z = _zscore(st, prm.noise_var, prm.prior_dof)
    return z, st["ok"] & (st["dist"] > prm.threshold) & (z > prm.z_min)


_FIELDS = ("k", "dist", "z", "share", "nb", "na", "nfar")


def _same_season(days: np.ndarray, season_days: float) -> list[tuple[int, int]]:
    """(i, j), i < j: epochs of the same season in different years."""
    doy = np.mod(days, 365.25)
    out = []
    for i in range(days.size):
        for j in range(i + 1, days.size):
            gap = abs(doy[i] - doy[j])
            if min(gap, 365.25 - gap) <= season_days and days[j] - days[i] >= 300:
                out.append((i, j))
    return out


def _seasonal(xz: np.ndarray, v: np.ndarray, k: np.ndarray, thr: float, share: float,
              pairs: Sequence[tuple[int, int]], upto: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Changes the same season of another year undoes, and the pairs each was checked on.

    Each clear observation of the new state is compared with the clear
    observations of the old state in the same season of other years; it
    *returns* when one of them is within ``thr``. A change whose
    observations with a same-season counterpart return in at least ``share``
    of the cases follows the season (a clearing that looks like the brown
    winter meadow in winter, but not in summer, is a change). ``upto`` ends
    each pixel's new state (a later change).
    """
    t, _, p = xz.shape
    nearest = np.full((t, p), np.inf, "float32")
    earlier: dict[int, list[int]] = {}
    for i, j in pairs:
        earlier.setdefault(j, []).append(i)
    for j, before in earlier.items():   # every earlier same-season view of epoch j at once
        ii = np.asarray(before)
        sel = v[ii] & v[j][None] & (k[None] > ii[:, None]) & (k <= j)[None]
        if upto is not None:
            sel &= (j < upto)[None]
        if sel.any():
            d = np.sqrt(_ssum(xz[j][None] - xz[ii]))
            nearest[j] = np.where(sel, d, np.inf).min(axis=0)
    checked = np.isfinite(nearest)
    n = checked.sum(axis=0)
    back = (checked & (nearest <= thr)).sum(axis=0)
    return (n > 0) & (back >= share * n), n


def _history_chunk(x: np.ndarray, v: np.ndarray, prm: TimelineParams, days: np.ndarray,
                   pairs: Sequence[tuple[int, int]]) -> dict[str, np.ndarray]:
    t, b, p = x.shape
    # centre each pixel on its mean clear spectrum (in place; zero stays where v is False):
    # the sums of the split statistic stay small, so float32 does not cancel
    vf = v.astype("float32")
    centre = np.einsum("tbp,tp->bp", x, vf) / np.maximum(vf.sum(axis=0), 1)
    for i in range(t):
        x[i] -= centre * vf[i]
    xz = x
    sq = _ssum(xz)
    vw = v.copy()
    out: dict[str, np.ndarray] = {
        "changed": np.zeros(p, bool), "k": np.full(p, -1, "int64"),
        "dist": np.full(p, np.nan, "float32"), "z": np.full(p, np.nan, "float32"),
        "share": np.zeros(p, "float32"), "nb": np.zeros(p, "int64"), "na": np.zeros(p, "int64"),
        "nfar": np.zeros(p, "int64"), "mb": np.full((b, p), np.nan, "float32"),
        "ma": np.full((b, p), np.nan, "float32")}
    after_min = 2 if prm.persistence_days > 0 else 1
    out["single"] = np.zeros(p, bool)

    def record(a: np.ndarray, sel: np.ndarray, st: dict[str, np.ndarray], z: np.ndarray,
               cf: dict[str, np.ndarray]) -> None:
        vals = {"k": st["k"], "dist": st["dist"], "z": z, "share": cf["share"],
                "nb": st["nb"], "na": st["na"], "nfar": cf["n_far"]}
        for name in _FIELDS:
            out[name][a] = vals[name][sel]
        out["mb"][:, a] = st["mb"][:, sel]
        out["ma"][:, a] = st["ma"][:, sel]

    def subset(st: dict[str, np.ndarray], sel: np.ndarray) -> dict[str, np.ndarray]:
        return {key: a[..., sel] for key, a in st.items()}

    # 1. best split of every pixel. Where it moved more than the threshold, one-epoch
    #    excursions whose neighbours agree are transients (gaps), and so is a first new
    #    observation that does not last; those pixels are looked at again.
    # (with the best split on one clear observation of either state, for 1b)
    st_all, st_one = _best_split(xz, vw, sq, None, prm.min_before, after_min, centred=True,
                                 loose=(1, 1))
    todo = np.flatnonzero(st_all["ok"] & (st_all["dist"] > prm.threshold))
    st = subset(st_all, todo)
    if todo.size:
        xs = np.take(xz, todo, axis=2)
        spikes = _spikes(xs, vw[:, todo], prm.threshold)
        redo = spikes.any(axis=0)
        if redo.any():  # the split of pixels with transients set aside
            vw[:, todo] &= ~spikes
            xr = np.take(xs, np.flatnonzero(redo), axis=2)
            vr = vw[:, todo[redo]]
            xr *= vr[:, None]
            new = _best_split(xr, vr, _ssum(xr), None, prm.min_before, after_min)
            for key in st:
                st[key][..., redo] = new[key]
    for rnd in range(max(prm.max_rounds, 1)):
        if todo.size == 0:
            break
        if rnd:
            xs = np.take(xz, todo, axis=2)
            vs = vw[:, todo]
            xs *= vs[:, None]
            st = _best_split(xs, vs, _ssum(xs), None, prm.min_before, after_min)
        else:
            vs = vw[:, todo]
            xs *= vs[:, None]
        z, cand = _significant(st, prm)
        if not cand.any():
            break
        sel = np.flatnonzero(cand)
        idx = todo[sel]
        sub = subset(st, sel)
        cf = _confirm(np.take(xs, sel, axis=2), vs[:, sel], sub["k"], sub["mb"], sub["ma"],
                      prm, days)
        record(idx[cf["ok"]], cf["ok"], sub, z[sel], cf)
        out["changed"][idx[cf["ok"]]] = True
        retry = ~cf["persists"] & cf["first_far"] & cf["reached"]
        vw[sub["k"][retry], idx[retry]] = False
        todo = idx[retry]
    # 1b. large changes on one clear observation of either state (under clouds, at the
    #     ends of the series): where the counts, not the evidence, stopped the rule
    if prm.large_factor > 0:
        # two means of a pixel's observations are no farther apart than twice its farthest
        # observation from any point (here its mean): pixels that cannot reach the large
        # distance are not split
        reach = 4 * np.where(vw, sq, 0).max(axis=0) > (prm.large_factor * prm.threshold) ** 2
        idx = np.flatnonzero(~out["changed"] & (vw.sum(axis=0) >= 2) & reach)
        if idx.size:
            # pixels whose transients were set aside are split again; the others' split is
            # the one of step 1 on one observation of either state
            again = (vw[:, idx] != v[:, idx]).any(axis=0)
            st = subset(st_one, idx)
            if again.any():
                xs = np.take(xz, idx[again], axis=2)
                vs = vw[:, idx[again]]
                xs *= vs[:, None]
                new = _best_split(xs, vs, _ssum(xs), None, 1, 1)
                for key in st:
                    st[key][..., again] = new[key]
            z, cand = _significant(st, prm)
            cand &= st["dist"] > prm.large_factor * prm.threshold
            if cand.any():
                sel = np.flatnonzero(cand)
                sub = subset(st, sel)
                vs = vw[:, idx[sel]]
                xs = np.take(xz, idx[sel], axis=2)
                xs *= vs[:, None]
                cf = _confirm(xs, vs, sub["k"], sub["mb"], sub["ma"], prm, days, min_before=1)
                # a lone old observation that was a missed cloud makes every band darker
                # after it; a short new state that is a missed cloud or a shadow makes
                # every band brighter or darker: a change of surface is accepted on so
                # little only when it moves bands apart (a new bright roof in the last
                # epoch waits for the next one, as "pending")
                d = sub["ma"] - sub["mb"]
                with np.errstate(invalid="ignore"):
                    some_up = d.max(axis=0) > 0.1 * sub["dist"]
                    apart = ((d.max(axis=0) > 0.25 * sub["dist"])
                             & (d.min(axis=0) < -0.25 * sub["dist"]))
                lone_old = sub["nb"] < prm.min_before
                short_new = ~cf["reached"]
                plausible = np.where(short_new, apart, some_up)
                acc = ((lone_old | short_new) & plausible & cf["held"]
                       & (cf["share"] >= prm.confirm_share))
                record(idx[sel[acc]], acc, sub, z[sel], cf)
                out["changed"][idx[sel[acc]]] = True
                out["single"][idx[sel[acc]]] = True
    # two observations of one state differ by sqrt(2 noise_var) on average: a pair within
    # the threshold, or within twice that, is the same state
    same = max(prm.threshold, 2.0 * float(np.sqrt(2 * prm.noise_var)))
    # 2. the first lasting change: an earlier one inside the old state (not a season)?
    for _ in range(prm.first_rounds):
        idx = np.flatnonzero(out["changed"])
        if idx.size == 0:
            break
        xs = np.take(xz, idx, axis=2)
        vs = vw[:, idx]
        xs *= vs[:, None]
        st = _best_split(xs, vs, _ssum(xs), (np.zeros(idx.size, "int64"), out["k"][idx]),
                         prm.min_before, after_min)
        z, cand = _significant(st, prm)
        if not cand.any():
            break
        cf = _confirm(xs, vs, st["k"], st["mb"], st["ma"], prm, days)
        acc = cand & cf["ok"]
        if pairs and acc.any():   # every clear view: a yearly trough is no transient
            acc &= ~_seasonal(np.take(xz, idx, axis=2), v[:, idx], st["k"], same,
                              prm.confirm_share, pairs, upto=out["k"][idx])[0]
        if not acc.any():
            break
        record(idx[acc], acc, st, z, cf)
    # 3. the new state lasts until the next lasting change (its mean types the change)
    idx = np.flatnonzero(out["changed"])
    if idx.size:
        xs = np.take(xz, idx, axis=2)
        vs = vw[:, idx]
        xs *= vs[:, None]
        st = _best_split(xs, vs, _ssum(xs), (out["k"][idx], np.full(idx.size, t, "int64")),
                         after_min, after_min)
        z, cand = _significant(st, prm)
        tidx = np.arange(t)[:, None]
        upto = np.where(cand, st["k"], t)
        seg = vs & (tidx >= out["k"][idx][None]) & (tidx < upto[None])
        n = seg.sum(axis=0)
        out["ma"][:, idx] = np.einsum("tbp,tp->bp", xs, seg.astype("float32")) / n
        out["na"][idx] = n
    # 4. seasons: a new state that the same season of another year undoes is seasonal
    out["seasonal"] = np.zeros(p, bool)
    out["season_pairs"] = np.zeros(p, "int64")
    idx = np.flatnonzero(out["changed"])
    if pairs and idx.size:
        xs = np.take(xz, idx, axis=2)
        seas, n_pairs = _seasonal(xs, v[:, idx], out["k"][idx], same, prm.confirm_share,
                                  pairs)
        out["season_pairs"][idx] = n_pairs
        out["seasonal"][idx[seas]] = True
        out["changed"][idx[seas]] = False
        gone = idx[seas]
        out["k"][gone] = -1
        for name in ("dist", "z"):
            out[name][gone] = np.nan
        out["mb"][:, gone] = np.nan
        out["ma"][:, gone] = np.nan
    out["mb"] += centre
    out["ma"] += centre
    tidx = np.arange(t)[:, None]
    k = out["k"]
    out["last"] = np.where(vw & (tidx < k[None]), tidx, -1).max(axis=0)
    out["last"][~out["changed"]] = -1
    out["transients"] = (v & ~vw).sum(axis=0)
    out["clear"] = v.sum(axis=0)
    # pending: the last clear observation differs from every state before it
    total = np.einsum("tbp,tp->bp", xz, vw.astype("float32"))
    last = np.where(vw, tidx, -1).max(axis=0)
    ar = np.arange(p)
    x_last = xz[np.maximum(last, 0), :, ar].T
    nprev = vw.sum(axis=0) - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        prev_mean = (total - x_last) / nprev
    d_last = np.sqrt(_ssum(x_last - prev_mean))
    out["pending"] = (~out["changed"] & (last >= 0) & (nprev >= prm.min_before)
                      & (d_last > prm.threshold))
    return out


def pixel_history(stack: StackLike, params: TimelineParams, valid: np.ndarray | None = None,
                  *, days: Sequence[float] | np.ndarray | None = None,
                  chunk_pixels: int = CHUNK_PIXELS, workers: int | None = None
                  ) -> PixelHistory:
    """The first lasting change of every pixel of an epoch stack (see the module docs).

    Parameters
    ----------
    stack : (T, B, M, N) ndarray or sequence of T (B, M, N) arrays
        Epoch composites in time order, NaN where there is no clear
        observation; a sequence may hold None for a gap epoch.
    params : TimelineParams
        Global parameters (the same for every block of a site).
    valid : (T, M, N) bool ndarray, optional
        Clear observations (default: finite in every band).
    days : (T,) array of float, optional
        Date of each epoch in days (any origin: e.g. ``datetime.date.toordinal``),
        for the persistence in days and the seasons (default: quarters, 91.3 days
        apart).
    chunk_pixels : int
        Pixels processed together (memory bound, not results).
    workers : int, optional
        Chunks processed at once, on threads (numpy works outside the
        interpreter lock); default: the processor cores, at most
        :data:`MAX_WORKERS`. The results do not depend on it.

    Returns
    -------
    PixelHistory

    Raises
    ------
    DataError
        If the stack is not (time, band, row, col) of at least 3 epochs.
    """
    layers, (t, b, m, n) = as_stack(stack, valid)
    day = (np.arange(t) * 91.3125 if days is None else np.asarray(days, "float64"))
    if day.shape != (t,) or not np.isfinite(day).all() or (np.diff(day) < 0).any():
        raise DataError(f"days must hold one date per epoch, in time order ({t} epochs, got "
                        f"{day.shape})")
    rows_per = max(1, chunk_pixels // max(n, 1))
    h = PixelHistory(
        changed=np.zeros((m, n), bool), first_epoch=np.full((m, n), -1, "int16"),
        last_unchanged=np.full((m, n), -1, "int16"),
        magnitude=np.full((m, n), np.nan, "float32"), zscore=np.full((m, n), np.nan, "float32"),
        share=np.zeros((m, n), "float32"), n_before=np.zeros((m, n), "uint16"),
        n_after=np.zeros((m, n), "uint16"), confidence=np.zeros((m, n), "float32"),
        transients=np.zeros((m, n), "uint16"), clear_count=np.zeros((m, n), "uint16"),
        pending=np.zeros((m, n), bool), before_state=np.full((b, m, n), np.nan, "float32"),
        after_state=np.full((b, m, n), np.nan, "float32"),
        seasonal=np.zeros((m, n), bool), season_pairs=np.zeros((m, n), "uint16"))
    pairs = _same_season(day, params.season_days) if params.season_days > 0 else []

    local = threading.local()

    def one(r0: int) -> None:
        rows = slice(r0, min(m, r0 + rows_per))
        if getattr(local, "buffers", None) is None:   # one pair per thread: fresh memory
            px = min(m, rows_per) * n                  # costs more than the arithmetic
            local.buffers = (np.empty(t * b * px, "float32"), np.empty(t * px, bool))
        x, v = _chunk(layers, valid, rows, (t, b, m, n), local.buffers)
        o = _history_chunk(x, v, params, day, pairs)
        nr = rows.stop - rows.start
        shp = (nr, n)
        h.changed[rows] = o["changed"].reshape(shp)
        h.first_epoch[rows] = o["k"].reshape(shp)
        h.last_unchanged[rows] = o["last"].reshape(shp)
        h.magnitude[rows] = o["dist"].reshape(shp)
        h.zscore[rows] = o["z"].reshape(shp)
        h.share[rows] = o["share"].reshape(shp)
        h.n_before[rows] = o["nb"].reshape(shp)
        h.n_after[rows] = o["na"].reshape(shp)
        support = np.minimum(o["nb"], o["nfar"])
        conf = o["share"] * (1 - 0.5 ** support) * np.where(o["single"], 0.5, 1.0)
        h.confidence[rows] = np.where(o["changed"], conf, 0).reshape(shp)
        h.seasonal[rows] = o["seasonal"].reshape(shp)       # type: ignore[index]
        h.season_pairs[rows] = o["season_pairs"].reshape(shp)  # type: ignore[index]
        h.transients[rows] = o["transients"].reshape(shp)
        h.clear_count[rows] = o["clear"].reshape(shp)
        h.pending[rows] = o["pending"].reshape(shp)
        h.before_state[:, rows] = o["mb"].reshape(b, *shp)
        h.after_state[:, rows] = o["ma"].reshape(b, *shp)

    starts = range(0, m, rows_per)
    n_workers = min(len(starts), workers or min(MAX_WORKERS, available_cores()))
    if n_workers <= 1:
        for r0 in starts:
            one(r0)
    else:   # each chunk writes its own rows of the result
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for _ in pool.map(one, starts):
                pass
    log.info("timeline: %d of %d pixels changed for good, %d transients set aside",
             int(h.changed.sum()), m * n, int(h.transients.sum()))
    return h
