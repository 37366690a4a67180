"""Blockwise detection equals the in-memory path on a raster small enough for both."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors.polygons import regions_to_geojson
from sitewatch.errors import DataError, DetectorError
from sitewatch.imagery.blocks import ScratchArray, row_blocks
from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.imagery.sources.local import LocalSource
from sitewatch.imagery.sources.sample import SampleSource
from sitewatch.pipeline.blockwise import detect_change_files
from sitewatch.pipeline.change import detect_change
from sitewatch.pipeline.protocol import create_block_detector
from sitewatch.raster import Raster

BANDS = list(S2_LAND_BANDS)


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    """The bundled sample as uint16 files (reflectance x 10000, 0 = no data), with a
    no-data corner and a cloud hole, the way large inputs arrive."""
    d = tmp_path_factory.mktemp("pair")
    src = SampleSource()
    scenes = src.search(src.site(), "2015-01-01", "2018-12-31")
    paths = []
    for name, sc in zip(("before", "after"), scenes, strict=True):
        r = src.load(sc, src.native_grid(), BANDS)
        dn = np.round(np.nan_to_num(r.data, nan=0) * 10000).astype("uint16")
        dn[:, :40, :25] = 0                      # no-data corner
        if name == "after":
            dn[:, 200:230, 100:160] = 0          # a cloud hole, masked upstream
        path = d / f"{name}_{sc.date}.tif"
        write_cog(Raster(dn, r.transform, r.crs, band_names=r.band_names, nodata=0,
                         dates=r.dates, provenance=r.provenance), path, blocksize=128)
        paths.append(path)
    return d, paths[0], paths[1]


def _in_memory(folder, min_area_m2, method="cva", **params):
    src = LocalSource(folder)
    grid = src.native_grid()
    before, after = (src.load(s, grid, BANDS) for s in src.scenes)
    return detect_change(before, after, method=method, min_area_m2=min_area_m2, **params)


def _regions_equal(mem_regions, geojson_path):
    """The blockwise GeoJSON holds the in-memory regions: same ids, pixels, areas, shapes."""
    mem = regions_to_geojson(mem_regions)["features"]
    blk = json.loads(geojson_path.read_text())["features"]
    assert len(mem) == len(blk) and len(mem) > 20
    for m, b in zip(mem, blk, strict=True):
        assert b["id"] == m["id"]  # largest first, same order
        mp, bp = m["properties"], b["properties"]
        assert bp["pixels"] == mp["pixels"]
        assert bp["area_m2"] == pytest.approx(mp["area_m2"], abs=0.051)
        assert bp["mean_magnitude"] == pytest.approx(mp["mean_magnitude"], abs=1e-4)
        assert (bp["centroid_lon"], bp["centroid_lat"]) == \
            pytest.approx((mp["centroid_lon"], mp["centroid_lat"]), abs=1.1e-6)
        assert {k: v for k, v in bp.items() if k not in ("area_m2", "mean_magnitude",
                                                         "centroid_lon", "centroid_lat")} == \
            {k: v for k, v in mp.items() if k not in ("area_m2", "mean_magnitude",
                                                      "centroid_lon", "centroid_lat")}
        # the same point set, however the pieces were joined (GDAL writes a region whose
        # parts touch at a corner as one pinched ring, a union as two polygons)
        gm, gb = shapely.make_valid(shape(m["geometry"])), shapely.make_valid(shape(b["geometry"]))
        assert gm.equals(gb)
    # exact areas and means, not only rounded ones
    return blk


@pytest.mark.parametrize("method, params, block_rows, threads, min_area", [
    ("cva", {}, 37, 2, 200.0),                  # one histogram pass, many regions cut by edges
    ("cva", {"threshold": "far", "far": 0.05}, 128, 1, 0.0),  # no minimum mapping unit,
                                                              # one thread
    ("cnn", {}, 64, 2, 200.0),                  # halo of 32 rows, offsets aligned to 4
    ("irmad", {}, 100, 2, 200.0),               # iterated fit passes (float64 sums)
    ("pcakmeans", {}, 48, 2, 200.0),            # halo 5, offsets aligned to 5
    ("indices", {}, 1000, 2, 1500.0),           # one block: the in-memory path itself
])
def test_blockwise_equals_in_memory(pair_files, tmp_path, method, params, block_rows, threads,
                                    min_area):
    folder, before, after = pair_files
    mem = _in_memory(folder, min_area, method, **params)
    res = detect_change_files(before, after, tmp_path, method=method, min_area_m2=min_area,
                              block_rows=block_rows, threads=threads, **params)
    mask = read_raster(res.paths["change_mask"])
    np.testing.assert_array_equal(mask.data[0], mem.mask_raster().data[0])
    mag = read_raster(res.paths["magnitude"])
    if method == "irmad":  # BLAS sums a block's products in another order: last bits differ
        np.testing.assert_allclose(mag.data[0], mem.change.magnitude, rtol=1e-6)
        assert res.threshold == pytest.approx(mem.change.threshold, rel=1e-9)
    else:
        np.testing.assert_array_equal(mag.data[0], mem.change.magnitude)  # NaN == NaN here
        assert res.threshold == mem.change.threshold
    assert res.changed_pixels == mem.change.change_count
    assert res.changed_area_m2 == pytest.approx(mem.changed_area_m2, rel=1e-12)
    feats = _regions_equal(mem.regions, res.paths["changes"])
    assert res.regions == len(mem.regions)
    # regions were cut by block edges and joined again
    if block_rows < 40:
        edge_lat = mask.transform.f + mask.transform.e * block_rows
        assert any(shape(f["geometry"]).bounds[1] < edge_lat < shape(f["geometry"]).bounds[3]
                   for f in feats)
    s = json.loads(res.paths["summary"].read_text())
    ms = mem.summary()
    assert s["results"]["regions"] == ms["results"]["regions"]
    assert s["results"]["changed_pixels"] == ms["results"]["changed_pixels"]
    assert s["results"]["observed_area_m2"] == pytest.approx(ms["results"]["observed_area_m2"])
    assert s["before"]["scene_ids"] == ms["before"]["scene_ids"]
    fc = json.loads(res.paths["changes"].read_text())
    assert len(fc["features"]) == len(mem.regions)
    assert fc["properties"]["attribution"] == \
        "Contains modified Copernicus Sentinel data 2015, 2018"
    assert mask.provenance.scene_ids == tuple(ms["before"]["scene_ids"] + ms["after"]["scene_ids"])
    assert not list(tmp_path.glob(".sitewatch-blocks-*"))  # scratch removed


def test_fixed_threshold_and_errors(pair_files, tmp_path):
    folder, before, after = pair_files
    mem = _in_memory(folder, 200.0, threshold=0.08)
    res = detect_change_files(before, after, tmp_path, method="cva", bands=BANDS,
                              block_rows=50, threshold=0.08)
    assert res.threshold == 0.08 and res.fit_passes == 1  # the pass for the probabilities
    assert res.changed_pixels == mem.change.change_count
    with pytest.raises(DetectorError, match="unknown detector 'nope'"):
        detect_change_files(before, after, tmp_path, method="nope")
    with pytest.raises(DataError, match="has no band B99"):
        detect_change_files(before, after, tmp_path, bands=["B99"])


def test_pair_on_different_grids_is_refused(pair_files, tmp_path):
    folder, before, _ = pair_files
    r = read_raster(before)
    shifted = tmp_path / "shifted.tif"
    write_cog(r.window(1, 0, r.height - 1, r.width), shifted)
    with pytest.raises(DataError, match="different grids"):
        detect_change_files(before, shifted, tmp_path / "o")


def test_all_missing_pair_says_so(tmp_path, make_raster):
    r = make_raster(bands=2, size=20)
    empty = r.with_data(np.full(r.data.shape, np.nan, "float32"))
    write_cog(empty, tmp_path / "b.tif")
    write_cog(empty, tmp_path / "a.tif")
    with pytest.raises(DetectorError, match="no valid pixel"):
        detect_change_files(tmp_path / "b.tif", tmp_path / "a.tif", tmp_path / "o",
                            block_rows=7)


def test_row_blocks_and_scratch(tmp_path):
    blocks = row_blocks(100, 30, halo=2)
    assert [(b.row0, b.row1) for b in blocks] == [(0, 30), (30, 60), (60, 90), (90, 100)]
    assert (blocks[1].read0, blocks[1].read1, blocks[1].core) == (28, 62, slice(2, 32))
    s = ScratchArray(tmp_path / "s.raw", (5, 3), "uint8", fill=255)
    s.write_rows(2, np.zeros((2, 3), "uint8"))
    assert s.read_rows(0, 5)[:, 0].tolist() == [255, 255, 0, 0, 255]
    with pytest.raises(DataError):
        s.write_rows(4, np.zeros((2, 3), "uint8"))
    assert create_block_detector("cva").halo == 0


def test_cli_detect_files(pair_files, tmp_path):
    from click.testing import CliRunner

    from sitewatch.cli.main import cli

    _, before, after = pair_files
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, ["detect-files", str(before), str(after), "--out", str(out),
                                 "--block-rows", "100", "-p", "threshold=far", "-p", "far=0.05",
                                 "--method", "cva"])
    assert r.exit_code == 0, r.output
    assert "regions" in r.stdout and "Contains modified Copernicus Sentinel data" in r.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["detector"]["params"]["far"] == 0.05 and s["detector"]["blockwise"] is True
    r = CliRunner().invoke(cli, ["detect-files", str(before), str(after), "--out", str(out)])
    assert r.exit_code == 1 and "--overwrite" in r.stderr
    r = CliRunner().invoke(cli, ["detect-files", str(before), str(after), "--out",
                                 str(tmp_path / "p"), "-p", "nonsense=1", "--method", "cva"])
    assert r.exit_code == 2 and "cva has no parameter 'nonsense'" in r.stderr


@pytest.fixture
def small_sample(monkeypatch):
    """Fit sampling at a scale the test rasters reach: rasters of more than 100 000 px
    fit on 16 windows of 64 x 64 (the bundled sample is 384 x 384)."""
    from sitewatch.detectors import sampling

    monkeypatch.setattr(sampling, "WINDOW", 64)
    monkeypatch.setattr(sampling, "FIT_SAMPLE_PIXELS", 16 * 64 * 64)
    monkeypatch.setattr(sampling, "SAMPLE_ABOVE", 100_000)


@pytest.mark.parametrize("method, block_rows", [
    ("cva", 37),         # the threshold from the histogram of the sample
    ("irmad", 100),      # iterated passes: the sample is kept in memory from pass 2 on
    ("cnn", 64),         # normalisation quantiles of the sample; halo, alignment 8
    ("pcakmeans", 48),   # statistics with context around each window, aligned to 5
    ("fused", 64),       # 3 passes: the sample spilled to scratch, the evidence kept for
                         # the probability pass (fit_memo)
])
def test_sampled_fit_is_one_path(pair_files, tmp_path, small_sample, method, block_rows):
    folder, before, after = pair_files
    mem = _in_memory(folder, 200.0, method)
    res = detect_change_files(before, after, tmp_path, method=method, min_area_m2=200.0,
                              block_rows=block_rows, threads=2)
    np.testing.assert_array_equal(read_raster(res.paths["change_mask"]).data[0],
                                  mem.mask_raster().data[0])
    if method == "irmad":
        assert res.threshold == pytest.approx(mem.change.threshold, rel=1e-9)
    else:
        assert res.threshold == mem.change.threshold
    assert res.changed_pixels == mem.change.change_count
    s = json.loads(res.paths["summary"].read_text())["detector"]["fit_sample"]
    assert s == mem.change.fit_sample == res.fit_sample
    # 16 windows of 64 x 64, minus the no-data corner and the cloud hole they cover
    assert s["sampled"] and s["windows"] == 16 and s["pixels"] == 16 * 64 * 64
    assert 0.8 * s["pixels"] < s["valid_pixels"] < s["pixels"]
    assert read_raster(res.paths["change_mask"]).provenance.processing["fit_sample"] == s
    assert mem.mask_raster().provenance.processing["fit_sample"] == s


def test_sampled_fit_differs_from_the_full_fit_and_falls_back(small_sample, monkeypatch):
    from sitewatch.detectors import sampling
    from sitewatch.detectors.cva import CVADetector
    from sitewatch.pipeline.blockwise import detect_change_arrays

    rng = np.random.default_rng(7)
    b = rng.normal(0.2, 0.02, (4, 400, 400)).astype("float32")
    a = b + rng.normal(0, 0.01, b.shape).astype("float32")
    a[:, 300:360, 20:380] += 0.2  # change mostly outside the sample windows
    det = CVADetector(threshold="otsu")
    sampled = det.run(b, a)
    assert sampled.fit_sample["sampled"] and sampled.fit_sample["valid_pixels"] == 16 * 64 * 64
    assert detect_change_arrays(b, a, method="cva", threshold="otsu",
                                block_pixels=5000).fit_sample == sampled.fit_sample
    monkeypatch.setattr(sampling, "SAMPLE_ABOVE", 10**9)
    full = det.run(b, a)
    assert full.fit_sample == {"sampled": False, "pixels": 160000, "valid_pixels": 160000,
                               "share": 1.0}
    assert full.threshold != sampled.threshold
    # a sample that is mostly missing (clouds over its windows) is not trusted: every pixel
    monkeypatch.setattr(sampling, "SAMPLE_ABOVE", 100_000)
    valid = np.ones((400, 400), bool)
    for w in sampling.fit_windows(400, 400):
        valid[w.row0:w.row1, w.col0:w.col1] = False
    valid[:64, :64] = True  # one window of 16 seen
    fb = det.run(b, a, valid)
    assert fb.fit_sample["sampled"] is False and fb.fit_sample["valid_pixels"] == valid.sum()
    arr = detect_change_arrays(b, a, method="cva", threshold="otsu", valid=valid,
                               block_pixels=5000)
    assert arr.fit_sample == fb.fit_sample and arr.threshold == fb.threshold
