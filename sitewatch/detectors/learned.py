"""The learned change detector: per-image normalisation + a small CNN (numpy inference).

**Input.** The ten 10/20 m Sentinel-2 bands of both dates. Each band of each
image is standardised with its own median and interquartile range
(:func:`image_stats`, :func:`standardize`), which removes any per-band
gain/offset, so Level-1C (top of atmosphere) and Level-2A (surface)
reflectance look alike to the model. The network sees the 10 standardised
bands of each date and their 10 differences (30 channels); missing pixels
(clouds, no-data) are set to 0 (the median) and reported invalid.

**Model.** :mod:`sitewatch.detectors.convnet`, a slim early-fusion U-Net
(about 50 000 weights, 0.2 MB). It was trained by ``benchmarks/train_cnn.py``
(seeded, CPU) only on the labelled OSCD cities - the shipped model on 8 of
them, all but cupertino (the bundled sample's city); its accuracy is reported
leave-one-city-out in ``benchmarks/results/oscd.md`` (train on 8, score the
9th), never on its training cities. Training labels: Onera Satellite Change
Detection dataset, Daudt, Le Saux, Boulch, Gousseau, IGARSS 2018, CC BY-NC-SA
4.0 - the weights derive from them.

**Blockwise.** One fit pass gathers per-band histograms of both dates (on
fixed reflectance bins, mergeable) for the normalisation statistics; apply
runs the network on a block with a halo of the network's reach
(:attr:`~sitewatch.detectors.convnet.Arch.halo`), offsets aligned to its pooling grid.
Inside any array wider or taller than :data:`TILE` pixels (plus the halo) the
network runs tile by tile with the same halo, so memory stays bounded whatever
the raster's width (a full-width block of a 10980-column tile) and the logits
are those of one evaluation on the whole array.

Examples
--------
>>> import numpy as np
>>> from sitewatch.bands import S2_LAND_BANDS
>>> rng = np.random.default_rng(0)
>>> b = rng.uniform(0.02, 0.3, (10, 64, 64)).astype("float32")
>>> cm = LearnedDetector(band_names=S2_LAND_BANDS).run(b, b.copy())
>>> cm.mask.shape, bool(cm.mask.mean() < 0.01)
((64, 64), True)
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors.base import Detector, FitState, check_pair
from sitewatch.detectors.convnet import Arch, check_weights, forward
from sitewatch.detectors.indices import INDEX_BANDS
from sitewatch.detectors.params import Param
from sitewatch.detectors.partial import Histogram, Partial
from sitewatch.detectors.registry import register_detector
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["LearnedDetector", "image_stats", "standardize", "model_inputs", "load_model",
           "tiled_logits", "REFLECTANCE_HISTOGRAM", "MODEL_NAMES", "TILE"]

log = logging.getLogger(__name__)

#: Fixed bins for per-band reflectance statistics (mergeable over blocks).
REFLECTANCE_HISTOGRAM = Histogram(-0.5, 2.5, 6000)

#: Models shipped in ``sitewatch/detectors/models``. ``default`` is the
#: leave-cupertino-out model of ``benchmarks/train_cnn.py``: trained on the 8
#: other OSCD cities, so its score on the bundled cupertino sample (the demo) is
#: an out-of-training score; ``loco-cupertino`` names the same file.
MODEL_NAMES = ("default", "loco-cupertino")
_ALIASES = {"loco-cupertino": "default"}


def image_stats(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band median and interquartile range from (B, nbins) reflectance histograms.

    Examples
    --------
    >>> x = np.linspace(0, 1, 10001)
    >>> med, iqr = image_stats(REFLECTANCE_HISTOGRAM.counts(x)[None])
    >>> round(float(med[0]), 3), round(float(iqr[0]), 3)
    (0.5, 0.5)
    """
    h = REFLECTANCE_HISTOGRAM
    med = np.array([h.quantile(c, 0.5) for c in counts])
    iqr = np.array([h.quantile(c, 0.75) - h.quantile(c, 0.25) for c in counts])
    return med, np.maximum(iqr, 1e-4)


