"""Every source against loopback fakes of its real API: search, windowed loads, radiometry,
and the same composite from each (within 1 DN)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FAST_HTTP
from fakes.control import FakeServer
from fakes.world import ROOF, ROOF_UTM

from sitewatch.aoi import Site
from sitewatch.imagery.epochs import build_epochs
from sitewatch.imagery.gdal_env import HttpSettings
from sitewatch.imagery.sources import get_source
from sitewatch.imagery.sources.base import ImagerySource

pytestmark = pytest.mark.network


@pytest.fixture(autouse=True)
def _fresh_sentinelhub_sessions() -> Iterator[None]:
    from sentinelhub import SentinelHubDownloadClient

    SentinelHubDownloadClient.clear_cache()
    yield
    SentinelHubDownloadClient.clear_cache()


def make_source(name: str, server: FakeServer, http: HttpSettings = FAST_HTTP, **kw: Any
                ) -> ImagerySource:
    if name == "earth-search":
        return get_source(name, url=server.earth_search_url, http=http, **kw)
    if name == "planetary-computer":
        return get_source(name, url=server.pc_url, sas_url=server.sas_url, http=http, **kw)
    return get_source(name, url=server.sh_url, token_url=server.sh_token_url, http=http, **kw)


SOURCES = ["earth-search", "planetary-computer", "cdse", "sentinelhub"]


@pytest.mark.parametrize("name", SOURCES)
def test_search_returns_scene_records(name: str, server: FakeServer, test_site: Site,
                                      sh_env: None) -> None:
    src = make_source(name, server)
    scenes = src.search(test_site, "2021-01-01", "2022-12-31")
    assert [s.date for s in scenes] == ["2021-10-05", "2021-10-15", "2021-11-04", "2021-12-14",
                                        "2022-03-04", "2022-03-14", "2022-04-03", "2022-04-13"]
    s = scenes[0]
    assert s.source == name and s.platform == "sentinel-2a" and s.footprint
    assert s.cloud_cover is not None and 0 <= s.cloud_cover <= 100
    if name in ("earth-search", "planetary-computer"):
        assert [x.processing_baseline for x in scenes[3:5]] == ["02.14", "04.00"]
        assert {"B04", "SCL"} <= set(s.assets)
    assert src.search(test_site, "2019-01-01", "2019-12-31") == []


@pytest.mark.parametrize("name", SOURCES)
def test_tiles_of_one_overpass_are_one_scene(name: str, server: FakeServer, test_site: Site,
                                             sh_env: None) -> None:
    """2022-03-14: the site straddles two tiles of one overpass; one scene, mosaicked."""
    src = make_source(name, server)
    scenes = src.search(test_site, "2022-03-14", "2022-03-14")
    assert len(scenes) == 1
    tiles = [t["id"] for t in scenes[0].properties["tiles"]]
    assert len(tiles) == 2 and "51TXE" in tiles[0] and "51SXE" in tiles[1]
    grid = test_site.grid()
    r = src.load(scenes[0], grid, ["B04", "SCL"])
    assert np.isfinite(r.band("B04")).all() and (r.band("SCL") > 0).all()
    assert list(r.provenance.scene_ids) == tiles


def test_earth_search_prefers_collection_1(server: FakeServer, test_site: Site) -> None:
    scenes = make_source("earth-search", server).search(test_site, "2022-04-01", "2022-04-30")
    assert [(s.date, s.collection) for s in scenes] == [
        ("2022-04-03", "sentinel-2-c1-l2a"), ("2022-04-13", "sentinel-2-l2a")]


def test_windowed_load_reads_only_the_site(server: FakeServer, standard_world: Path,
                                           test_site: Site) -> None:
    src = make_source("earth-search", server)
    scene = src.search(test_site, "2021-10-15", "2021-10-15")[0]
    grid = test_site.grid()
    before = len(server.log())
    r = src.load(scene, grid, ["B04", "B11", "SCL"])
    assert r.shape == grid.shape and r.band_names == ("B04", "B11", "SCL")
    assert r.provenance.scene_ids == (scene.id,) and r.dates == ("2021-10-15",)
    reads = server.log()[before:]
    assert all(e["status"] in (200, 206) for e in reads)
    assert {e["method"] for e in reads} == {"HEAD", "GET"}
    folder = "S2B_51TXE_20211015_0_L2A"
    files = [standard_world / "raw" / folder / "B04.tif", standard_world / "raw" / folder /
             "B11.tif", standard_world / "scl" / folder / "SCL.tif"]
    moved = sum(e["bytes"] for e in reads)
    assert moved < 0.8 * sum(f.stat().st_size for f in files)  # only the site's blocks


@pytest.mark.parametrize("name", SOURCES)
def test_one_reflectance_convention_across_baselines(name: str, server: FakeServer,
                                                     test_site: Site, sh_env: None) -> None:
    """The same ground seen before and after 2022-01-25 gives the same reflectance."""
    src = make_source(name, server)
    scenes = {s.date: s for s in src.search(test_site, "2021-01-01", "2022-12-31")}
    grid = test_site.grid()
    old = src.load(scenes["2021-10-15"], grid, ["B02", "B08"])   # baseline 02.14, clear
    new = src.load(scenes["2022-03-14"], grid, ["B02", "B08"])   # baseline 04.00, clear
    roof = _roof_mask(grid)
    ground = ~roof & np.isfinite(old.data).all(0) & np.isfinite(new.data).all(0)
    diff = np.abs(old.data - new.data)[:, ground]
    assert np.median(diff) < 0.005, "offset of baseline 04.00 not harmonised"
    assert 0.02 < np.nanmedian(new.band("B02")) < 0.08  # field blue, not 0.1 brighter
    proc = new.provenance.processing
    assert proc["boa_offset"] in (0, -1000) and proc["harmonisation"]


def test_wrong_earth_search_flag_is_caught(server: FakeServer, test_site: Site) -> None:
    """2022-04-03 in sentinel-2-l2a: pixels already shifted, flag says not (issue 66)."""
    legacy = make_source("earth-search", server, collections=["sentinel-2-l2a"])
    c1 = make_source("earth-search", server, collections=["sentinel-2-c1-l2a"])
    grid = test_site.grid()
    a = legacy.load(legacy.search(test_site, "2022-04-03", "2022-04-03")[0], grid, ["B04"])
    b = c1.load(c1.search(test_site, "2022-04-03", "2022-04-03")[0], grid, ["B04"])
    np.testing.assert_allclose(a.data, b.data, atol=1e-4)
    assert a.provenance.processing["boa_offset"] == 0
    assert "contradict" in a.provenance.processing["harmonisation"]
    assert b.provenance.processing["boa_offset"] == -1000


def _roof_mask(grid: Any) -> np.ndarray:
    t = grid.transform
    cols = t.c + (np.arange(grid.width) + 0.5) * t.a
    rows = t.f + (np.arange(grid.height) + 0.5) * t.e
    x, y = np.meshgrid(cols, rows)
    return (x >= ROOF_UTM[0]) & (x < ROOF_UTM[2]) & (y >= ROOF_UTM[1]) & (y < ROOF_UTM[3])


def test_same_composite_from_every_source(server: FakeServer, test_site: Site,
                                          sh_env: None) -> None:
    """Acceptance: the same synthetic scenes give the same epoch composite (within 1 DN)."""
    grid = test_site.grid()
    results = {}
    for name in SOURCES:
        eps = build_epochs(make_source(name, server), test_site, "2021-10-01", "2022-06-30",
                           "quarter", grid=grid)
        results[name] = eps
    ref = results["earth-search"]
    assert [e.is_gap for e in ref] == [False, False, False]
    for name, eps in results.items():
        for a, b in zip(ref, eps, strict=True):
            assert [s.date for s in a.scenes] == [s.date for s in b.scenes], name
            np.testing.assert_array_equal(a.clear_count, b.clear_count)
            assert a.raster is not None and b.raster is not None
            both = np.isfinite(a.raster.data) & np.isfinite(b.raster.data)
            assert (np.isfinite(a.raster.data) == np.isfinite(b.raster.data)).all()
            assert np.abs(a.raster.data - b.raster.data)[both].max() <= 1e-4 + 1e-7, name


def test_bright_roof_survives_into_the_composite(server: FakeServer, test_site: Site) -> None:
    """SCL calls the new roof cloud in every scene from 2022-02: it stays, clouds go."""
    grid = test_site.grid()
    eps = build_epochs(make_source("earth-search", server), test_site, "2021-10-01",
                       "2022-06-30", "quarter", grid=grid)
    roof = _roof_mask(grid)
    q4, q1, q2 = eps
    for e in (q1, q2):
        assert e.raster is not None
        assert (e.clear_count[roof] >= 1).all(), f"roof masked in {e.label}"
        assert np.nanmedian(e.raster.band("B04")[roof]) == pytest.approx(ROOF["B04"], abs=0.01)
        assert any(s["rescued_px"] > 0 for s in e.screens)
    assert q4.raster is not None
    assert np.nanmedian(q4.raster.band("B04")[roof]) < 0.1  # before it was built: fields
    # the passing clouds never reach a composite: no pixel as bright as a cloud
    for e in eps:
        assert e.raster is not None
        assert np.nanmax(e.raster.band("B02")[~roof]) < 0.5


@pytest.mark.parametrize("name", ["cdse", "sentinelhub"])
def test_sentinel1_grd_epochs(name: str, server: FakeServer, test_site: Site,
                              sh_env: None) -> None:
    src = make_source(name, server, product="s1-grd")
    scenes = src.search(test_site, "2021-01-01", "2022-12-31")
    assert [s.properties["orbit_state"] for s in scenes] == ["ascending", "ascending",
                                                             "descending", "ascending"]
    assert scenes[0].properties["relative_orbit"] == 40
    grid = test_site.grid()
    eps = build_epochs(src, test_site, "2021-10-01", "2022-06-30", "quarter", grid=grid,
                       bands=["VV", "VH"])
    assert all(not e.is_gap for e in eps)
    r = eps[0].raster
    assert r is not None and r.band_names == ("VV", "VH")
    assert 0.03 < float(np.nanmedian(r.band("VV"))) < 0.2  # linear power, not dB
    proc = r.provenance.processing
    assert proc["units"] == "linear power" and proc["scenes"]
    first = next(iter(proc["scenes"].values()))
    assert first["orbit_state"] == "ascending" and first["relative_orbit"] == 40
    assert eps[0].clear_count.max() == 2 and eps[1].clear_count.max() == 1  # scenes per quarter
