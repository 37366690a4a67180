"""The learned change detector: per-image normalisation + a small CNN run by ONNX Runtime.

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

**Inference.** The network ships as an ONNX model
(``sitewatch/detectors/models/cnn-default.onnx``, built from the trained weights
by :func:`~sitewatch.detectors.cnngraph.cnn_graph`) and runs on ONNX Runtime's
CPU kernels (:class:`CnnModel`: each model file is loaded once per process, one
session per thread count). Its probabilities are those of the network's
definition within 1e-4 (the tests compare it with a plain numpy evaluation).
:attr:`LearnedDetector.threads` runtime threads work on each tile: every core in
memory, one per block when the block runner already runs a block on each core.

**Blockwise.** One fit pass gathers per-band histograms of both dates (on
fixed reflectance bins, mergeable) for the normalisation statistics; apply
runs the network on a block with a halo of the network's reach
(:attr:`~sitewatch.detectors.convnet.Arch.halo`), offsets aligned to its pooling grid.
Inside any array larger than :data:`TILE_PIXELS` (plus the halo) the network runs
tile by tile with the same halo, so memory stays bounded whatever the raster's
width (a full-width block of a 10980-column tile) and the probabilities are those
of one evaluation on the whole array.

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
import math
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors.base import Detector, FitState, available_cores, check_pair
from sitewatch.detectors.cnngraph import INPUTS, META_KEY, OUTPUT
from sitewatch.detectors.convnet import Arch
from sitewatch.detectors.params import Param
from sitewatch.detectors.partial import Histogram, Partial
from sitewatch.detectors.registry import register_detector
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["LearnedDetector", "CnnModel", "image_stats", "standardize", "model_inputs",
           "load_model", "load_model_for", "reflectance_partial", "pair_stats",
           "tiled_probability", "REFLECTANCE_HISTOGRAM", "MODEL_NAMES", "TILE_PIXELS"]

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


def reflectance_partial(before: np.ndarray, after: np.ndarray, valid: np.ndarray) -> Partial:
    """One block's per-band reflectance histograms of both dates (a fit pass's partial),
    for :func:`pair_stats`."""
    h = REFLECTANCE_HISTOGRAM
    return Partial.of(sums={"before": np.stack([h.counts(x, valid) for x in before]),
                            "after": np.stack([h.counts(x, valid) for x in after])})


def pair_stats(total: Partial | None, detector: str) -> dict[str, tuple[np.ndarray, ...]]:
    """``stats_before`` and ``stats_after`` (per-band median, IQR) from the merged
    :func:`reflectance_partial` of a scene."""
    if total is None:
        raise DetectorError(f"{detector}: no pixel is valid on both dates")
    return {"stats_before": image_stats(total.sums["before"]),
            "stats_after": image_stats(total.sums["after"])}


def standardize(x: np.ndarray, median: np.ndarray, iqr: np.ndarray) -> np.ndarray:
    """``(x - median) / iqr`` per band of a (B, M, N) array; NaN becomes 0.

    Examples
    --------
    >>> standardize(np.array([[[0.5, np.nan]]]), np.array([0.25]), np.array([0.125]))
    array([[[2., 0.]]], dtype=float32)
    """
    z = (np.asarray(x, "float32") - median[:, None, None].astype("float32")) \
        / iqr[:, None, None].astype("float32")
    return np.nan_to_num(z, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


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


#: Core pixels of the tiles the network runs on (about 0.15 GB of activations each for
#: the shipped model): squares of 724 px, or one row of tiles as wide as keeps this area
#: when the array (a block) is short.
TILE_PIXELS = 1 << 19


def _spans(n: int, core_max: int, halo: int, align: int) -> list[tuple[int, int, int, int]]:
    """(core0, core1, read0, read1) along one axis: equal cores of at most ``core_max``
    (multiples of ``align``), read with ``halo`` on each side; the edge tiles read their
    missing halo from the inside, so every tile but perhaps the last has one size."""
    if n <= core_max + 2 * halo:
        return [(0, n, 0, n)]
    k = -(-n // core_max)
    core = -(-n // (k * align)) * align
    size = core + 2 * halo
    out = []
    for c0 in range(0, n, core):
        c1 = min(n, c0 + core)
        r0 = min(max(0, c0 - halo), max(0, (n - size) // align * align))
        out.append((c0, c1, r0, min(n, max(r0 + size, c1 + halo))))
    return out


def _standardized(x: np.ndarray, median: np.ndarray, iqr: np.ndarray, align: int,
                  buffers: dict[tuple[int, ...], np.ndarray], finite: bool = False
                  ) -> np.ndarray:
    """(1, B, M', N') :func:`standardize` of a (B, M, N) array, zero-padded to multiples of
    ``align`` (the network's input), built in place in a buffer of ``buffers`` (reused
    by the next tile of the same shape once the network has run on this one).
    ``finite``: every value is known finite (no NaN to zero)."""
    nb, h, w = x.shape
    shape = (1, nb, h + (-h) % align, w + (-w) % align)
    out = buffers.pop(shape, None)
    if out is None:
        out = np.zeros(shape, "float32")
    elif shape[2:] != (h, w):  # the padding of a reused buffer
        out[:, :, h:] = 0
        out[:, :, :, w:] = 0
    z = out[0, :, :h, :w]
    np.subtract(x, median[:, None, None].astype("float32"), out=z)
    np.divide(z, iqr[:, None, None].astype("float32"), out=z)
    if not finite:
        np.copyto(z, np.float32(0), where=~np.isfinite(z))
    return out


def tiled_probability(model: CnnModel, before: np.ndarray, after: np.ndarray,
                      stats_before: tuple[np.ndarray, ...], stats_after: tuple[np.ndarray, ...],
                      *, tile_pixels: int = TILE_PIXELS, threads: int = 1,
                      valid: np.ndarray | None = None) -> np.ndarray:
    """(M, N) change probability of the network on a pair, evaluated tile by tile with its halo.

    Tiles of at most ``tile_pixels`` core pixels start on the pooling grid and read
    :attr:`Arch.halo` pixels of context on each side, so the result is that of one
    evaluation on the whole pair (up to float rounding) while the network's inputs and
    activations only ever exist for one tile. ``threads``: ONNX Runtime threads per tile;
    ``valid`` (M, N): where both dates are known finite (:func:`check_pair`), so fully
    valid tiles skip the search for missing values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> b, a = rng.random((2, 10, 40, 300)).astype("float32")
    >>> s = (np.full(10, 0.5), np.full(10, 0.25))
    >>> m = load_model("default")
    >>> whole = tiled_probability(m, b, a, s, s)
    >>> tiled = tiled_probability(m, b, a, s, s, tile_pixels=64 * 64)
    >>> whole.shape, bool(np.abs(tiled - whole).max() < 1e-5)
    ((40, 300), True)
    """
    arch = model.arch
    al, halo = arch.align, arch.halo  # the halo is a multiple of the pooling grid
    side = max(al, math.isqrt(tile_pixels) // al * al)
    _, h, w = before.shape
    rows = _spans(h, side, halo, al)
    wide = side if len(rows) > 1 else max(side, tile_pixels // max(h, 1) // al * al)
    cols = _spans(w, wide, halo, al)
    out = np.empty((h, w), "float32")
    free: tuple[dict[tuple[int, ...], np.ndarray], ...] = ({}, {})  # inputs, per date
    for c0, c1, r0, r1 in rows:
        for d0, d1, s0, s1 in cols:
            finite = valid is not None and bool(valid[r0:r1, s0:s1].all())
            zb = _standardized(before[:, r0:r1, s0:s1], stats_before[0], stats_before[1], al,
                               free[0], finite)
            za = _standardized(after[:, r0:r1, s0:s1], stats_after[0], stats_after[1], al,
                               free[1], finite)
            prob = model.run(zb, za, threads=threads)
            out[c0:c1, d0:d1] = prob[c0 - r0:c1 - r0, d0 - s0:d1 - s0]
            free[0][zb.shape], free[1][za.shape] = zb, za
    return out


class CnnModel:
    """A `cnn` model loaded from its ONNX file: metadata, arch and ONNX Runtime sessions.

    Made by :func:`load_model` (cached: each file is read once per process). One
    session per thread count is created on first use and reused; sessions are
    thread-safe, so blocks on several threads share them.

    Attributes
    ----------
    path : Path
    meta : dict
        Bands, arch, threshold and training facts recorded with the model.
    arch : Arch
    """

    def __init__(self, path: Path, blob: bytes, meta: dict[str, Any]) -> None:
        self.path, self.meta = path, meta
        self.arch = Arch.from_meta(meta["arch"])
        self._blob = blob
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()

    def session(self, threads: int = 1) -> Any:
        """The ONNX Runtime session that runs the network on ``threads`` threads."""
        threads = max(1, int(threads))
        with self._lock:
            sess = self._sessions.get(threads)
            if sess is None:
                sess = self._sessions[threads] = _session(self._blob, threads, self.path)
        return sess

    def run(self, before: np.ndarray, after: np.ndarray, *, threads: int = 1) -> np.ndarray:
        """(M, N) probability of standardised (1, B, M, N) inputs (M, N multiples of the
        arch's alignment)."""
        out = self.session(threads).run([OUTPUT], {INPUTS[0]: before, INPUTS[1]: after})
        return out[0][0, 0]  # type: ignore[no-any-return]


def _session(blob: bytes, threads: int, path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle worker threads sleep instead of spinning: the machine is shared with the
    # block runner's threads (and other processes)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise DetectorError(f"model {path} cannot be loaded by ONNX Runtime ({err}): convert "
                            "its weights again with benchmarks/cnn_to_onnx.py") from err


def _model_path(name: str) -> Path:
    if name.endswith((".onnx", ".npz")):
        path = Path(name)
        onnx_path = path.with_suffix(".onnx")
        if path.suffix == ".npz" and not onnx_path.is_file() and path.is_file():
            raise DetectorError(f"model {path} has no ONNX file beside it: convert it with "
                                f"python benchmarks/cnn_to_onnx.py {path}")
        return onnx_path
    name = _ALIASES.get(name, name)
    return Path(str(resources.files("sitewatch.detectors") / "models" / f"cnn-{name}.onnx"))


def load_model(name: str = "default") -> CnnModel:
    """A shipped model (``default``, ``loco-cupertino``) or the path of a model file.

    A path names the ``.onnx`` file written by ``benchmarks/train_cnn.py`` or
    ``benchmarks/cnn_to_onnx.py``, or the ``.npz`` weights beside it.

    Examples
    --------
    >>> m = load_model("default")
    >>> m.meta["bands"] == list(S2_LAND_BANDS), "CC BY-NC-SA" in m.meta["training_labels"]
    (True, True)
    """
    path = _model_path(name)
    if not path.is_file():
        raise DetectorError(f"no model {name!r} ({path}): use one of {', '.join(MODEL_NAMES)} "
                            "or the path of a .onnx made by benchmarks/train_cnn.py")
    return _load(path.resolve())


def load_model_for(name: str, band_names: tuple[str, ...], detector: str) -> CnnModel:
    """:func:`load_model`, checking that ``band_names`` are the model's bands in its order."""
    model = load_model(name)
    need = tuple(model.meta["bands"])
    if tuple(band_names) != need:
        raise DetectorError(f"the {detector} detector needs bands {', '.join(need)} in this "
                            f"order, got {', '.join(band_names)}")
    return model


@lru_cache(maxsize=16)
def _load(path: Path) -> CnnModel:
    """The model in one file, read once per process."""
    blob = path.read_bytes()
    sess = _session(blob, 1, path)
    meta_text = sess.get_modelmeta().custom_metadata_map.get(META_KEY)
    if meta_text is None:
        raise DetectorError(f"model {path} is not a sitewatch cnn model (no {META_KEY!r} "
                            "metadata): make it with benchmarks/cnn_to_onnx.py")
    meta = json.loads(meta_text)
    ins = {i.name: i.shape for i in sess.get_inputs()}
    if set(ins) != set(INPUTS) or any(s[1] != len(meta["bands"]) for s in ins.values()):
        raise DetectorError(f"model {path} does not take {len(meta['bands'])} bands per date "
                            f"as its metadata says ({ins}): convert it again")
    model = CnnModel(path, blob, meta)
    model._sessions[1] = sess
    return model


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
        the path of a ``.onnx`` model from ``benchmarks/train_cnn.py`` (or
        ``benchmarks/cnn_to_onnx.py``), or of the ``.npz`` weights beside it.
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
              "cupertino), or the path of a .onnx model (or of the .npz weights beside it) "
              "from benchmarks/train_cnn.py.", kind=str),
        Param("threshold", None, "Cut on the change probability (none: the model's own, "
              "chosen before scoring).", low=0, high=1, low_open=True, high_open=True,
              optional=True),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.band_names:
            self.band_names = S2_LAND_BANDS
        self.model = load_model_for(str(self.params["model"]), self.band_names, "cnn")
        self.meta, self.arch = self.model.meta, self.model.arch
        self.threads = available_cores()  # in memory: the network on every core
        self.halo = self.arch.halo  # type: ignore[misc]
        self.stats_halo = 0  # type: ignore[misc]  # per-pixel histograms: no context
        self.block_align = self.arch.align  # type: ignore[misc]

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial | None:
        return reflectance_partial(before, after, valid)

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        return {**state, "done": True, **pair_stats(total, "cnn")}

    def apply(self, state: FitState, before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap:
        b, a, ok = check_pair(before, after, valid)
        prob = tiled_probability(self.model, b, a, state["stats_before"], state["stats_after"],
                                 tile_pixels=TILE_PIXELS, threads=self.threads, valid=ok)
        prob[~ok] = np.nan
        thr = self.params["threshold"]
        thr = float(self.meta.get("threshold", 0.5) if thr is None else thr)
        mask = ok & (prob > thr)
        params = {"model": self.params["model"], "threshold": thr,
                  "model_meta": {k: self.meta.get(k) for k in
                                 ("version", "trained_on", "seed", "training_labels")},
                  "bands": list(self.band_names)}
        # the change type is the caller's (pipeline.detect_change, the block runner's
        # apply_block), per changed pixel
        return ChangeMap(magnitude=prob, mask=mask, method=self.name, probability=prob,
                         valid=ok, threshold=thr, params=params)
