"""The default detector: the network's score fused with spatial context, decided per scene.

Why: on cities it has never seen, the ``cnn``'s probability ranks changed pixels
well but its fixed cut does not carry across scenes, and a neighbourhood
statistic of the plain spectral difference ranks about as well and fails on
different pixels (``benchmarks/results/oscd.md``). This detector combines them:

**Evidence** (per pixel, :mod:`sitewatch.detectors.context`), on each image's
robust-z reflectance (per band: minus the median, over the interquartile range):

- ``cnn1``, ``cnn5``: the network's logit, and its 5 x 5 mean;
- ``gfa``: the change magnitude (visible, NIR, SWIR) smoothed by a guided filter
  that follows the after image's edges; ``gfm``: the same, guided by itself;
- ``rzv15``: the change magnitude's 15 x 15 mean (is this pixel inside a changed patch).

**Stacker.** Each evidence map becomes its per-scene tail score
(:func:`~sitewatch.detectors.decision.tail_score`), and a logistic regression
turns the five tail scores into a change probability ``p``. Its weights ship in
``sitewatch/detectors/models/fused-default.json``, trained by
``benchmarks/train_fusion.py`` (seeded) on the 8 labelled OSCD cities other than
cupertino (the demo's city), like the network, each city's network score from the
fold model that never saw it; its accuracy is reported leave-one-city-out with
every choice nested (``benchmarks/results/oscd.md``).

**Decision** (:mod:`sitewatch.detectors.decision`): the scene's expected
changed area is the sum of ``p``; the ``factor`` x that many pixels of highest
``p`` are flagged, where two absolute floors also hold (the network's 5 x 5
probability, and a 7 x 7 mean of the shift-tolerant change magnitude, which a
sub-pixel mis-registration does not raise), so a pair without change stays clean.

Level-1C and Level-2A inputs give the same answer: every input is standardised
per image and band, which removes a per-band gain and offset.

**Edges** (:mod:`sitewatch.detectors.delineate`): the flagged pixels near each
region's edge are kept only where unmixing their spectra between the before date
and the region's core says they are at least half covered by the new surface, so
a region loses the halo that the neighbourhood evidence leaves. (Letting the
unmixing also add pixels recovered more of partly found regions on the
semi-synthetic sites but grew regions into their surroundings in real cities:
pooled F1 0.403 against 0.423 trimming only, 0.432 with no edge step;
``benchmarks/results/area.md``.)

**Blockwise.** Three fit passes, each mergeable over blocks: reflectance
histograms (normalisation), evidence histograms (tail scores), and the
histogram of ``p`` (the cut); apply reads each block with the halo of the
network plus the context windows. The in-memory run computes the evidence once.

Training labels: Onera Satellite Change Detection dataset (Daudt, Le Saux,
Boulch, Gousseau, IGARSS 2018), CC BY-NC-SA 4.0: the weights derive from them.

Examples
--------
>>> import numpy as np
>>> from sitewatch.bands import S2_LAND_BANDS
>>> rng = np.random.default_rng(0)
>>> b = rng.uniform(0.02, 0.3, (10, 96, 96)).astype("float32")
>>> a = b * rng.normal(1, 0.01, b.shape).astype("float32")
>>> cm = FusedDetector(band_names=S2_LAND_BANDS).run(b, a)  # noise only: nothing flagged
>>> int(cm.mask.sum())
0
>>> a[:, 40:56, 40:56] = np.linspace(0.3, 0.5, 10)[:, None, None]  # a new roof, 25,600 m²
>>> cm = FusedDetector(band_names=S2_LAND_BANDS).run(b, a)
>>> int(cm.mask[40:56, 40:56].sum()), int(cm.mask.sum())
(256, 256)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import ndimage

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors.base import Detector, FitState, available_cores, check_pair
from sitewatch.detectors.context import (
    box_mean,
    change_magnitude,
    guided_filter,
    guided_reach,
    shift_tolerant_magnitude,
)
from sitewatch.detectors.decision import PROBABILITY_HISTOGRAM, scene_threshold, tail_score
from sitewatch.detectors.delineate import REFINE_REACH, refine_mask
from sitewatch.detectors.learned import (
    TILE_PIXELS,
    load_model_for,
    pair_stats,
    reflectance_partial,
    tiled_probability,
)
from sitewatch.detectors.params import Param
from sitewatch.detectors.partial import Histogram, Partial
from sitewatch.detectors.registry import register_detector
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["FusedDetector", "Stacker", "load_stacker", "EVIDENCE", "FLOORS", "evidence_maps"]

log = logging.getLogger(__name__)

#: Bands of the change magnitude: visible, NIR and SWIR (the red-edge bands add noise).
MAGNITUDE_BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
#: Bands whose after-date mean guides the edge-preserving filter (the 10 m bands).
GUIDE_BANDS = ("B02", "B03", "B04", "B08")

_MAG = Histogram(0.0, 1000.0, 8192, scale="log1p", unit=0.01)
_LOGIT = Histogram(-20.0, 20.0, 8000)
#: Ranked evidence maps and the fixed bins of their scene histograms.
EVIDENCE: dict[str, Histogram] = {"gfa": _MAG, "gfm": _MAG, "cnn1": _LOGIT, "cnn5": _LOGIT,
                                  "rzv15": _MAG}
#: Evidence in absolute units, for the floors: the network's 5 x 5 probability and the
#: 7 x 7 mean shift-tolerant change magnitude (robust-z units).
FLOORS = ("cnn5p", "seg7")

_GUIDED = {"gfa": (3, 10.0), "gfm": (3, 1.0)}  # radius, eps
_LOGIT_CLIP = 1e-7
#: Below this many valid pixels (10 km² at 10 m) a scene gives the per-scene decision little
#: context: a warning says so.
SMALL_SCENE_PIXELS = 100_000


def _reach() -> int:
    return max(15 // 2, guided_reach(_GUIDED["gfa"][0]), guided_reach(_GUIDED["gfm"][0]),
               1 + 7 // 2)


def seg7_map(zb: np.ndarray, za: np.ndarray, band_names: tuple[str, ...],
             where: np.ndarray | None = None) -> np.ndarray:
    """The ``seg7`` floor map: 7 x 7 mean of the shift-tolerant change magnitude.

    ``where``: the pixels whose value is needed (others may be wrong); computed on
    those and their 3-pixel neighbourhood only.
    """
    mi = [band_names.index(b) for b in MAGNITUDE_BANDS]
    if where is not None:  # binary dilation by a 7 x 7 square, as two 1-D passes
        where = ndimage.maximum_filter(where.view(np.uint8), 7, mode="constant").view(bool)
    return box_mean(shift_tolerant_magnitude(_bands(zb, mi), _bands(za, mi), where), 7)


def _bands(z: np.ndarray, idx: list[int]) -> np.ndarray:
    """``z[idx]``: a view, not a copy, when the indices are consecutive."""
    if idx == list(range(idx[0], idx[0] + len(idx))):
        return z[idx[0]:idx[0] + len(idx)]
    return z[idx]


def evidence_maps(zb: np.ndarray, za: np.ndarray, prob: np.ndarray,
                  band_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The evidence maps of :data:`EVIDENCE` and :data:`FLOORS` of one block.

    ``zb``, ``za``: robust-z reflectance (B, M, N) of both dates; ``prob``: the
    network's change probability (M, N). (:meth:`FusedDetector.evidence` makes
    ``seg7`` only where a floor is checked: :func:`seg7_map`.)

    Examples
    --------
    >>> zb = np.zeros((10, 20, 20), "float32"); za = zb.copy(); za[:, 5:15, 5:15] = 3
    >>> ev = evidence_maps(zb, za, np.full((20, 20), 0.5, "float32"), S2_LAND_BANDS)
    >>> sorted(ev), round(float(ev["gfm"][10, 10]), 1), float(ev["cnn1"][0, 0])
    (['cnn1', 'cnn5', 'cnn5p', 'gfa', 'gfm', 'rzv15', 'seg7'], 2.8, 0.0)
    """
    return {**_evidence_without_seg(zb, za, prob, band_names),
            "seg7": seg7_map(zb, za, band_names)}


