"""Fixtures for the detector tests: the bundled real sample and an OSCD-layout folder of it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.imagery.sources.sample import SampleSource
from sitewatch.raster import Raster


@pytest.fixture(scope="session")
def sample_pair() -> tuple[Raster, Raster, np.ndarray]:
    """(before, after, change label bool) of the bundled cupertino crop (real L1C)."""
    src = SampleSource()
    site = src.site()
    scenes = src.search(site, "2015-01-01", "2018-12-31")
    grid = src.native_grid(site)
    before = src.load(scenes[0], grid, S2_LAND_BANDS)
    after = src.load(scenes[-1], grid, S2_LAND_BANDS)
    return before, after, src.labels().data[0] == 1


def _write_band(path: Path, arr: np.ndarray, r: Raster) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0],
                       count=1, dtype="uint16", crs=r.crs, transform=r.transform) as dst:
        dst.write(arr, 1)


@pytest.fixture
def sample_oscd(tmp_path: Path, sample_pair) -> Path:  # type: ignore[no-untyped-def]
    """The sample written in the OSCD layout as distributed (one city, ``cupertino``)."""
    before, after, truth = sample_pair
    root = tmp_path / "oscd"
    city = root / "Onera Satellite Change Detection dataset - Images" / "cupertino"
    for epoch, r, prefix in ((1, before, "S2A_OPER_X_20150918"), (2, after, "S2B_X_20180326")):
        d = city / f"imgs_{epoch}"
        d.mkdir(parents=True)
        for i, b in enumerate(r.band_names):
            dn = np.nan_to_num(r.data[i] * 10000).round().clip(0, 65535).astype("uint16")
            _write_band(d / f"{prefix}_{b}.tif", dn, r)
    (city / "dates.txt").write_text("date_1: 20150918\ndate_2: 20180326\n")
    lab = root / "Onera Satellite Change Detection dataset - Train Labels" / "cupertino" / "cm"
    lab.mkdir(parents=True)
    with warnings.catch_warnings():  # OSCD labels carry no georeferencing, like these
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(lab / "cupertino-cm.tif", "w", driver="GTiff", width=truth.shape[1],
                           height=truth.shape[0], count=1, dtype="uint8") as dst:
            dst.write(truth.astype("uint8") + 1, 1)
    return root


def _noise_pair(bands: int = 4, size: int = 80, seed: int = 7, sd: float = 0.01
               ) -> tuple[np.ndarray, np.ndarray]:
    """A textured before image and an after image differing only by noise."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.05, 0.35, (bands, 1, 1))
    tex = rng.normal(0, 0.04, (bands, size, size))
    before = (base + tex).astype("float32")
    after = (before + rng.normal(0, sd, before.shape)).astype("float32")
    return before, after


@pytest.fixture
def noise_pair():  # type: ignore[no-untyped-def]
    """Factory ``noise_pair(bands, size, seed, sd)`` of unchanged textured pairs."""
    return _noise_pair
