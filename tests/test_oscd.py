"""The OSCD reader on the dataset's own layout, synthetic and real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from sitewatch.errors import DataError
from sitewatch.imagery.oscd import (
    IMAGES_DIR,
    LABEL_DIRS,
    find_oscd_cities,
    read_oscd_labels,
    read_oscd_pair,
)
from sitewatch.imagery.sources import get_source

# The synthetic label files are written without georeferencing, like the dataset's.
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
RES = {"B01": 6, "B09": 6, "B10": 6, "B05": 2, "B06": 2, "B07": 2, "B8A": 2, "B11": 2, "B12": 2}
LON0, LAT0, STEP = 54.54, 24.37, 1e-4  # 10 m-ish pixels in degrees, like the dataset


def _ramp(width, height, transform):
    """Value = 1000 + 10000 * (lon - LON0) * 100 at pixel centres: a georeferenced ramp."""
    cols = np.arange(width) + 0.5
    rows = np.arange(height) + 0.5
    lon = transform.c + cols * transform.a
    lat = transform.f + rows * transform.e
    return (1000 + (lon[None, :] - LON0) * 1e6 + (LAT0 - lat[:, None]) * 2e5).astype("uint16")


def _write(path, arr, transform):
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0],
                       count=1, dtype="uint16", crs="EPSG:4326", transform=transform) as dst:
        dst.write(arr, 1)


def _make_city(root: Path, city: str, w: int, h: int, shrink: int) -> None:
    folder = root / IMAGES_DIR / city
    (folder / "pair").mkdir(parents=True)
    (folder / "dates.txt").write_text("date_1: 20160120\ndate_2: 20180328\n")
    for epoch, prefix, (ww, hh) in ((1, "S2A_OPER_X_T39QZG", (w, h)),
                                    (2, "T40QBM_20180328T065919", (w - shrink, h - shrink))):
        sub = folder / f"imgs_{epoch}"
        sub.mkdir()
        # imgs_2 covers the same footprint with fewer, larger pixels
        sx, sy = STEP * w / ww, STEP * h / hh
        for b in BANDS:
            f = RES.get(b, 1)
            t = Affine(sx * f, 0, LON0, 0, -sy * f, LAT0)
            _write(sub / f"{prefix}_{b}.tif", _ramp(-(-ww // f), -(-hh // f), t), t)
    cm = np.ones((h, w), "uint8")
    cm[10:20, 30:40] = 2
    lab = root / LABEL_DIRS[0] / city / "cm"
    lab.mkdir(parents=True)
    with rasterio.open(lab / f"{city}-cm.tif", "w", driver="GTiff", width=w, height=h, count=1,
                       dtype="uint8") as dst:
        dst.write(cm, 1)


@pytest.fixture
def fake_oscd(tmp_path):
    _make_city(tmp_path, "smallcity", 120, 100, shrink=3)
    _make_city(tmp_path, "samecity", 60, 50, shrink=0)
    return tmp_path


def test_layout_discovery(fake_oscd):
    assert find_oscd_cities(fake_oscd) == ["samecity", "smallcity"]
    assert find_oscd_cities(fake_oscd / IMAGES_DIR) == ["samecity", "smallcity"]
    with pytest.raises(DataError, match="not an OSCD folder"):
        find_oscd_cities(fake_oscd / "nope")


def test_smaller_imgs2_is_aligned_by_georeferencing(fake_oscd):
    before, after = read_oscd_pair(fake_oscd, "smallcity", bands=("B02", "B04", "B11"))
    assert before.shape == after.shape == (100, 120)
    assert before.dates == ("2016-01-20",) and after.dates == ("2018-03-28",)
    # The ramp is a function of position only: aligned dates agree everywhere
    # (bilinear on a linear ramp is exact), away from the last resampled row/col.
    inner = (slice(None), slice(2, -3), slice(2, -3))
    diff = np.abs(after.data[inner] - before.data[inner])
    # 10 m bands agree to the uint16 rounding (1-2 DN); edge-padding instead (the
    # dataset authors' code) would shift the far corner by ~3 px = 300 DN of ramp.
    assert float(np.nanmax(diff[:2])) < 2.5e-4
    assert float(np.nanmax(diff[2])) < 2.5e-3  # 20 m band, upsampled on both dates
    assert before.provenance.scene_ids == ("S2A_OPER_X_T39QZG",)
    assert np.isfinite(before.data).all()


def test_labels_are_zero_one_on_imgs1_grid(fake_oscd):
    lab = read_oscd_labels(fake_oscd, "smallcity")
    before, _ = read_oscd_pair(fake_oscd, "smallcity", bands=("B02",))
    assert lab.shape == before.shape and lab.transform == before.transform
    assert lab.data.sum() == 100 and lab.data[0, 15, 35] == 1
    assert lab.provenance.processing["licence"] == "CC BY-NC-SA 4.0"


def test_local_source_reads_a_city_folder(fake_oscd):
    src = get_source("local", path=fake_oscd / IMAGES_DIR / "samecity")
    scenes = src.search(None, "2015-01-01", "2019-01-01")
    assert [s.date for s in scenes] == ["2016-01-20", "2018-03-28"]
    r = src.load(scenes[1], src.native_grid(), ["B8A"])
    assert r.shape == (50, 60) and r.dates == ("2018-03-28",)
    with pytest.raises(DataError, match="several OSCD cities"):
        get_source("local", path=fake_oscd)


@pytest.mark.realdata
def test_real_abudhabi_imgs2_resampled_not_padded(oscd_root):
    before, after = read_oscd_pair(oscd_root, "abudhabi", bands=("B02", "B03", "B04", "B08"))
    assert before.shape == after.shape == (799, 785)
    assert np.isfinite(after.data).mean() > 0.99
    # Compare with the dataset authors' edge-padding in the far (bottom-right) quadrant,
    # where padding shifts imgs_2 by ~2 px: the georeferenced resampling matches imgs_1 better.
    files = sorted((oscd_root / IMAGES_DIR / "abudhabi" / "imgs_2").glob("*_B08.tif"))
    with rasterio.open(files[0]) as src:
        raw = src.read(1).astype("float32") / 10000
    padded = np.pad(raw, ((0, 799 - raw.shape[0]), (0, 785 - raw.shape[1])), mode="edge")
    q = (slice(400, 790), slice(400, 775))
    a, ours, pad = before.data[3][q], after.data[3][q], padded[q]
    assert np.corrcoef(a.ravel(), ours.ravel())[0, 1] > np.corrcoef(a.ravel(), pad.ravel())[0, 1]
    lab = read_oscd_labels(oscd_root, "abudhabi")
    assert lab.shape == before.shape and int(lab.data.sum()) == 23592
