"""The on-disk cache: atomic entries, damaged entries refetched, info and clear, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sitewatch.errors import FetchError
from sitewatch.imagery.cache import TileCache, cache_key, default_cache_dir
from sitewatch.imagery.sources import get_source
from sitewatch.imagery.sources.cached import CachedSource
from sitewatch.raster import Raster


def _sample_cached(root: Path) -> tuple[CachedSource, object, object]:
    src = CachedSource(get_source("sample"), TileCache(root))
    site = src.inner.site()  # type: ignore[attr-defined]
    scenes = src.search(site, "2015-01-01", "2018-12-31")
    return src, scenes, src.native_grid(site)


def test_second_load_comes_from_disk(tmp_path: Path) -> None:
    src, scenes, grid = _sample_cached(tmp_path)
    a = src.load(scenes[0], grid, ["B04", "B08"])
    b = src.load(scenes[0], grid, ["B04", "B08"])
    np.testing.assert_array_equal(a.data, b.data)
    assert b.provenance.scene_ids == a.provenance.scene_ids and b.dates == a.dates
    assert src.stats == {"search_hits": 0, "search_misses": 1, "window_hits": 1,
                         "window_misses": 1}
    sub = src.load(scenes[0], grid, ["B08"])  # fewer bands: cut from the stored window
    assert src.stats["window_misses"] == 1 and src.stats["window_hits"] == 2
    np.testing.assert_array_equal(sub.data, a.select(["B08"]).data)
    assert sub.band_names == ("B08",) and sub.provenance == a.provenance
    src.load(scenes[0], grid, ["B04", "B03"])  # a band not stored: fetched
    assert src.stats["window_misses"] == 2
    src.load(scenes[0], grid, ["B03"])  # now in the second window
    assert src.stats["window_misses"] == 2
    again, _, _ = _sample_cached(tmp_path)
    assert again.stats["search_hits"] == 1


def test_a_narrower_search_is_cut_from_a_stored_wider_one(tmp_path: Path) -> None:
    src, scenes, _ = _sample_cached(tmp_path)
    assert [s.date for s in scenes] == ["2015-09-18", "2018-03-26"]
    inner = src.search(src.inner.site(), "2018-01-01", "2018-12-31")  # type: ignore[attr-defined]
    assert [s.date for s in inner] == ["2018-03-26"]
    assert src.search(src.inner.site(), "2016-01-01", "2017-12-31") == []  # type: ignore[attr-defined]
    assert src.stats["search_hits"] == 2 and src.stats["search_misses"] == 1
    src.search(src.inner.site(), "2014-01-01", "2018-12-31")  # type: ignore[attr-defined]
    assert src.stats["search_misses"] == 2  # wider than anything stored: searched
    assert TileCache(tmp_path).info().searches == 2  # the range index is not a search


def test_damaged_entry_is_a_miss_and_is_refetched(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    src, scenes, grid = _sample_cached(tmp_path)
    ref = src.load(scenes[1], grid, ["B04"])
    tif = next(tmp_path.rglob("*.tif"))
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])  # truncated on disk
    out = src.load(scenes[1], grid, ["B04"])
    np.testing.assert_array_equal(out.data, ref.data)
    assert src.stats["window_misses"] == 2
    assert "damaged" in caplog.text


def test_failed_load_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    class Failing(type(get_source("sample"))):  # type: ignore[misc]
        def load(self, scene, grid, bands):  # type: ignore[no-untyped-def]
            raise FetchError("connection reset mid-transfer")

    src = CachedSource(Failing(), TileCache(tmp_path))
    site = src.inner.site()  # type: ignore[attr-defined]
    scenes = src.search(site, "2015-01-01", "2018-12-31")
    with pytest.raises(FetchError):
        src.load(scenes[0], src.native_grid(site), ["B04"])
    assert not list(tmp_path.rglob("*.tif"))
    assert TileCache(tmp_path).info().windows == 0


def test_info_and_clear(tmp_path: Path) -> None:
    src, scenes, grid = _sample_cached(tmp_path)
    for sc in scenes:
        src.load(sc, grid, ["B04"])
    info = TileCache(tmp_path).info()
    assert info.windows == 2 and info.searches == 1 and info.bytes > 0
    assert info.by_source["sample"]["windows"] == 2
    assert TileCache(tmp_path).clear(source="other") == (0, 0)
    assert TileCache(tmp_path).clear(older_than_days=1)[0] == 0
    files, size = TileCache(tmp_path).clear()
    assert files == 8 and size > 0  # 2 windows (COG, sidecar, band index), 1 search + index
    assert TileCache(tmp_path).info().windows == 0


def test_sidecar_and_keys(tmp_path: Path, make_raster) -> None:  # type: ignore[no-untyped-def]
    c = TileCache(tmp_path)
    key = cache_key({"source": "x", "scene": "S", "bands": ["B04"]})
    assert key != cache_key({"source": "x", "scene": "S", "bands": ["B08"]})
    r: Raster = make_raster(bands=("B04",), size=6)
    c.put_raster("x", key, r, {"scene": "S"})
    side = json.loads(next(tmp_path.rglob("*.json")).read_text())
    assert side["scene"] == "S" and len(side["sha256"]) == 64
    assert not list(tmp_path.rglob(".*.tmp"))  # no temporary file left behind


def test_default_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SITEWATCH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "sitewatch"
