"""Shared by the timeline benchmarks: epochs around synthetic stacks, the Slovenia series.

Not a benchmark itself (``run_all.py`` runs ``bench_*.py`` only).
"""

from __future__ import annotations

import datetime as dt
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


def write_scene_files(scenes: np.ndarray, transform: Affine, crs: str, bands: Sequence[str],
                      folder: Path, dates: Sequence[str], *, valid: np.ndarray | None = None,
                      prefix: str = "scene") -> Path:
    """Scenes as a user's folder of dated GeoTIFFs: uint16 reflectance x 10000, 0 = no data.

    ``valid`` (T, M, N) burns a cloud mask in as no-data (the "masked" files).
    """
    from sitewatch.imagery.io import write_cog

    folder.mkdir(parents=True, exist_ok=True)
    for i, day in enumerate(dates):
        x = scenes[i]
        ok = np.isfinite(x).all(axis=0)
        if valid is not None:
            ok &= valid[i]
        data = np.clip(np.round(np.nan_to_num(x) * 10000), 1, 65535).astype("uint16")
        data[:, ~ok] = 0
        r = Raster(data, transform, crs, band_names=tuple(bands), nodata=0, dates=(day,),
                   provenance=Provenance("semisynthetic", (f"{prefix}_{day}",)))
        write_cog(r, folder / f"{prefix}_{day}.tif", overviews=False)
    return folder


def footprint_geojson(transform: Affine, crs: str, shape: tuple[int, int], path: Path,
                      name: str) -> Path:
    """The grid's footprint, 1 m inside its edges, as a GeoJSON site file."""
    from pyproj import Transformer
    from shapely.geometry import box, mapping
    from shapely.ops import transform as shp_transform

    rows, cols = shape
    x0, y0 = transform * (0, 0)
    x1, y1 = transform * (cols, rows)
    geom = box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if crs != "EPSG:4326":
        t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        geom = shp_transform(t.transform, geom)
    geom = geom.buffer(-abs(transform.a) * 0.05)
    feat = {"type": "Feature", "geometry": mapping(geom),
            "properties": {"id": name, "name": name}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))
    return path


def quarter_days(n: int, start_year: int = 2016) -> list[str]:
    """One acquisition date in the middle of each of ``n`` consecutive quarters."""
    return [dt.date(start_year + i // 4, 3 * (i % 4) + 2, 15).isoformat() for i in range(n)]
