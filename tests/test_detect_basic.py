"""The spine's detector path: CVA, Otsu, minimum mapping unit, regions, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from sitewatch.detectors import (
    confusion,
    get_detector,
    regions_from_mask,
    regions_to_geojson,
    scores,
)
from sitewatch.detectors.postprocess import minimum_mapping_unit
from sitewatch.errors import DataError, DetectorError
from sitewatch.pipeline import detect_change
from sitewatch.types import ChangeType


def test_cva_finds_a_square_and_ignores_noise(make_raster):
    before = make_raster(bands=4, size=40, value=None, seed=1)
    after = before.with_data(before.data + np.random.default_rng(2).normal(0, 0.001,
                                                                           before.data.shape))
    after.data[:, 10:20, 10:20] += 0.15
    res = detect_change(before, after, method="cva", min_area_m2=0, threshold="otsu")
    assert res.change.mask[10:20, 10:20].all()
    # Otsu puts the cut at the first bin past the noise bulk: a stray noise pixel may pass
    assert res.change.mask.sum() - 100 <= 3
    assert res.regions[0].area_m2 == pytest.approx(100 * 100, rel=3e-3)
    assert res.changed_area_m2 == pytest.approx(100 * res.change.mask.sum(), rel=3e-3)


def test_clouds_as_nodata_are_not_change(make_raster):
    before = make_raster(bands=3, size=30, value=None)
    after = before.with_data(before.data.copy())
    after.data[:, 5:15, 5:15] = np.nan  # cloud masked in the after scene
    after.data[:, 20:25, 20:25] += 0.2
    res = detect_change(before, after, min_area_m2=0)
    assert not res.change.mask[5:15, 5:15].any()
    assert not res.change.valid[5:15, 5:15].any()
    assert res.change.mask[20:25, 20:25].all()
    m = res.mask_raster()
    assert m.data[0, 7, 7] == 255 and m.nodata == 255


def test_all_masked_pair_raises(make_raster):
    before = make_raster(bands=2, size=5)
    after = before.with_data(np.full(before.data.shape, np.nan, "float32"))
    with pytest.raises(DetectorError, match="no pixel is valid on both dates"):
        detect_change(before, after)


def test_grids_must_match(make_raster):
    with pytest.raises(DataError, match="different grids"):
        detect_change(make_raster(size=5), make_raster(size=6))


def test_minimum_mapping_unit_uses_ground_area():
    m = np.zeros((10, 10), bool)
    m[0, 0] = True
    m[5:7, 5:7] = True
    kept = minimum_mapping_unit(m, 300, 100.0)
    assert kept.sum() == 4 and not kept[0, 0]
    assert minimum_mapping_unit(m, 300, 400.0).sum() == 5


def test_regions_in_geographic_crs_have_metric_areas():
    m = np.zeros((10, 10), bool)
    m[2:6, 2:6] = True
    t = Affine(1e-4, 0, 0.0, 0, -1e-4, 0.001)
    ct = np.where(m, int(ChangeType.PAVING), 0).astype("uint8")
    regs = regions_from_mask(m, t, "EPSG:4326", change_type=ct)
    assert regs[0].area_m2 == pytest.approx(16 * 11.132 * 11.057, rel=2e-3)
    fc = regions_to_geojson(regs)
    assert fc["features"][0]["properties"]["change_type"] == "paving"
    assert fc["features"][0]["geometry"]["type"] == "Polygon"


def test_metrics_known_answer():
    pred = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    truth = np.array([1, 1, 0, 1, 0, 0, 0, 0], bool)
    s = scores(confusion(pred, truth))
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 1, 4)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3) and s["iou"] == pytest.approx(0.5)
    # kappa: po = 6/8, pe = (3*3 + 5*5)/64
    assert s["kappa"] == pytest.approx((0.75 - 34 / 64) / (1 - 34 / 64), abs=1e-6)


def test_unknown_detector():
    with pytest.raises(DetectorError, match="unknown detector 'nope'"):
        get_detector("nope")
