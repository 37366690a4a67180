"""The pair reader behind the block runner: each file tile decoded once, arrays recycled."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

import sitewatch.imagery.blocks as blocks
from sitewatch.imagery.blocks import PairReader, RowBlock, row_blocks
from sitewatch.imagery.io import write_cog
from sitewatch.raster import Raster


@pytest.fixture()
def pair(tmp_path):
    """Two 3-band uint16 COGs (128 px tiles, 600 x 90) with no-data pixels in the after file."""
    rng = np.random.default_rng(4)
    paths = []
    for name in ("before", "after"):
        dn = rng.integers(1, 5000, (3, 600, 90)).astype("uint16")
        if name == "after":
            dn[:, 450:460, 10:20] = 0
        r = Raster(dn, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32631",
                   band_names=("B02", "B03", "B04"), nodata=0, dates=("2020-01-01",))
        write_cog(r, tmp_path / f"{name}.tif", blocksize=128)
        paths.append(tmp_path / f"{name}.tif")
    return paths


def _direct(paths, rows):
    """Blocks read straight from the files, no cache: the reference."""
    reader = PairReader(*paths)
    try:
        return [tuple(x.copy() for x in reader.read(b)) for b in rows]
    finally:
        reader.close()


def test_cached_reads_decode_each_tile_row_once_and_equal_direct_reads(pair, tmp_path,
                                                                      monkeypatch):
    calls = []
    real = blocks._read_raw

    def counting(src, info, bands, r0, r1):  # type: ignore[no-untyped-def]
        calls.append((info.path, r0, r1))
        return real(src, info, bands, r0, r1)

    rows = row_blocks(600, 37, halo=9)  # blocks with halos, across the 128-row tile rows
    want = _direct(pair, rows)
    monkeypatch.setattr(blocks, "_read_raw", counting)
    reader = PairReader(*pair)
    reader.enable_cache(tmp_path)
    try:
        for _ in range(2):  # a second pass decodes nothing
            for b, (wb, wa) in zip(rows, want, strict=True):
                gb, ga = reader.read(b)
                np.testing.assert_array_equal(gb, wb)   # NaN where no data, like direct reads
                np.testing.assert_array_equal(ga, wa)
                reader.recycle(gb, ga)
    finally:
        reader.close()
    # decode units of 256 rows (two 128-row tile rows): each decoded once, whole
    assert sorted(calls) == sorted((str(p), r0, r1) for p in pair
                                   for r0, r1 in ((0, 256), (256, 512), (512, 600)))
    assert any(np.isnan(wa).any() for _, wa in want)  # no-data pixels are compared too


def test_recycled_arrays_are_reused_and_other_shapes_freed(pair, tmp_path):
    reader = PairReader(*pair)
    reader.enable_cache(tmp_path)
    try:
        b0 = RowBlock(0, 0, 40, 0, 40)
        first = reader.read(b0)
        reader.recycle(*first)
        again = reader.read(b0)
        assert {id(x) for x in again} == {id(x) for x in first}  # no new pages to fault
        reader.recycle(*again)
        other = reader.read(RowBlock(1, 40, 70, 40, 70))  # another shape: the pool is freed
        assert all(x.shape == (3, 30, 90) for x in other) and reader._pool == []
        view = other[0][:, :5]
        reader.recycle(view)  # a view is never taken back: its owner may still be in use
        assert reader._pool == []
    finally:
        reader.close()
