"""The default detector (fused): per-scene decision, no-change floors, invariances, blocks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from radiometry_helpers import other_radiometry
from scipy import ndimage

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors import get_detector
from sitewatch.detectors.context import change_magnitude, shift_tolerant_magnitude
from sitewatch.detectors.decision import PROBABILITY_HISTOGRAM, scene_threshold, tail_score
from sitewatch.detectors.fused import load_stacker
from sitewatch.detectors.partial import Histogram
from sitewatch.detectors.registry import DEFAULT_DETECTOR
from sitewatch.errors import DetectorError
from sitewatch.pipeline.blockwise import detect_change_arrays

FUSED = "fused"


def _textured(seed: int = 0, n: int = 256) -> np.ndarray:
    """A (10, n, n) scene with real-looking spatial structure: smooth fields and sharp parcels."""
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.normal(0, 1, (3, n, n)), 6)
    parcels = ndimage.zoom(rng.integers(0, 4, (n // 16, n // 16)), 16, order=0)
    mix = rng.uniform(0.5, 1.5, (10, 3))
    x = 0.12 + 0.03 * np.tensordot(mix, base, axes=1) + 0.02 * parcels[None]
    x *= np.linspace(0.6, 1.4, 10)[:, None, None]
    return np.clip(x, 0.005, None).astype("float32")


def _no_change(before: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = np.exp(rng.normal(0, 0.1, (10, 1, 1)))
    o = rng.normal(0, 0.01, (10, 1, 1))
    a = ndimage.shift(before, (0, 0.3, -0.25), order=1, mode="nearest") * g + o
    return (a + rng.normal(0, 0.01, a.shape) * np.abs(a)).astype("float32")


def _with_change(before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A new roof and a flooded field: 3 % of a 256 x 256 scene (the share of a city)."""
    after = _no_change(before, 7)
    truth = np.zeros(before.shape[1:], bool)
    truth[40:70, 50:90] = True  # a bright new roof
    truth[170:190, 120:160] = True  # a flooded field
    after[:, 40:70, 50:90] = np.linspace(0.25, 0.35, 10)[:, None, None]
    after[:, 170:190, 120:160] = np.linspace(0.05, 0.01, 10)[:, None, None]
    return after, truth


def test_the_default_is_fused_and_credits_its_labels():
    assert DEFAULT_DETECTOR == FUSED
    meta = load_stacker().meta
    assert "CC BY-NC-SA" in meta["training_labels"] and "Daudt" in meta["training_labels"]


def test_tail_score_is_the_scene_rank():
    h = Histogram(0.0, 100.0, 10000)
    x = np.random.default_rng(0).exponential(3.0, 100000)
    t = tail_score(np.quantile(x, [0.5, 0.9, 0.99, 0.999]), h, h.counts(x))
    assert np.allclose(t, [0.301, 1, 2, 3], atol=0.02)
    assert np.all(np.diff(tail_score(np.sort(x)[::997], h, h.counts(x))) >= 0)


def test_scene_threshold_flags_factor_times_expected_and_nothing_when_nothing_expected():
    rng = np.random.default_rng(1)
    p = np.where(rng.random(200000) < 0.03, rng.uniform(0.6, 1, 200000),
                 rng.uniform(0, 0.1, 200000)).astype("float32")
    counts = PROBABILITY_HISTOGRAM.counts(p)
    for factor in (1.0, 1.5):
        thr = scene_threshold(counts, float(p.sum()), factor=factor, min_probability=0.0)
        assert (p >= thr).sum() == pytest.approx(factor * p.sum(), rel=0.01)
    # a floor above the cut wins; an expected area below one pixel flags nothing
    assert scene_threshold(counts, float(p.sum()), factor=1, min_probability=0.95) == 0.95
    assert scene_threshold(counts, 0.4, factor=2, min_probability=0.0) == 1.0


def test_shift_tolerant_magnitude_ignores_a_sub_pixel_shift_but_not_a_new_surface():
    zb = _textured(3)[[0, 1, 2, 6, 8, 9]] * 30
    za = ndimage.shift(zb, (0, 0.4, 0.4), order=1, mode="nearest")
    plain, tolerant = change_magnitude(zb, za), shift_tolerant_magnitude(zb, za)
    assert np.quantile(tolerant, 0.999) < 0.2 * np.quantile(plain, 0.999)
    za[:, 50:60, 50:60] += 3.0
    assert shift_tolerant_magnitude(zb, za)[52:58, 52:58].min() > 2.5


