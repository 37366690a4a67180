"""PCA-k-means change detection (Celik 2009).

The difference image (here the change-vector magnitude, optionally after
IR-MAD radiometric normalisation) is cut into non-overlapping ``h x h``
blocks; principal component analysis of those blocks gives an eigenvector
basis of local difference patterns. Each pixel's ``h x h`` neighbourhood is
projected on the leading components (those explaining ``variance`` of the
total, at most ``h*h``), and k-means with two clusters splits the feature
vectors; the cluster whose centre has the larger mean difference is change.

Blockwise: one pass sums the outer products of the ``h x h`` blocks (the
PCA), one pass initialises the two centres (mean feature below / above the
mean first component), then one pass per k-means (Lloyd) iteration sums the
features of each cluster; k-means is fitted on the features of the
non-overlapping blocks (a 1/h^2 sample), so block offsets must be multiples of
``h``. Apply needs a halo of ``h`` pixels. The statistic
reported is the distance to the no-change centre minus the distance to the
change centre (> 0 is change).

References
----------
T. Celik, "Unsupervised change detection in satellite images using principal
component analysis and k-means clustering", IEEE GRSL 6(4), 772-776, 2009.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> b = rng.normal(0.2, 0.01, (3, 60, 60)).astype("float32")
>>> a = b + rng.normal(0, 0.01, b.shape).astype("float32")
>>> a[:, 20:35, 20:35] += 0.2
>>> cm = PCAKMeansDetector().run(b, a)
>>> bool(cm.mask[22:33, 22:33].all()), bool(cm.mask.mean() < 0.1)
(True, True)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sitewatch.detectors.base import Detector, FitState, check_pair
from sitewatch.detectors.normalize import IMADNormalization
from sitewatch.detectors.params import Param
from sitewatch.detectors.partial import Partial
from sitewatch.detectors.registry import register_detector
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["PCAKMeansDetector", "neighbourhood_vectors"]


def neighbourhood_vectors(img: np.ndarray, h: int) -> np.ndarray:
    """(h*h, M, N) vectors of each pixel's ``h x h`` neighbourhood (edges reflected).

    Examples
    --------
    >>> neighbourhood_vectors(np.arange(9.0).reshape(3, 3), 3)[:, 1, 1]
    array([0., 1., 2., 3., 4., 5., 6., 7., 8.])
    """
    r0 = (h - 1) // 2
    r1 = h - 1 - r0
    p = np.pad(img, ((r0, r1), (r0, r1)), mode="reflect")
    v = sliding_window_view(p, (h, h))  # (M, N, h, h)
    return np.moveaxis(v.reshape(*img.shape, h * h), -1, 0)


@register_detector("pcakmeans", summary="PCA-k-means (Celik 2009): k-means with two clusters "
                   "on PCA features of local change-magnitude neighbourhoods.")
class PCAKMeansDetector(Detector):
    """PCA-k-means unsupervised change detection (Celik 2009).

    Parameters
    ----------
    block : int
        Neighbourhood / block size ``h`` (Celik uses 3-9; default 5).
    variance : float
        Share of the blocks' variance the kept components explain.
    max_iter : int
        k-means iterations at most (one fit pass each).
    normalize : bool
        Normalise the after image to the before one from IR-MAD invariant
        pixels first (:mod:`sitewatch.detectors.normalize`).

    Examples
    --------
    >>> PCAKMeansDetector(block=3).halo
    3
    """

    parameters: ClassVar[tuple[Param, ...]] = (
        Param("block", 5, "Neighbourhood / block size in pixels (Celik uses 3-9).", kind=int,
              low=2, high=15),
        Param("variance", 0.9, "Share of the blocks' variance the kept components explain.",
              low=0, high=1, low_open=True),
        Param("max_iter", 30, "k-means iterations at most (one fit pass each).", kind=int,
              low=1, high=1000),
        Param("normalize", False, "Normalise the after image to the before one from IR-MAD "
              "invariant pixels first.", kind=bool),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        h = int(self.params["block"])
        self.h = h
        self.halo = h  # type: ignore[misc]
        self.block_align = h  # type: ignore[misc]
        self.norm = IMADNormalization() if self.params["normalize"] else None

    def _diff(self, state: FitState, before: np.ndarray, after: np.ndarray,
              valid: np.ndarray) -> np.ndarray:
        if self.norm is not None:
            after = self.norm.transform(state, after)
        d = np.sqrt(np.sum((after - before) ** 2, axis=0, dtype="float32"))
        return np.where(valid, d, 0.0).astype("float32")

    def _features(self, state: FitState, diff: np.ndarray) -> np.ndarray:
        v = neighbourhood_vectors(diff, self.h).reshape(self.h * self.h, -1).astype("float64")
        return np.asarray(state["basis"]).T @ (v - np.asarray(state["mean"])[:, None])

    def initial_state(self) -> FitState:
        st: FitState = {"pass": 0}
        if self.norm is not None:
            st.update(self.norm.initial_state())
        return st

    def fit_done(self, state: FitState) -> bool:
        return bool(state.get("kmeans_done", False))

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial | None:
        if self.norm is not None and not self.norm.done(state):
            return self.norm.block_stats(state, before, after, valid)
        d = self._diff(state, before, after, valid)
        x = self._blocks(d, valid)
        if "basis" not in state:  # PCA of non-overlapping h x h blocks
            return Partial.of(sums={"n": len(x), "s": x.sum(0), "ss": x.T @ x})
        # k-means is fitted on the same non-overlapping blocks (a 1/h^2 sample of the
        # pixel neighbourhoods, exact over any block split aligned to h)
        f = np.asarray(state["basis"]).T @ (x.T - np.asarray(state["mean"])[:, None])
        if "centres" not in state:
            up = f[0] > state["pc1_mean"]
            return Partial.of(sums={"n_lo": (~up).sum(), "s_lo": f[:, ~up].sum(1),
                                    "n_hi": up.sum(), "s_hi": f[:, up].sum(1)})
        c = np.asarray(state["centres"])
        lab = self._assign(f, c)
        return Partial.of(sums={"n_lo": (~lab).sum(), "s_lo": f[:, ~lab].sum(1),
                                "n_hi": lab.sum(), "s_hi": f[:, lab].sum(1)})

    def _blocks(self, d: np.ndarray, valid: np.ndarray) -> np.ndarray:
        h = self.h
        m, n = (d.shape[0] // h) * h, (d.shape[1] // h) * h
        ok = valid[:m, :n].reshape(m // h, h, n // h, h).all(axis=(1, 3)).ravel()
        blocks = d[:m, :n].reshape(m // h, h, n // h, h).transpose(0, 2, 1, 3)
        return blocks.reshape(-1, h * h)[ok].astype("float64")  # type: ignore[no-any-return]

    @staticmethod
    def _assign(f: np.ndarray, c: np.ndarray) -> np.ndarray:
        d0 = ((f - c[0][:, None]) ** 2).sum(0)
        d1 = ((f - c[1][:, None]) ** 2).sum(0)
        return d1 < d0  # type: ignore[no-any-return]

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        if total is None:
            raise DetectorError("pcakmeans: no valid pixel")
        if self.norm is not None and not self.norm.done(state):
            return self.norm.end_pass(state, total)
        out = dict(state)
        s = total.sums
        if "basis" not in state:
            n = float(s["n"])
            if n < 2:
                raise DetectorError(f"pcakmeans: too few valid {self.h}x{self.h} blocks; "
                                    "use a smaller block")
            mean = s["s"] / n
            cov = s["ss"] / n - np.outer(mean, mean)
            vals, vecs = np.linalg.eigh(cov)
            vals, vecs = vals[::-1], vecs[:, ::-1]
            share = np.cumsum(np.maximum(vals, 0)) / max(float(np.maximum(vals, 0).sum()), 1e-30)
            k = int(np.searchsorted(share, float(self.params["variance"])) + 1)
            basis = vecs[:, :k]
            if basis[:, 0].sum() < 0:
                basis[:, 0] = -basis[:, 0]  # first component grows with the difference
            out.update(mean=mean, basis=basis, pc1_mean=0.0, components=k)
            return out
        n_lo, n_hi = float(s["n_lo"]), float(s["n_hi"])
        if n_lo == 0 or n_hi == 0:
            raise DetectorError("pcakmeans: k-means found a single cluster (no change "
                                "contrast); try another detector")
        c = np.stack([s["s_lo"] / n_lo, s["s_hi"] / n_hi])
        prev = state.get("centres")
        it = int(state.get("kmeans_iter", 0)) + 1
        out.update(centres=c, kmeans_iter=it)
        if prev is not None and (np.allclose(prev, c, rtol=1e-6, atol=1e-12)
                                 or it >= int(self.params["max_iter"])):
            out["kmeans_done"] = True
        return out

    def apply(self, state: FitState, before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap:
        b, a, ok = check_pair(before, after, valid)
        d = self._diff(state, b, a, ok)
        f = self._features(state, d)
        c = np.asarray(state["centres"])
        hi = int(np.argmax(c[:, 0]))  # the change cluster: larger first component
        dist = np.sqrt(((f - c[1 - hi][:, None]) ** 2).sum(0)) \
            - np.sqrt(((f - c[hi][:, None]) ** 2).sum(0))
        stat = dist.reshape(ok.shape).astype("float32")
        stat[~ok] = np.nan
        mask = ok & (stat > 0)
        params = {**self.applied_params(), "components": state["components"],
                  "kmeans_iterations": state.get("kmeans_iter"), "fit_passes": state["pass"]}
        if self.norm is not None:
            params["normalization"] = self.norm.report(state)
        return ChangeMap(magnitude=stat, mask=mask, method=self.name, valid=ok, threshold=0.0,
                         params=params)