def standardize(x: np.ndarray, median: np.ndarray, iqr: np.ndarray) -> np.ndarray:
    """``(x - median) / iqr`` per band of a (B, M, N) array; NaN becomes 0.

    Examples
    --------
    >>> standardize(np.array([[[0.5, np.nan]]]), np.array([0.25]), np.array([0.125]))
    array([[[2., 0.]]], dtype=float32)
    """
    z = (np.asarray(x, "float32") - median[:, None, None].astype("float32")) \
        / iqr[:, None, None].astype("float32")
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def model_inputs(before: np.ndarray, after: np.ndarray, stats_before: tuple[np.ndarray, ...],
                 stats_after: tuple[np.ndarray, ...], *, siamese: bool = False) -> np.ndarray:
    """Network input: standardised before, after, and (early fusion) their difference.

    (3B, M, N) for an early-fusion network; (2B, M, N) for a Siamese one, whose
    encoder sees each date's B bands on its own.

    Examples
    --------
    >>> s = (np.zeros(1), np.ones(1))
    >>> model_inputs(np.ones((1, 1, 1)), 3 * np.ones((1, 1, 1)), s, s)[:, 0, 0]
    array([1., 3., 2.], dtype=float32)
    >>> model_inputs(np.ones((1, 1, 1)), 3 * np.ones((1, 1, 1)), s, s, siamese=True)[:, 0, 0]
    array([1., 3.], dtype=float32)
    """
    zb = standardize(before, *stats_before)
    za = standardize(after, *stats_after)
    return np.concatenate([zb, za] if siamese else [zb, za, za - zb])


#: Core size (pixels, a multiple of every pooling grid) of the tiles the network
#: runs on: about 0.2 GB of activations per tile for the shipped model.
TILE = 1024


