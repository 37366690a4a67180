"""`sitewatch evaluate oscd`, `sitewatch detectors`, `sitewatch detect`, change typing rules."""

from __future__ import annotations

import json

import numpy as np
import rasterio
from click.testing import CliRunner

from sitewatch.cli.main import cli
from sitewatch.detectors.changetype import classify_change
from sitewatch.detectors.indices import INDEX_BANDS
from sitewatch.types import ChangeType


def test_evaluate_oscd_writes_masks_and_pooled_metrics(sample_oscd, tmp_path):
    out = tmp_path / "scores"
    r = CliRunner().invoke(cli, ["evaluate", "oscd", str(sample_oscd), "--method", "cva",
                                 "--out", str(out), "-p", "threshold=far", "-p", "far=0.05"])
    assert r.exit_code == 0, r.output
    assert "pooled" in r.output and "CC BY-NC-SA" in r.output
    m = json.loads((out / "metrics.json").read_text())
    assert list(m["cities"]) == ["cupertino"]
    assert m["params"] == {"threshold": "far", "far": 0.05, "bulk": 0.8,  # every one in effect
                           "null_family": "empirical", "normalize": False}
    city, pooled = m["cities"]["cupertino"], m["pooled"]
    assert pooled["tp"] == city["tp"] and pooled["fp"] == city["fp"]
    assert 0 < pooled["f1"] < 1 and "Daudt" in m["labels"]
    b02 = next((sample_oscd / "Onera Satellite Change Detection dataset - Images" / "cupertino"
                / "imgs_1").glob("*_B02.tif"))
    with rasterio.open(out / "cupertino.tif") as dst, rasterio.open(b02) as ref:
        mask = dst.read(1)
        assert dst.dtypes[0] == "uint8" and set(np.unique(mask)) <= {0, 1}
        assert dst.transform.almost_equals(ref.transform) and dst.crs == ref.crs
        assert dst.shape == ref.shape
    assert int(mask.sum()) == city["tp"] + city["fp"]


def test_evaluate_rejects_a_folder_without_cities(tmp_path):
    r = CliRunner().invoke(cli, ["evaluate", "oscd", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "no OSCD city folders" in r.output


def test_detectors_lists_every_method_with_help():
    r = CliRunner().invoke(cli, ["detectors"])
    assert r.exit_code == 0
    for name in ("cnn", "(default)", "irmad", "cva", "indices", "pcakmeans", "s1-logratio",
                 "s1-omnibus"):
        assert name in r.output
    r = CliRunner().invoke(cli, ["detectors", "irmad"])
    assert "Nielsen" in r.output and "far = 0.01" in r.output and ">>>" not in r.output
    r = CliRunner().invoke(cli, ["detectors", "nope"])
    assert r.exit_code == 2 and "unknown detector 'nope'" in r.output


def test_detect_on_the_sample_writes_typed_regions(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["detect", "cupertino-apple-park", "--source", "sample",
                                 "--before", "2015-01-01/2015-12-31",
                                 "--after", "2018-01-01/2018-12-31", "--out", str(out)])
    assert r.exit_code == 0, r.output
    fc = json.loads((out / "changes.geojson").read_text())
    assert fc["features"] and fc["features"][0]["properties"]["area_m2"] > 0
    assert fc["features"][0]["properties"]["change_type"] in {t.slug for t in ChangeType}
    summary = json.loads((out / "summary.json").read_text())
    from sitewatch.detectors import DEFAULT_DETECTOR

    assert summary["detector"]["method"] == DEFAULT_DETECTOR
    r = CliRunner().invoke(cli, ["detect", "cupertino-apple-park", "--before", "2018-01-01",
                                 "--after", "2019-01-01/2019-02-01", "--out", str(out)])
    assert r.exit_code == 2 and "START/END" in r.output


def test_change_type_rules():
    def px(*v: float) -> np.ndarray:
        return np.array(v, "float32").reshape(5, 1, 1)  # B02 B03 B04 B08 B11

    veg = px(0.04, 0.07, 0.05, 0.35, 0.18)
    water = px(0.08, 0.07, 0.05, 0.03, 0.02)
    bright_roof = px(0.25, 0.27, 0.28, 0.32, 0.30)
    asphalt = px(0.06, 0.07, 0.07, 0.09, 0.10)
    soil = px(0.10, 0.13, 0.16, 0.22, 0.32)
    cases = [(veg, water, ChangeType.WATER), (veg, soil, ChangeType.CONSTRUCTION),
             (soil, bright_roof, ChangeType.ROOF), (soil, asphalt, ChangeType.PAVING),
             (veg, px(0.05, 0.08, 0.08, 0.20, 0.15), ChangeType.VEGETATION)]
    for b, a, want in cases:
        got = ChangeType(int(classify_change(b, a, INDEX_BANDS)[0, 0]))
        assert got is want, (want, got)
    assert classify_change(veg, soil, INDEX_BANDS, np.zeros((1, 1), bool))[0, 0] == 0