def _evidence_without_seg(zb: np.ndarray, za: np.ndarray, prob: np.ndarray,
                          band_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """:func:`evidence_maps` but ``seg7``, which the detector makes where it is needed."""
    mi = [band_names.index(b) for b in MAGNITUDE_BANDS]
    gi = [band_names.index(b) for b in GUIDE_BANDS]
    mag = change_magnitude(_bands(zb, mi), _bands(za, mi))
    p = np.clip(prob, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    logit = (np.log(p) - np.log1p(-p)).astype("float32")
    cnn5 = box_mean(logit, 5)
    guide = _bands(za, gi).mean(0)
    return {
        "gfa": guided_filter(guide, mag, *_GUIDED["gfa"]),
        "gfm": guided_filter(mag, mag, *_GUIDED["gfm"]),
        "cnn1": logit,
        "cnn5": cnn5,
        "rzv15": box_mean(mag, 15),
        "cnn5p": (1 / (1 + np.exp(-cnn5))).astype("float32"),
    }


def _standardize_bands(x: np.ndarray, stats: tuple[np.ndarray, ...], idx: list[int]
                       ) -> np.ndarray:
    """``standardize(x, *stats)[idx]``, made band by band into one array (no copy of the
    other bands)."""
    med = np.asarray(stats[0])[idx].astype("float32")
    iqr = np.asarray(stats[1])[idx].astype("float32")
    out = np.empty((len(idx), *x.shape[1:]), "float32")
    for j, i in enumerate(idx):
        np.subtract(x[i], med[j], out=out[j])
        np.divide(out[j], iqr[j], out=out[j])
    np.copyto(out, np.float32(0), where=~np.isfinite(out))  # NaN and +-inf become 0
    return out


@dataclass(frozen=True)
class Stacker:
    """Logistic regression on per-scene tail scores, and the decision rule chosen with it.

    Attributes
    ----------
    features : tuple of str
        Evidence maps (:data:`EVIDENCE`), in the order of ``weights``.
    weights : tuple of float
    bias : float
    factor : float
        Pixels flagged per expected changed pixel (:func:`scene_threshold`).
    min_probability : float
    floors : dict
        Absolute floors on :data:`FLOORS`: a flagged pixel is above every one.
    meta : dict
        Training facts (cities, seed, labels' licence).
    sure : dict
        Absolute levels of :data:`FLOORS` above all of which a pixel is flagged whatever
        the scene's expected share (a site where most of the view changed); empty: none.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    factor: float
    min_probability: float
    floors: dict[str, float]
    meta: dict[str, Any]
    sure: dict[str, float] = field(default_factory=dict)

    def probability(self, tails: np.ndarray) -> np.ndarray:
        """``p`` from (k, M, N) tail scores in :attr:`features` order."""
        z = np.tensordot(np.asarray(self.weights, "float32"), tails, axes=1) + np.float32(self.bias)
        return (1 / (1 + np.exp(-z))).astype("float32")

    def to_json(self) -> str:
        """The stacker file's text."""
        return json.dumps({"features": list(self.features), "weights": list(self.weights),
                           "bias": self.bias, "factor": self.factor,
                           "min_probability": self.min_probability, "floors": self.floors,
                           "sure": self.sure, "meta": self.meta}, indent=1)


def load_stacker(name: str = "default") -> Stacker:
    """The shipped stacker (``default``) or a stacker JSON file by path.

    Examples
    --------
    >>> s = load_stacker()
    >>> set(s.features) <= set(EVIDENCE), set(s.floors) <= set(FLOORS)
    (True, True)
    """
    path = Path(name) if name.endswith(".json") else \
        Path(str(resources.files("sitewatch.detectors") / "models" / f"fused-{name}.json"))
    try:
        d = json.loads(path.read_text())
        st = Stacker(tuple(d["features"]), tuple(float(w) for w in d["weights"]),
                     float(d["bias"]), float(d["factor"]), float(d["min_probability"]),
                     {k: float(v) for k, v in d["floors"].items()}, dict(d.get("meta", {})),
                     {k: float(v) for k, v in d.get("sure", {}).items()})
    except FileNotFoundError:
        raise DetectorError(f"no stacker {name!r} ({path}): use 'default' or the path of a "
                            "JSON file written by benchmarks/train_fusion.py") from None
    except (ValueError, KeyError, TypeError) as err:
        raise DetectorError(f"stacker {path} is not a fused-detector stacker ({err}): write it "
                            "again with benchmarks/train_fusion.py") from None
    bad = [f for f in st.features if f not in EVIDENCE] + \
        [f for f in (*st.floors, *st.sure) if f not in FLOORS]
    if bad or len(st.weights) != len(st.features):
        raise DetectorError(f"stacker {path} names unknown evidence {bad} or has "
                            f"{len(st.weights)} weights for {len(st.features)} features: write it "
                            "again with benchmarks/train_fusion.py")
    return st


@register_detector("fused", summary="Default: the cnn's score fused with spatial-context "
                   "statistics, decided per scene (how much changed here), L1C or L2A.",
                   bands=S2_LAND_BANDS)
class FusedDetector(Detector):
    """The network's score and spatial-context statistics, stacked and decided per scene.

    See the module documentation for the method. Needs the ten bands B02, B03,
    B04, B05, B06, B07, B08, B8A, B11, B12. Model and stacker were trained on
    OSCD labels (CC BY-NC-SA 4.0, Daudt et al. 2018).

    Parameters
    ----------
    model : str
        The network (as for ``cnn``): ``"default"`` or the path of a ``.onnx`` model.
    stacker : str
        ``"default"`` or the path of a stacker JSON from ``benchmarks/train_fusion.py``.

    Examples
    --------
    >>> FusedDetector().params
    {'model': 'default', 'stacker': 'default', 'delineate': True}
    """

    parameters: ClassVar[tuple[Param, ...]] = (
        Param("model", "default", "The network: 'default' (trained on the 8 OSCD cities other "
              "than cupertino) or the path of a .onnx model from benchmarks/train_cnn.py.",
              kind=str),
        Param("stacker", "default", "'default' or the path of a stacker JSON written by "
              "benchmarks/train_fusion.py.", kind=str),
        Param("delineate", True, "Re-decide the pixels near each region's edge by unmixing "
              "their spectra (unbiased areas; off: the raw decision, with its halo).",
              kind=bool),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.band_names:
            self.band_names = S2_LAND_BANDS
        self.model = load_model_for(str(self.params["model"]), self.band_names, "fused")
        self.stacker = load_stacker(str(self.params["stacker"]))
        arch = self.model.arch
        self.threads = available_cores()
        # evidence exact where the network and the windows see all they need, and the
        # edge unmixing reads that far again
        self.halo = max(arch.halo + 2, _reach()) + REFINE_REACH  # type: ignore[misc]
        self.block_align = arch.align  # type: ignore[misc]
        # the fit passes run the network too: their context is the same whole number of
        # pooling cells as apply's, so the network sees the same grid in every pass
        self.stats_halo = -(-self.halo // arch.align) * arch.align  # type: ignore[misc]
        self._memo: dict[tuple[Any, ...], dict[str, np.ndarray]] | None = None
        self._fit_memo: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] | None = None

    # -- evidence ---------------------------------------------------------------
    def evidence(self, state: FitState, before: np.ndarray, after: np.ndarray,
                 valid: np.ndarray) -> dict[str, np.ndarray]:
        """Evidence maps of one block (:func:`evidence_maps`) under the fitted statistics."""
        key = (before.__array_interface__["data"][0], after.__array_interface__["data"][0],
               before.shape, before.strides)
        if self._memo is not None and key in self._memo:
            return self._memo[key]
        sb, sa = state["stats_before"], state["stats_after"]
        prob = tiled_probability(self.model, before, after, sb, sa, tile_pixels=TILE_PIXELS,
                                 threads=self.threads, valid=valid)
        # the context maps read the MAGNITUDE_BANDS only: the other 4 are not standardised
        mi = [self.band_index(n) for n in MAGNITUDE_BANDS]
        zb, za = _standardize_bands(before, sb, mi), _standardize_bands(after, sa, mi)
        ev = _evidence_without_seg(zb, za, prob, MAGNITUDE_BANDS)
        ev["_zb"], ev["_za"] = zb, za  # (6, M, N), MAGNITUDE_BANDS
        if self._memo is not None:
            self._memo[key] = ev
        return ev

    def tails(self, state: FitState, ev: dict[str, np.ndarray], *, release: bool = False
              ) -> np.ndarray:
        """(k, M, N) per-scene tail scores of the stacker's features.

        ``release``: drop each feature map from ``ev`` once it is scored (a block's
        maps, which nothing reads again), so the scores take its memory."""
        first = ev[self.stacker.features[0]]
        out = np.empty((len(self.stacker.features), *first.shape), "float32")
        keep = {*FLOORS, *self.stacker.floors, *self.stacker.sure}
        for k, f in enumerate(self.stacker.features):  # no stacked copy of the k maps
            out[k] = tail_score(ev[f], EVIDENCE[f], state["evidence_counts"][f])
            if release and f not in keep:
                del ev[f]
        return out

    def probability(self, state: FitState, ev: dict[str, np.ndarray]) -> np.ndarray:
        """The stacker's change probability of one block (kept with the evidence in memory)."""
        if "_p" not in ev:
            ev["_p"] = self.stacker.probability(self.tails(state, ev,
                                                          release=self._memo is None))
        # the memo (in memory) keeps it for the next call; a block's maps are its own
        return ev["_p"] if self._memo is None else ev["_p"].copy()

    def scene_evidence(self, before: np.ndarray, after: np.ndarray,
                       valid: np.ndarray | None = None
                       ) -> tuple[FitState, dict[str, np.ndarray], np.ndarray]:
        """In memory, the first two fit passes and the evidence: (state, maps, valid).

        What training (``benchmarks/train_fusion.py``) and diagnostics read: the
        state holds the scene's evidence histograms, so :meth:`tails` works on the maps.
        """
        b, a, ok = check_pair(before, after, valid)
        if not ok.any():
            raise DetectorError("no pixel is valid on both dates: every pixel is cloud or "
                                "no-data")
        self._memo = {}
        try:
            state = self.initial_state()
            for step in (0, 1):
                state = self.end_pass(state, self.block_stats(state, b, a, ok))
                state["pass"] = step + 1
            ev = self.evidence(state, b, a, ok)
            ev["seg7"] = seg7_map(ev["_zb"], ev["_za"], MAGNITUDE_BANDS)
            return state, ev, ok
        finally:
            self._memo = None

    # -- fit/apply ----------------------------------------------------------------
    @contextmanager
    def fit_memo(self) -> Iterator[None]:
        """Within it, the evidence pass keeps each window's ranked maps (not the
        network's inputs) for the probability pass, which then runs no network: for a
        fit whose windows come back with the same ``valid`` array in every pass (the
        block runner's :func:`~sitewatch.pipeline.blockwise.fit_blocks`)."""
        self._fit_memo = {}
        try:
            yield
        finally:
            self._fit_memo = None

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial | None:
        step = state.get("pass", 0)
        if step == 0:
            return reflectance_partial(before, after, valid)
        memo = self._fit_memo
        # the entry holds its valid array, so its id is not reused while it is there
        kept = memo.pop(id(valid), None) if memo is not None and step == 2 else None
        if kept is not None and kept[0] is valid:
            ev = kept[1]
        else:
            ev = self.evidence(state, before, after, valid)
        if step == 1:
            if memo is not None:
                memo[id(valid)] = (valid, {f: ev[f] for f in self.stacker.features})
            return Partial.of(sums={f: EVIDENCE[f].counts(ev[f], valid)
                                    for f in self.stacker.features})
        p = self.probability(state, ev)
        return Partial.of(sums={"p": PROBABILITY_HISTOGRAM.counts(p, valid),
                                "sum_p": np.array([float(p[valid].sum(dtype="float64"))])})

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        step = state.get("pass", 0)
        if step == 0:
            return {**state, **pair_stats(total, "fused")}
        if total is None:
            raise DetectorError("fused: no pixel is valid on both dates")
        if step == 1:
            return {**state, "evidence_counts": {f: total.sums[f]
                                                 for f in self.stacker.features}}
        st = self.stacker
        expected = float(total.sums["sum_p"][0])
        thr = scene_threshold(total.sums["p"], expected, factor=st.factor,
                              min_probability=st.min_probability)
        n = float(total.sums["p"].sum())
        log.info("fused: expected change %.2f%% of the scene, cut p >= %.3f",
                 100 * expected / n, thr)
        if n < SMALL_SCENE_PIXELS:
            log.warning("the scene has %.1f km² of valid pixels at this resolution; the "
                        "default detector ranks change within the scene and flags at most "
                        "about %.0f%% of it, so a small site drawn tight around dense change "
                        "is under-reported: draw the site with a few km of surroundings "
                        "(10 km² or more), or use --method cnn (a fixed cut)",
                        n * self.pixel_size_m ** 2 / 1e6, 100 * st.factor * expected / n)
        return {**state, "done": True, "threshold": thr, "expected_share": expected / n}

    def apply(self, state: FitState, before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap:
        b, a, ok = check_pair(before, after, valid)
        ev = self.evidence(state, b, a, ok)
        p = self.probability(state, ev)  # (a block's ranked maps are freed as they are scored)
        thr = float(state["threshold"])
        mask = self._decide(ev, p >= thr, ok)
        if self.params["delineate"]:
            gi = [MAGNITUDE_BANDS.index(n) for n in GUIDE_BANDS]
            if self._memo is None:  # only the standardised bands are read from here on
                ev = {k: ev[k] for k in ("_zb", "_za")}
            mask = refine_mask(_bands(ev["_zb"], gi), _bands(ev["_za"], gi), mask, valid=ok,
                               grow=False)
        p[~ok] = np.nan
        params = {"model": self.params["model"], "stacker": self.params["stacker"],
                  "threshold": thr, "expected_share": round(float(state["expected_share"]), 6),
                  "factor": self.stacker.factor, "floors": dict(self.stacker.floors),
                  "sure": dict(self.stacker.sure),
                  "delineate": bool(self.params["delineate"]),
                  "model_meta": {k: self.model.meta.get(k) for k in
                                 ("version", "trained_on", "seed", "training_labels")},
                  "stacker_meta": {k: self.stacker.meta.get(k) for k in
                                   ("trained_on", "seed", "training_labels")},
                  "bands": list(self.band_names)}
        return ChangeMap(magnitude=p, mask=mask, method=self.name, probability=p, valid=ok,
                         threshold=thr, params=params)

    def _decide(self, ev: dict[str, np.ndarray], ranked: np.ndarray, ok: np.ndarray
                ) -> np.ndarray:
        """Ranked cut or sure change, above every floor; ``seg7`` made where it is checked."""
        st = self.stacker
        cheap = {k: v for k, v in ev.items() if not k.startswith("_")}
        sure_cheap = np.ones(ok.shape, bool)
        for name, level in st.sure.items():
            if name != "seg7":
                sure_cheap &= cheap[name] >= level
        cand = (ranked | sure_cheap) if st.sure else ranked
        cand &= ok
        for name, floor in st.floors.items():
            if name != "seg7":
                cand &= cheap[name] >= floor
        if "seg7" in st.floors or "seg7" in st.sure:
            seg = seg7_map(ev["_zb"], ev["_za"], MAGNITUDE_BANDS, cand)
            sure = np.ones(ok.shape, bool)
            for name, level in st.sure.items():
                sure &= (seg if name == "seg7" else cheap[name]) >= level
            keep = (ranked | sure) if st.sure else ranked
            cand &= keep & (seg >= st.floors.get("seg7", -np.inf))
        return cand

    def run(self, before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
            ) -> ChangeMap:
        """In memory: the base class's fit then apply, computing the evidence once."""
        self._memo = {}
        try:
            return super().run(before, after, valid)
        finally:
            self._memo = None
