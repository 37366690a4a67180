"""The raster model and its COG round trip."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from sitewatch.errors import CorruptFileError, DataError
from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.raster import Provenance, Raster, pixel_area_m2


def test_round_trip_keeps_everything(tmp_path):
    rng = np.random.default_rng(12345)
    data = rng.integers(1, 10000, (3, 7, 9)).astype("uint16")
    data[:, 0, 0] = 0
    valid = np.ones((7, 9), bool)
    valid[6, :] = False
    r = Raster(data, Affine(10, 0, 399960, 0, -10, 4400040), "EPSG:32651",
               band_names=("B04", "B03", "B02"), nodata=0, valid=valid,
               dates=("2020-05-01", "2020-05-11"),
               provenance=Provenance("earth-search", ("S2A_1", "S2B_2"),
                                     {"processing_baseline": "02.14", "offset": 0}),
               attrs={"scale": 1e-4})
    path = tmp_path / "r.tif"
    write_cog(r, path)
    back = read_raster(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.data.dtype == np.uint16
    assert back.transform == r.transform
    assert back.crs == "EPSG:32651"
    assert back.nodata == 0
    assert back.band_names == ("B04", "B03", "B02")
    assert back.dates == ("2020-05-01", "2020-05-11")
    assert back.provenance == r.provenance
    assert back.attrs == {"scale": 1e-4}
    np.testing.assert_array_equal(back.valid, valid)
    np.testing.assert_array_equal(back.valid_mask(), valid & (data != 0).all(axis=0))
    with rasterio.open(path) as src:
        assert src.profile["compress"].lower() == "deflate"
        assert src.block_shapes[0] == (7, 9) or src.profile.get("tiled")
        assert "Contains modified Copernicus Sentinel data 2020" in src.tags()["TIFFTAG_COPYRIGHT"]
        assert src.descriptions == ("B04", "B03", "B02")
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_float_nan_round_trip_and_band_selection(tmp_path, make_raster):
    r = make_raster(bands=4, value=None)
    r.data[1, 2, 3] = np.nan
    write_cog(r, tmp_path / "f.tif")
    back = read_raster(tmp_path / "f.tif", bands=["B03", "B05"])
    assert back.band_names == ("B03", "B05")
    np.testing.assert_array_equal(back.data, r.data[[1, 3]])
    assert not back.valid_mask()[2, 3]
    with pytest.raises(DataError, match="has no band B12"):
        read_raster(tmp_path / "f.tif", bands=["B12"])


def test_corrupt_and_truncated_files(tmp_path, make_raster):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff at all")
    with pytest.raises(CorruptFileError, match="cannot read"):
        read_raster(bad)
    write_cog(make_raster(size=600, value=None), tmp_path / "ok.tif")
    blob = (tmp_path / "ok.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(blob[: len(blob) // 3])
    with pytest.raises(CorruptFileError):
        read_raster(tmp_path / "cut.tif")


def test_raster_validation_messages(make_raster):
    r = make_raster()
    with pytest.raises(DataError, match="2 band names for 3 bands"):
        Raster(r.data, r.transform, r.crs, band_names=("a", "b"))
    with pytest.raises(DataError, match="unknown CRS"):
        Raster(r.data, r.transform, "EPSG:999999")
    with pytest.raises(DataError, match="band 'B12' not in raster"):
        r.band("B12")
    w = r.window(2, 3, 4, 5)
    assert w.shape == (4, 5) and w.transform.c == r.transform.c + 30


def test_pixel_area_geographic_and_utm():
    utm = pixel_area_m2(Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651", (3, 3))
    assert np.allclose(utm, 100, rtol=2e-3)
    # 0.0001 deg at the equator: 11.13 m x 11.06 m; at 60 N half as wide
    eq = pixel_area_m2(Affine(1e-4, 0, 0, 0, -1e-4, 0.0001), "EPSG:4326", (1, 1))[0, 0]
    north = pixel_area_m2(Affine(1e-4, 0, 0, 0, -1e-4, 60.0001), "EPSG:4326", (1, 1))[0, 0]
    assert eq == pytest.approx(11.132 * 11.057, rel=1e-3)
    # cos(60) x the ellipsoid's longer meridian degree (1.00758) and prime vertical (1.00252)
    assert north / eq == pytest.approx(0.5 * 1.00758 * 1.00252, rel=1e-3)
