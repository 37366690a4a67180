"""Test data of the scale tests: small local imagery folders cut from the bundled sample.

(Not a ``conftest.py``: several test folders import ``conftest`` by name.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.imagery.io import write_cog
from sitewatch.imagery.sources.sample import SampleSource

BANDS = ("B02", "B03", "B04", "B08")


def _crops(n: int, size: int) -> list[tuple[int, int]]:
    """Top-left (row, col) of ``n`` non-overlapping crops of the 384 x 384 sample."""
    per_row = 384 // size
    return [(size * (i // per_row), size * (i % per_row)) for i in range(n)]


def site_folders_factory(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``make(n, size=96)``: n folders of two dated GeoTIFFs (crops of the sample) and a
    watchlist dict with one site per folder (source ``local``, native grid)."""

    def make(n: int, size: int = 96, bands: tuple[str, ...] = BANDS) -> dict[str, Any]:
        src = SampleSource()
        scenes = src.search(src.site(), "2015-01-01", "2018-12-31")
        grid = src.native_grid()
        full = [src.load(s, grid, [b for b in S2_LAND_BANDS if b in bands]) for s in scenes]
        sites = []
        for i, (r0, c0) in enumerate(_crops(n, size)):
            folder = tmp_path / "data" / f"site{i}"
            folder.mkdir(parents=True)
            for sc, r in zip(scenes, full, strict=True):
                w = r.window(r0, c0, size, size)
                write_cog(w, folder / f"site{i}_{sc.date}.tif", overviews=False)
            minx, miny, maxx, maxy = r.window(r0, c0, size, size).bounds
            sites.append({"id": f"site{i}", "bbox": [minx, miny, maxx, maxy],
                          "source_options": {"path": f"data/site{i}"}})
        wl = {"defaults": {"source": "local", "from": "2015-01-01", "to": "2018-12-31",
                           "every": "year", "bands": list(bands), "grid": "native",
                           "method": "cva", "formats": []},
              "sites": sites}
        path = tmp_path / "watchlist.json"
        path.write_text(json.dumps(wl))
        return {"path": path, "watchlist": wl, "root": tmp_path}

    return make
