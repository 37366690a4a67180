"""xarray/rioxarray and GeoPandas in and out: round trips with known answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from sitewatch.errors import DataError, MissingDependencyError
from sitewatch.imagery.epochs import save_epochs
from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.pipeline.change import detect_change
from sitewatch.pipeline.timeline import folder_timeline, run_timeline
from sitewatch.pipeline.timeline_outputs import write_timeline_outputs
from sitewatch.raster import Provenance, Raster

sys.path.insert(0, str(Path(__file__).resolve().parent / "timeline"))
from timeline_helpers import ASPHALT, SOIL, make_epochs, make_series  # noqa: E402

xr = pytest.importorskip("xarray")
rioxarray = pytest.importorskip("rioxarray")
gpd = pytest.importorskip("geopandas")

ROAD = (slice(4, 10), slice(3, 27))
YARD = (slice(16, 26), slice(4, 14))


def assert_same_raster(a: Raster, b: Raster) -> None:
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data.dtype == b.data.dtype
    assert a.transform == b.transform  # exact, not almost
    assert a.crs == b.crs
    assert a.band_names == b.band_names
    assert a.dates == b.dates
    assert (a.nodata == b.nodata) or (a.nodata is not None and b.nodata is not None
                                      and np.isnan(a.nodata) and np.isnan(b.nodata))
    if a.valid is None:
        assert b.valid is None
    else:
        np.testing.assert_array_equal(a.valid, b.valid)
    assert a.provenance == b.provenance
    assert a.attrs == b.attrs


@pytest.mark.parametrize("case", ["utm-float-nan", "utm-uint16-nodata", "lonlat-uint8-valid",
                                  "odd-transform"])
def test_raster_to_xarray_and_back_is_identical(case: str) -> None:
    rng = np.random.default_rng(12345)
    prov = Provenance("earth-search", ("S2A_51TXE_20200501_0_L2A", "S2B_51TXE_20200506_0_L2A"),
                      {"boa_offset": -1000, "baseline": "04.00"})
    if case == "utm-float-nan":
        data = rng.normal(0.1, 0.02, (3, 7, 9)).astype("float32")
        data[:, 2, 3] = np.nan
        r = Raster(data, Affine(10, 0, 616000, 0, -10, 4431500), "EPSG:32651",
                   band_names=("B04", "B08", "B11"), dates=("2020-05-01", "2020-05-06"),
                   provenance=prov, attrs={"epoch": "2020-Q2", "flags": {"shift_px": 0.3}})
    elif case == "utm-uint16-nodata":
        data = rng.integers(1, 10000, (2, 5, 6)).astype("uint16")
        data[:, 0, 0] = 0
        r = Raster(data, Affine(20, 0, 399960, 0, -20, 4500000), "EPSG:32633",
                   band_names=("B11", "B12"), nodata=0, dates=("2019-07-14",), provenance=prov)
    elif case == "lonlat-uint8-valid":
        data = rng.integers(0, 2, (1, 6, 4)).astype("uint8")
        valid = np.ones((6, 4), bool)
        valid[0] = False
        r = Raster(data, Affine(8.983e-05, 0, -122.0335, 0, -8.983e-05, 37.3466), "EPSG:4326",
                   band_names=("change",), nodata=255, valid=valid,
                   dates=("2015-09-18", "2018-03-26"))
    else:  # resolution and origin with no short decimal form, south-up rows
        data = rng.normal(0, 1, (2, 4, 3)).astype("float64")
        r = Raster(data, Affine(1 / 3, 0, 1e5 / 7, 0, 0.1 + 0.2, -1e4 / 3), "EPSG:32651",
                   band_names=("a", "b"))
    da = r.to_xarray()
    assert da.dims == ("band", "y", "x") and da.band.values.tolist() == list(r.band_names)
    # what rioxarray users read
    assert da.rio.crs.to_epsg() == int(r.crs.split(":")[1])
    assert da.rio.transform() == r.transform
    assert (da.rio.nodata == r.nodata) or (r.nodata is None and da.rio.nodata is None)
    assert da.attrs["dates"] == list(r.dates)
    if r.dates:
        assert da.attrs["attribution"].startswith("Contains modified Copernicus Sentinel data")
    # pixel centres as coordinates
    assert da.x.values[0] == pytest.approx(r.transform.c + r.transform.a / 2)
    assert da.y.values[-1] == pytest.approx(r.transform.f + r.transform.e * (r.height - 0.5))
    assert_same_raster(Raster.from_xarray(da), r)


def test_rio_to_raster_writes_a_geotiff_sitewatch_reads(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4) / 100
    r = Raster(data, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651",
               band_names=("B04", "B08"), dates=("2020-05-01",),
               provenance=Provenance("sample", ("S2A_X",)))
    da = r.to_xarray()
    da.rio.to_raster(tmp_path / "r.tif")
    back = read_raster(tmp_path / "r.tif")
    np.testing.assert_array_equal(back.data, r.data)
    assert back.transform == r.transform and back.crs == r.crs
    assert back.band_names == r.band_names  # from the band descriptions (long_name)


def test_from_a_sitewatch_cog_opened_with_rioxarray(tmp_path: Path) -> None:
    r = Raster(np.arange(24, dtype="uint16").reshape(2, 3, 4), Affine(10, 0, 5e5, 0, -10, 4e6),
               "EPSG:32651", band_names=("B04", "B08"), nodata=0, dates=("2020-05-01",),
               provenance=Provenance("test", ("S2A_X",), {"k": 1}), attrs={"epoch": "2020"})
    write_cog(r, tmp_path / "r.tif", overviews=False)
    opened = rioxarray.open_rasterio(tmp_path / "r.tif")
    assert_same_raster(Raster.from_xarray(opened), read_raster(tmp_path / "r.tif"))


def test_from_an_odc_stac_like_dataset() -> None:
    """One (time, y, x) variable per band with a spatial_ref coordinate, one time."""
    y = 4431495.0 - 10 * np.arange(3)
    x = 616005.0 + 10 * np.arange(4)
    ds = xr.Dataset({b: (("time", "y", "x"), np.full((1, 3, 4), v, "float32"))
                     for b, v in (("red", 0.1), ("nir", 0.3))},
                    coords={"time": [np.datetime64("2021-06-01T02:40:00")], "y": y, "x": x})
    ds = ds.rio.write_crs("EPSG:32651")
    r = Raster.from_xarray(ds)
    assert r.band_names == ("red", "nir") and r.dates == ("2021-06-01",)
    assert r.transform == Affine(10, 0, 616000, 0, -10, 4431500)
    assert r.band("nir")[0, 0] == pytest.approx(0.3)
    with pytest.raises(DataError, match="2 times"):
        Raster.from_xarray(xr.concat([ds, ds], dim="time"))


def test_from_xarray_says_what_is_missing() -> None:
    da = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"),
                      coords={"y": [1.5, 0.5], "x": [0.5, 1.5, 2.5]})
    with pytest.raises(DataError, match="write_crs"):
        Raster.from_xarray(da)
    r = Raster.from_xarray(da.rio.write_crs("EPSG:32631"))
    assert r.shape == (2, 3) and r.band_names == ("band1",)
    with pytest.raises(DataError, match="x/y dimensions"):
        Raster.from_xarray(xr.DataArray(np.zeros((2, 3)), dims=("a", "b")))


def test_missing_optional_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                  make_raster) -> None:
    r = make_raster()
    monkeypatch.setitem(sys.modules, "rioxarray", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'sitewatch\[xarray\]'"):
        r.to_xarray()
    with pytest.raises(ImportError, match="Raster.from_xarray"):  # it is an ImportError too
        Raster.from_xarray(None)
    monkeypatch.setitem(sys.modules, "geopandas", None)
    res = detect_change(r, r.with_data(r.data + 0.1), method="cva", threshold=0.05)
    with pytest.raises(MissingDependencyError, match=r"pip install 'sitewatch\[geo\]'"):
        res.to_geopandas()


@pytest.fixture(scope="module")
def change_result():
    series = make_series(2, (40, 40), changes=[(ROAD, 1, ASPHALT), (YARD, 1, SOIL)])
    eps = make_epochs(series.stack, start="2020-01-01", every="year")
    assert eps[0].raster is not None and eps[1].raster is not None
    return detect_change(eps[0].raster, eps[1].raster, method="cva", threshold="otsu")


def test_change_result_to_geopandas(change_result) -> None:
    res = change_result
    gdf = res.to_geopandas()
    assert len(gdf) == len(res.regions) == 2
    assert gdf.crs.to_epsg() == 32651  # the grid's (site's) CRS, not lon/lat
    # the frame's area column adds up to the result's changed area
    assert float(gdf["area_m2"].sum()) == pytest.approx(res.changed_area_m2, rel=1e-12)
    assert float(gdf["area_m2"].sum()) == pytest.approx(24_400, rel=0.01)
    assert list(gdf["area_m2"]) == sorted(gdf["area_m2"], reverse=True)  # largest first
    # every property of changes.geojson, in the same order of regions
    geo = res.to_geojson()
    for row, feat in zip(gdf.itertuples(), geo["features"], strict=True):
        props = feat["properties"]
        assert set(props) <= set(gdf.columns)
        assert row.id == props["id"] and row.change_type == props["change_type"]
        assert round(row.area_m2, 1) == props["area_m2"]
    # geometry in the grid CRS: the planar area is the pixel count x 100 m²
    assert gdf.geometry.area.sum() == pytest.approx(244 * 100)
    assert gdf.attrs["scene_ids"] == res.scene_ids
    assert gdf.attrs["attribution"] == res.attribution


def test_the_geodataframe_writes_to_a_gis_file(change_result, tmp_path: Path) -> None:
    gdf = change_result.to_geopandas()
    gdf.to_file(tmp_path / "regions.gpkg")
    back = gpd.read_file(tmp_path / "regions.gpkg")
    assert back.crs.to_epsg() == 32651 and list(back["id"]) == list(gdf["id"])
    assert float(back["area_m2"].sum()) == pytest.approx(change_result.changed_area_m2)
    assert list(back["composition"]) == list(gdf["composition"])


def test_geo_interface_is_the_geojson_output(change_result, tmp_path: Path) -> None:
    from sitewatch.pipeline.outputs import write_change_outputs

    res = change_result
    paths = write_change_outputs(res, tmp_path, figure=False)
    written = json.loads(paths["regions"].read_text())
    assert json.loads(json.dumps(res.__geo_interface__)) == written
    frame = gpd.GeoDataFrame.from_features(res, crs="EPSG:4326")
    assert len(frame) == 2
    utm = res.to_geopandas().to_crs("EPSG:4326")
    assert frame.geometry.iloc[0].equals_exact(utm.geometry.iloc[0], tolerance=1e-9)


@pytest.fixture(scope="module")
def timeline_run(tmp_path_factory):
    s = make_series(12, (40, 40), changes=[(ROAD, 5, ASPHALT), (YARD, 8, SOIL)],
                    clouds=[((slice(0, 40), slice(0, 12)), 5), (YARD, 9)])
    eps = make_epochs(s.stack, start="2020-01-01", gaps=(10,))
    out = tmp_path_factory.mktemp("timeline-outputs")
    res = run_timeline(eps)
    write_timeline_outputs(res, out, figure=False)
    return res, eps, out


def _yyyymmdd(dates: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """datetime64 (NaT = none) -> the COG's int encoding (0 none, -1 outside the site)."""
    ints = np.zeros(dates.shape, "int64")
    ok = ~np.isnat(dates)
    ints[ok] = [int(str(d)[:10].replace("-", "")) for d in dates[ok]]
    return np.where(inside, ints, -1)


