"""The learned detector (cnn) on the real bundled sample: invariances, misregistration, clouds."""

from __future__ import annotations

import numpy as np
import pytest
from radiometry_helpers import other_radiometry

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors import get_detector
from sitewatch.detectors.learned import load_model
from sitewatch.detectors.registry import DEFAULT_DETECTOR, FALLBACK_DETECTOR, resolve_detector
from sitewatch.errors import DataError
from sitewatch.pipeline import detect_change

LEARNED = "cnn"


def iou(p: np.ndarray, q: np.ndarray) -> float:
    return float((p & q).sum() / max((p | q).sum(), 1))


@pytest.fixture(scope="module")
def default_run(sample_pair):  # type: ignore[no-untyped-def]
    before, after, truth = sample_pair
    cm = get_detector(LEARNED)(before.data, after.data, band_names=S2_LAND_BANDS)
    return before.data, after.data, truth, cm


def test_default_is_the_learned_model_and_credits_its_labels():
    meta = load_model("default").meta
    assert "CC BY-NC-SA" in meta["training_labels"] and "Daudt" in meta["training_labels"]
    assert "cupertino" not in meta["trained_on"]  # the demo city is out of training
    assert len(meta["trained_on"]) == 8


def test_default_finds_the_sample_change(default_run):
    _, _, truth, cm = default_run
    f1 = 2 * (cm.mask & truth).sum() / (cm.mask.sum() + truth.sum())
    assert f1 > 0.5  # out-of-training city
    assert cm.probability is not None and np.nanmax(cm.probability) <= 1


@pytest.mark.parametrize("which", ["before", "after"])
def test_default_ignores_per_band_gain_and_offset(default_run, which):
    """The same pair given with other radiometry (TOA vs surface reflectance is close to this)."""
    before, after, _, cm = default_run
    cm2 = get_detector(LEARNED)(*other_radiometry(before, after, which),
                                band_names=S2_LAND_BANDS)
    assert iou(cm.mask, cm2.mask) > 0.98


def test_default_tolerates_one_pixel_misregistration(default_run):
    before, _, _, _ = default_run
    shifted = np.roll(before, 1, axis=2)
    shifted[:, :, 0] = before[:, :, 0]
    cm = get_detector(LEARNED)(before, shifted, band_names=S2_LAND_BANDS)
    assert cm.mask.mean() < 0.01
    cva = get_detector("cva")(before, shifted, threshold=0.05)
    assert cva.mask.mean() > 5 * cm.mask.mean()  # plain differencing lights up every edge


def test_clouds_as_no_data(default_run):
    before, after, _, cm = default_run
    cloudy = after.copy()
    cloudy[:, 100:180, 100:180] = np.nan
    cm2 = get_detector(LEARNED)(before, cloudy, band_names=S2_LAND_BANDS)
    assert not cm2.valid[100:180, 100:180].any() and not cm2.mask[100:180, 100:180].any()
    far = np.ones(cm.mask.shape, bool)
    far[60:220, 60:220] = False  # away from the cloud and the network's reach
    # the cloud also moves the per-image normalisation statistics a little
    assert iou(cm.mask & far, cm2.mask & far) > 0.85


def test_regions_carry_type_probability_and_dates(sample_pair):
    before, after, _ = sample_pair
    res = detect_change(before, after)
    assert res.regions
    props = res.regions[0].properties()
    for key in ("area_m2", "change_type", "mean_magnitude", "mean_probability", "date_before",
                "date_after"):
        assert key in props
    assert props["date_before"] == "2015-09-18" and props["date_after"] == "2018-03-26"
    assert res.change.change_type is not None
    assert set(np.unique(res.change.change_type[res.change.mask])) - {0}


def test_default_falls_back_on_rasters_without_its_bands(sample_pair, caplog):
    """A 4-band pair cannot feed the ten-band cnn: the default becomes cva (bimodal cut), logged;
    an explicit method is never swapped."""
    before, after, truth = sample_pair
    assert resolve_detector(None, S2_LAND_BANDS)[0].name == DEFAULT_DETECTOR
    four = ("B02", "B03", "B04", "B08")
    with caplog.at_level("WARNING", logger="sitewatch.detectors.registry"):
        res = detect_change(before.select(four), after.select(four))
    assert res.change.method == FALLBACK_DETECTOR != DEFAULT_DETECTOR
    assert res.change.params["threshold"] == "bimodal"
    assert "B05" in caplog.text and DEFAULT_DETECTOR in caplog.text
    assert 0 < res.change.mask.mean() < 0.5
    with pytest.raises(DataError, match="B05"):
        detect_change(before.select(four), after.select(four), method=DEFAULT_DETECTOR)


def test_tiled_inference_equals_one_evaluation(default_run, monkeypatch):
    # wide blocks (a full-width row block of a 10980-column tile) run tile by tile with
    # the network's halo: bounded memory, the same probabilities
    import sitewatch.detectors.learned as learned

    before, after, _, cm = default_run
    monkeypatch.setattr(learned, "TILE_PIXELS", 96 * 96)
    tiled = get_detector(LEARNED)(before, after, band_names=S2_LAND_BANDS)
    ok = np.isfinite(cm.probability)
    assert np.array_equal(ok, np.isfinite(tiled.probability))
    assert np.abs(tiled.probability[ok] - cm.probability[ok]).max() < 1e-5
    assert (tiled.mask != cm.mask).mean() < 1e-4
