"""Shared by the timeline benchmarks: epochs around synthetic stacks, the Slovenia series.

Not a benchmark itself (``run_all.py`` runs ``bench_*.py`` only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from sitewatch.imagery.epochs import Epoch, epochs_from_stack
from sitewatch.raster import Provenance, Raster

SLOVENIA = "eolearn-slovenia/example_data/TestEOPatch"


def quarterly_epochs(stack: np.ndarray | Sequence[np.ndarray], transform: Affine, crs: str,
                     bands: Sequence[str], *, start: str = "2016-01-01",
                     source: str = "semisynthetic") -> list[Epoch]:
    """One Epoch per (B, M, N) layer, on consecutive quarters from ``start``."""
    return epochs_from_stack(stack, transform, crs, bands, start=start, every="quarter",
                             source=source)


def write_slovenia_scenes(data: Path, folder: Path) -> tuple[str, list[str]]:
    """The 68 Slovenia dates as dated two-band GeoTIFFs (NDVI, CLP) for the ``local`` source.

    Returns the patch's WGS84 bbox (``minx,miny,maxx,maxy``) and the dates.
    """
    from pyproj import Transformer

    from sitewatch.imagery.io import write_cog

    root = data / SLOVENIA
    ndvi = np.load(root / "data" / "NDVI.npy")[..., 0].astype("float32")
    clp = np.load(root / "data" / "CLP.npy")[..., 0].astype("float32")
    days = [t[:10] for t in json.loads((root / "timestamps.json").read_text())]
    ring = json.loads((root / "bbox.geojson").read_text())["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    rows, cols = ndvi.shape[1:]
    res_x = (max(xs) - min(xs)) / cols
    res_y = (max(ys) - min(ys)) / rows
    transform = Affine(res_x, 0, min(xs), 0, -res_y, max(ys))
    folder.mkdir(parents=True, exist_ok=True)
    for i, day in enumerate(days):
        r = Raster(np.stack([ndvi[i], clp[i]]), transform, "EPSG:32633",
                   band_names=("NDVI", "CLP"), dates=(day,),
                   provenance=Provenance("eo-learn TestEOPatch", (f"S2-TestEOPatch-{day}",)))
        write_cog(r, folder / f"slovenia_{day}.tif", overviews=False)
    t = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lon, lat = t.transform([min(xs) + 1, max(xs) - 1, max(xs) - 1, min(xs) + 1],
                           [min(ys) + 1, min(ys) + 1, max(ys) - 1, max(ys) - 1])
    bbox = f"{max(lon[0], lon[3])},{max(lat[0], lat[1])},{min(lon[1], lon[2])}," \
           f"{min(lat[2], lat[3])}"
    return bbox, days