def _spans(n: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(core0, core1, read0, read1) along one axis; one span when it fits with its halo."""
    if n <= tile + 2 * halo:
        return [(0, n, 0, n)]
    return [(c0, min(n, c0 + tile), max(0, c0 - halo), min(n, c0 + tile + halo))
            for c0 in range(0, n, tile)]


def tiled_logits(before: np.ndarray, after: np.ndarray, stats_before: tuple[np.ndarray, ...],
                 stats_after: tuple[np.ndarray, ...], weights: dict[str, np.ndarray],
                 arch: Arch, *, tile: int = TILE) -> np.ndarray:
    """(M, N) logits of the network on a pair, evaluated tile by tile with its halo.

    Tiles start on the pooling grid and read :attr:`Arch.halo` pixels of
    context on each side, so the result equals one
    :func:`~sitewatch.detectors.convnet.forward` on the whole pair while the
    network's inputs and activations only ever exist for one tile.

    Examples
    --------
    >>> from sitewatch.detectors.convnet import random_weights
    >>> rng = np.random.default_rng(0)
    >>> arch = Arch(widths=(4, 8), enc_convs=(1, 1))
    >>> w = random_weights(arch, 3, rng)
    >>> b, a = rng.random((2, 1, 40, 90)).astype("float32")
    >>> s = (np.zeros(1), np.ones(1))
    >>> whole = forward(w, model_inputs(b, a, s, s), arch)
    >>> bool(np.allclose(tiled_logits(b, a, s, s, w, arch, tile=16), whole, atol=1e-5))
    True
    """
    al, halo = arch.align, arch.halo  # the halo is a multiple of the pooling grid
    tile = max(al, tile // al * al)
    _, h, w = before.shape
    rows, cols = _spans(h, tile, halo), _spans(w, tile, halo)
    if len(rows) == 1 and len(cols) == 1:
        return forward(weights, model_inputs(before, after, stats_before, stats_after,
                                             siamese=arch.siamese), arch)
    out = np.empty((h, w), "float32")
    for c0, c1, r0, r1 in rows:
        for d0, d1, s0, s1 in cols:
            x = model_inputs(before[:, r0:r1, s0:s1], after[:, r0:r1, s0:s1], stats_before,
                             stats_after, siamese=arch.siamese)
            out[c0:c1, d0:d1] = forward(weights, x, arch)[c0 - r0:c1 - r0, d0 - s0:d1 - s0]
    return out


def _model_path(name: str) -> Path:
    if name.endswith(".npz"):
        return Path(name)
    name = _ALIASES.get(name, name)
    return Path(str(resources.files("sitewatch.detectors") / "models" / f"cnn-{name}.npz"))


@lru_cache(maxsize=8)
def load_model(name: str = "default") -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Weights and metadata of a shipped model (``default``, ``loco-cupertino``) or a path.

    Examples
    --------
    >>> w, meta = load_model("default")
    >>> meta["bands"] == list(S2_LAND_BANDS), "CC BY-NC-SA" in meta["training_labels"]
    (True, True)
    """
    path = _model_path(name)
    if not path.is_file():
        raise DetectorError(f"no model {name!r} ({path}): use one of {', '.join(MODEL_NAMES)} "
                            "or the path of a .npz made by benchmarks/train_cnn.py")
    with np.load(path) as z:
        weights = {k: np.asarray(z[k], "float32") for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    if "arch" not in meta:
        raise DetectorError(f"model {path} predates the current format (no arch): retrain it "
                            "with benchmarks/train_cnn.py")
    arch = Arch.from_meta(meta["arch"])
    problems = check_weights(weights, arch, arch.input_channels(len(meta["bands"])))
    if problems:
        raise DetectorError(f"model {path} does not match its arch: {'; '.join(problems[:3])}")
    return weights, meta


@register_detector("cnn", summary="Small convolutional network trained on OSCD cities "
                   "(per-image normalised, L1C or L2A), change probability per pixel.",
                   bands=S2_LAND_BANDS)
class LearnedDetector(Detector):
    """Learned change detector: per-image standardisation and a small CNN.

    Accuracy on the 9 labelled OSCD cities is measured leave-one-city-out
    (``benchmarks/results/oscd.md``). The model was trained on OSCD labels (CC
    BY-NC-SA 4.0, Daudt et al. 2018). Needs the ten bands B02, B03, B04, B05,
    B06, B07, B08, B8A, B11, B12.

    Parameters
    ----------
    model : str
        ``"default"`` (trained on the 8 OSCD cities other than cupertino), or
        the path of a ``.npz`` from ``benchmarks/train_cnn.py``.
    threshold : float, optional
        Cut on the change probability (default: the model's, chosen before
        scoring).

    Examples
    --------
    >>> LearnedDetector().params["model"]
    'default'
    """

    parameters: ClassVar[tuple[Param, ...]] = (
        Param("model", "default", "'default' (trained on the 8 OSCD cities other than "
              "cupertino), or the path of a .npz from benchmarks/train_cnn.py.", kind=str),
        Param("threshold", None, "Cut on the change probability (none: the model's own, "
              "chosen before scoring).", low=0, high=1, low_open=True, high_open=True,
              optional=True),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.band_names:
            self.band_names = S2_LAND_BANDS
        self.weights, self.meta = load_model(str(self.params["model"]))
        self.arch = Arch.from_meta(self.meta["arch"])
        self.halo = self.arch.halo  # type: ignore[misc]
        self.block_align = self.arch.align  # type: ignore[misc]
        need = tuple(self.meta["bands"])
        if tuple(self.band_names) != need:
            raise DetectorError(f"the cnn detector needs bands {', '.join(need)} in this "
                                f"order, got {', '.join(self.band_names)}")

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial | None:
        h = REFLECTANCE_HISTOGRAM
        return Partial.of(sums={"before": np.stack([h.counts(x[valid]) for x in before]),
                                "after": np.stack([h.counts(x[valid]) for x in after])})

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        if total is None:
            raise DetectorError("cnn: no pixel is valid on both dates")
        sb = image_stats(total.sums["before"])
        sa = image_stats(total.sums["after"])
        return {**state, "done": True, "stats_before": sb, "stats_after": sa}

    def apply(self, state: FitState, before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap:
        b, a, ok = check_pair(before, after, valid)
        logit = tiled_logits(b, a, state["stats_before"], state["stats_after"], self.weights,
                             self.arch, tile=TILE)
        prob = (1 / (1 + np.exp(-np.clip(logit, -30, 30)))).astype("float32")
        prob[~ok] = np.nan
        thr = self.params["threshold"]
        thr = float(self.meta.get("threshold", 0.5) if thr is None else thr)
        mask = ok & (prob > thr)
        ctype = None
        if all(n in self.band_names for n in INDEX_BANDS):
            from sitewatch.detectors.changetype import classify_change

            ctype = classify_change(b, a, self.band_names, mask)
        params = {"model": self.params["model"], "threshold": thr,
                  "model_meta": {k: self.meta.get(k) for k in
                                 ("version", "trained_on", "seed", "training_labels")},
                  "bands": list(self.band_names)}
        return ChangeMap(magnitude=prob, mask=mask, method=self.name, probability=prob,
                         change_type=ctype, valid=ok, threshold=thr, params=params)