def test_timeline_dataset_first_change_equals_the_cog(timeline_run) -> None:
    res, eps, out = timeline_run
    ds = res.to_xarray()
    cog = read_raster(out / "first_change_date.tif")
    inside = ds["site"].values
    np.testing.assert_array_equal(_yyyymmdd(ds["first_change"].values, inside),
                                  cog.band("first_change"))
    np.testing.assert_array_equal(_yyyymmdd(ds["last_unchanged"].values, inside),
                                  cog.band("last_unchanged"))
    epoch = ds["first_change_epoch"].values
    np.testing.assert_array_equal(np.where(inside, epoch + 1, -1), cog.band("epoch"))
    np.testing.assert_array_equal(np.where(inside, ds["change_type"].values, -1),
                                  cog.band("change_type"))
    conf = ds["confidence"].values
    np.testing.assert_array_equal(np.where(inside, np.round(conf * 100), -1),
                                  cog.band("confidence"))
    # the dates are the epochs' first days, and the epoch index points into time
    changed = ds["changed"].values
    assert changed.sum() == res.changed.sum() > 0
    np.testing.assert_array_equal(ds["time"].values[epoch[changed]],
                                  ds["first_change"].values[changed])
    assert set(ds["epoch"].values[epoch[changed]].tolist()) == {"2021-Q2", "2022-Q1"}
    assert ds.rio.crs.to_epsg() == 32651 and ds.rio.transform() == res.transform
    assert ds.attrs["attribution"] == res.attribution
    assert ds.attrs["changed_area_m2"] == round(res.changed_area_m2, 1)


