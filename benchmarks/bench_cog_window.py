"""How many bytes a site window costs: a 2 km x 2 km window from a 10980 x 10980 COG.

Builds one full-size Sentinel-2-like 10 m band (10980 x 10980 uint16, DEFLATE,
1024 px tiles and overviews, like the COGs on Earth Search), serves it from the
loopback byte-range server the tests use (``tests/fakes``, its own process), and
reads windows of 200 x 200 px (2 km at 10 m) onto a site grid with
sitewatch's own reader (:class:`sitewatch.imagery.sources.cog.CogReader`, the
code path of every STAC source). The server counts every byte it sends.

    python benchmarks/bench_cog_window.py

Needs no shared data; the test file is built in a temporary folder (~1 min).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from common import write_section  # noqa: E402
from fakes.control import FakeServer  # noqa: E402

from sitewatch.aoi.grid import Grid  # noqa: E402
from sitewatch.imagery.gdal_env import HttpSettings  # noqa: E402
from sitewatch.imagery.sources.cog import CogReader  # noqa: E402

SIZE = 10980
X0, Y0 = 600000.0, 4500000.0  # a Sentinel-2 tile's upper-left corner (UTM 51N)
WINDOW_PX = 200               # 2 km at 10 m


def build_band(path: Path) -> None:
    """A 10980 x 10980 uint16 band with field-like texture and sensor noise."""
    rng = np.random.default_rng(12345)
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 1, "dtype": "uint16",
               "crs": "EPSG:32651", "transform": Affine(10, 0, X0, 0, -10, Y0), "nodata": 0,
               "tiled": True, "blockxsize": 1024, "blockysize": 1024}
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            for r0 in range(0, SIZE, 1098):
                rows = min(1098, SIZE - r0)
                yy, xx = np.mgrid[r0:r0 + rows, 0:SIZE]
                field = 1200 + 500 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
                block = field + rng.normal(0, 60, (rows, SIZE))
                ds.write(np.clip(block, 1, 65535).astype("uint16"), 1,
                         window=((r0, r0 + rows), (0, SIZE)))
        with mem.open() as src:
            rio_copy(src, path, driver="COG", blocksize=1024, compress="DEFLATE", predictor=2,
                     overviews="AUTO")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        band = root / "raw" / "S2X_TILE" / "B04.tif"
        band.parent.mkdir(parents=True)
        t0 = time.perf_counter()
        build_band(band)
        build_s = time.perf_counter() - t0
        (root / "world.json").write_text(json.dumps({"scenes": [], "s1": []}))
        size = band.stat().st_size
        with rasterio.open(band) as src:
            blocks = src.block_shapes[0]
            overviews = src.overviews(1)
        cases = {
            "inside one 1024 px tile": (3, 3),          # window offset in tiles (row, col)
            "across four tiles": (4.9, 6.9),
            "at the tile edge (partly outside)": (10.6, 10.6),
        }
        http = HttpSettings(timeout=30, retries=2, retry_delay=0.1)
        rows = []
        with FakeServer() as fs:
            for name, (tr, tc) in cases.items():
                tag = fs.reset(root)
                url = f"{fs.url}/files/{tag}/raw/S2X_TILE/B04.tif"
                r0, c0 = int(tr * 1024), int(tc * 1024)
                grid = Grid("EPSG:32651", Affine(10, 0, X0 + c0 * 10, 0, -10, Y0 - r0 * 10),
                            WINDOW_PX, WINDOW_PX)
                t1 = time.perf_counter()
                arr, _ = CogReader(http).read(url, grid, what="B04")
                secs = time.perf_counter() - t1
                log = fs.log()
                moved = sum(e["bytes"] for e in log)
                valid = float((arr > 0).mean())
                rows.append((name, len(log), moved, moved / size, secs, valid))
    body = [
        f"File: {SIZE} x {SIZE} uint16 COG, DEFLATE + predictor, {blocks[0]} x {blocks[1]} "
        f"px tiles, {len(overviews)} overview levels: {size / 1e6:.1f} MB (built in "
        f"{build_s:.0f} s).",
        f"Window: {WINDOW_PX} x {WINDOW_PX} px = 2 km x 2 km at 10 m, read onto a site grid "
        "by `CogReader` (GDAL /vsicurl/ byte ranges, sitewatch's GDAL settings), bytes "
        "counted by the loopback server (tests/fakes) as sent.",
        "",
        "| window | requests | bytes moved | share of file | read time | valid px |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, n, moved, frac, secs, valid in rows:
        body.append(f"| {name} | {n} | {moved / 1e3:,.0f} kB | {100 * frac:.2f} % | "
                    f"{secs:.2f} s | {100 * valid:.0f} % |")
    worst = max(r[3] for r in rows)
    body += ["", f"Largest share: **{100 * worst:.2f} %** of the file (acceptance: under 5 %)."]
    write_section("cog_window", "Windowed COG reads (2 km window of a 10980 x 10980 band)",
                  "\n".join(body))
    if worst >= 0.05:
        sys.exit(f"window read moved {100 * worst:.1f} % of the file: above 5 %")


if __name__ == "__main__":
    main()