def test_no_change_pair_stays_clean():
    """Gain/offset per band, 1 % noise and a 0.3-pixel shift: nothing is flagged."""
    for seed in (0, 1):
        before = _textured(seed)
        cm = get_detector(FUSED)(before, _no_change(before, seed + 10),
                                 band_names=S2_LAND_BANDS)
        assert cm.mask.mean() <= 0.001, cm.params


def test_change_is_found_with_a_scene_decision_recorded():
    before = _textured(4)
    after, truth = _with_change(before)
    cm = get_detector(FUSED)(before, after, band_names=S2_LAND_BANDS)
    tp = (cm.mask & truth).sum()
    assert tp / truth.sum() > 0.8 and tp / cm.mask.sum() > 0.8
    assert 0 < cm.params["expected_share"] < 0.2 and cm.threshold == cm.params["threshold"]
    assert cm.params["floors"] == load_stacker().floors


def test_per_band_gain_and_offset_changes_under_a_thousandth_of_the_mask():
    before = _textured(5)
    after, _ = _with_change(before)
    cm = get_detector(FUSED)(before, after, band_names=S2_LAND_BANDS)
    cm2 = get_detector(FUSED)(*other_radiometry(before, after, "after", seed=2),
                              band_names=S2_LAND_BANDS)
    assert (cm.mask != cm2.mask).mean() < 0.001


def test_block_path_equals_in_memory():
    before = _textured(6)
    after, _ = _with_change(before)
    whole = get_detector(FUSED)(before, after, band_names=S2_LAND_BANDS)
    blocks = detect_change_arrays(before, after, method=FUSED, band_names=S2_LAND_BANDS,
                                  block_pixels=256 * 64, threads=2)
    assert np.array_equal(blocks.mask, whole.mask)
    ok = whole.valid
    assert np.abs(blocks.probability[ok] - whole.probability[ok]).max() < 1e-4
    assert blocks.threshold == pytest.approx(whole.threshold, abs=1e-6)


def test_a_broken_stacker_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "stacker.json"
    bad.write_text(json.dumps({"features": ["nope"], "weights": [1.0], "bias": 0,
                               "factor": 1, "min_probability": 0, "floors": {}}))
    with pytest.raises(DetectorError, match="train_fusion"):
        load_stacker(str(bad))
    with pytest.raises(DetectorError, match="no stacker"):
        load_stacker(str(tmp_path / "missing.json"))
    bad.write_text("{")
    with pytest.raises(DetectorError, match="not a fused-detector stacker"):
        load_stacker(str(bad))


@pytest.fixture(scope="module")
def sample_run(sample_pair):  # type: ignore[no-untyped-def]
    before, after, truth = sample_pair
    cm = get_detector(FUSED)(before.data, after.data, band_names=S2_LAND_BANDS)
    return before.data, after.data, truth, cm


def test_on_the_real_sample_it_finds_the_campus(sample_run):
    _, _, truth, cm = sample_run
    f1 = 2 * (cm.mask & truth).sum() / (cm.mask.sum() + truth.sum())
    assert f1 > 0.6  # cupertino: out of the network's training, stacker out-of-fold
    assert 0.5 < cm.mask.sum() / truth.sum() < 2


@pytest.mark.parametrize("which", ["before", "after"])
def test_real_sample_level_1c_or_2a_changes_under_a_thousandth_of_the_mask(sample_run, which):
    before, after, _, cm = sample_run
    cm2 = get_detector(FUSED)(*other_radiometry(before, after, which), band_names=S2_LAND_BANDS)
    assert (cm.mask != cm2.mask).mean() < 0.001


def test_real_sample_paired_with_itself_stays_clean(sample_run):
    before, _, _, _ = sample_run
    cm = get_detector(FUSED)(before, _no_change(np.nan_to_num(before), 3),
                             band_names=S2_LAND_BANDS)
    assert cm.mask.mean() <= 0.001