def test_timeline_dataset_holds_the_epoch_stack(timeline_run) -> None:
    res, eps, _ = timeline_run
    ds = res.to_xarray()
    assert ds.sizes == {"time": 12, "y": 40, "x": 40}
    assert [str(t)[:10] for t in ds["time"].values] == [e.window.start for e in eps]
    for b in ("B02", "B08", "B12"):
        for i, e in enumerate(eps):
            if e.raster is None:  # the gap is NaN, never a guess
                assert np.isnan(ds[b].values[i]).all() and not ds["clear"].values[i].any()
            else:
                np.testing.assert_array_equal(ds[b].values[i], e.raster.band(b))
    # the cloud of epoch 5 is not clear
    assert not ds["clear"].values[5][:, :12].any() and ds["clear"].values[5][:, 12:].all()
    assert ds["scene_ids"].values[10] == "" and ds["scene_ids"].values[0] == eps[0].scene_ids[0]
    # one epoch of the Dataset is a Raster again
    r = Raster.from_xarray(ds[["B02", "B08"]].isel(time=3))
    np.testing.assert_array_equal(r.data, eps[3].raster.select(["B02", "B08"]).data)
    assert r.transform == eps[3].raster.transform


def test_timeline_of_a_fetch_folder_and_by_blocks(timeline_run, tmp_path: Path) -> None:
    from sitewatch.pipeline.blocktimeline import timeline_files

    res, eps, _ = timeline_run
    save_epochs(eps, tmp_path / "fetch", source="test")
    mem = folder_timeline(tmp_path / "fetch").to_xarray()
    blk = timeline_files(tmp_path / "fetch", block_rows=16).to_xarray()
    ref = res.to_xarray()
    for ds in (mem, blk):
        for k in ("first_change", "change_type", "changed", "B04", "clear"):
            np.testing.assert_array_equal(ds[k].values, ref[k].values, err_msg=k)
    hand = dict(res.__dict__)
    hand["source_epochs"] = None
    bare = type(res)(**hand)
    with pytest.raises(DataError, match="to_xarray\\(epochs=...\\)"):
        bare.to_xarray()
    np.testing.assert_array_equal(bare.to_xarray(epochs=eps)["B02"].values, ref["B02"].values)
