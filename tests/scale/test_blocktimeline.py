"""The timeline block by block equals the in-memory timeline of the same fetch folder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sitedata import site_folders_factory

from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.pipeline.blocktimeline import timeline_files
from sitewatch.pipeline.fetch import run_fetch
from sitewatch.pipeline.timeline import folder_timeline
from sitewatch.pipeline.watchlist import read_watchlist


@pytest.fixture(scope="module")
def fetch_folder(tmp_path_factory):
    """Six yearly epochs of a 128 x 160 px crop of the sample (the change falls in 2017),
    one epoch a gap, one with a cloud hole, fetched through the local source."""
    tmp = tmp_path_factory.mktemp("tl")
    data = site_folders_factory(tmp)(1, size=160, bands=("B02", "B03", "B04", "B08", "B11"))
    folder = data["root"] / "data" / "site0"
    first, last = sorted(folder.glob("*.tif"))
    rng = np.random.default_rng(7)
    for src, day, hole in ((first, "2014-06-01", False), (first, "2016-06-01", True),
                           (last, "2019-06-01", False)):
        r = read_raster(src)
        d = r.data * np.float32(1 + rng.normal(0, 0.01))  # another scene, another gain
        if hole:
            d[:, 40:90, 30:100] = np.nan
        write_cog(dataclasses.replace(r, data=d.astype("float32"), dates=(day,)),
                  folder / f"site0_{day}.tif", overviews=False)
    spec = read_watchlist(data["path"]).sites[0]
    out = tmp / "fetch"
    run_fetch(spec.site, "2014-01-01", "2020-12-31", "year", source="local",
              source_options=spec.source_options, bands=list(spec.bands or ()),
              grid=spec.site.grid(), cache=None, out=out)
    return out


@pytest.mark.parametrize("block_rows, threads", [(23, 2), (64, 1)])
def test_timeline_by_blocks_equals_in_memory(fetch_folder, tmp_path, block_rows, threads):
    mem = folder_timeline(fetch_folder)
    blk = timeline_files(fetch_folder, block_rows=block_rows, threads=threads,
                         scratch_dir=tmp_path)
    assert len(mem.epochs) == 7 and mem.epochs[3].gap  # 2017: no scene
    assert mem.changed.any() and len(mem.events) > 0
    for k in ("changed", "date", "change_type", "site_mask"):
        np.testing.assert_array_equal(getattr(blk, k), getattr(mem, k), err_msg=k)
    for k in mem.history.__dataclass_fields__:
        np.testing.assert_array_equal(np.asarray(getattr(blk.history, k)),
                                      getattr(mem.history, k), err_msg=k)
    assert blk.params == mem.params  # threshold, noise variance, persistence...
    assert blk.two_date == mem.two_date
    assert blk.notes == mem.notes
    assert [e.to_dict() for e in blk.epochs] == [e.to_dict() for e in mem.epochs]
    for k, v in mem.progress.items():
        np.testing.assert_allclose(blk.progress[k], v, rtol=1e-12, err_msg=k)
    assert blk.event_records() == mem.event_records()
    assert blk.summary()["results"] == mem.summary()["results"]
    assert blk.provenance == mem.provenance
    assert not list(tmp_path.iterdir())  # scratch removed
