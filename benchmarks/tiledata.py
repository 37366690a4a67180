"""A deterministic full Sentinel-2 tile pair with real texture, for the scale benchmarks.

The pair covers one 10980 x 10980 grid at 10 m (the size of a Sentinel-2 MGRS tile,
on UTM zone 10N) with 6 bands (B02, B03, B04, B08, B11, B12), stored as uint16
reflectance x 10000 in DEFLATE Cloud-Optimized GeoTIFFs (512 px tiles, predictor 2,
internal overviews), the way Sentinel-2 data is published.

How it is made (seeded, so every run builds the same bytes):

- the grid is cut into 36 x 36 patches of 305 x 305 px; each patch is a random
  305 x 305 window of one of the 9 OSCD cities (``../shared/data/oscd``), both dates
  (imgs_2 brought onto imgs_1's grid by the spine's OSCD reader), turned by a random
  one of the 8 rotations/reflections. The before tile takes the city's first date,
  the after tile its second date at the same place, so the pair holds the real
  urban changes the OSCD labels mark. A real tile pair is two acquisitions, one
  radiometric relation; the 9 city pairs have 9, so each city's second date is first
  mapped onto its first date per band (linear match of the quartiles);
- 60 synthetic "new paving" blobs (ellipses 3 to 150 px across, some crossing patch
  and block edges) are painted into the after tile with an asphalt-like spectrum
  plus texture noise.

Contains modified Copernicus Sentinel data 2015-2018 (via OSCD, Daudt et al. 2018).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.windows import Window

from sitewatch.imagery.oscd import find_oscd_cities, read_oscd_pair

log = logging.getLogger(__name__)

TILE = 10980
PATCH = 305
BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
CRS = "EPSG:32610"
TRANSFORM = Affine(10, 0, 499980, 0, -10, 4200000)
SEED = 20250601
VERSION = "fulltile-v2"
#: Asphalt-like top-of-atmosphere reflectance of the painted blobs, per band.
PAVING = np.array([0.125, 0.125, 0.130, 0.160, 0.210, 0.190], "float32")


def data_dir() -> Path:
    """Where the generated benchmark inputs live (``SITEWATCH_BENCH_DATA`` or benchmarks/.data)."""
    default = Path(__file__).resolve().parent / ".data"
    return Path(os.environ.get("SITEWATCH_BENCH_DATA", default))


def _load_cities(oscd_root: Path, bands: tuple[str, ...]
                 ) -> list[tuple[np.ndarray, np.ndarray, str]]:
    cities = []
    for name in find_oscd_cities(oscd_root):
        b, a = read_oscd_pair(oscd_root, name, bands=bands)
        # one pair of acquisition conditions over the whole tile, as in a real tile pair:
        # each band of the city's second date mapped onto its first date's radiometry
        # (linear match of the quartiles; the few changed pixels barely move them)
        after = a.data.copy()
        for i in range(after.shape[0]):
            qb = np.nanpercentile(b.data[i], [25, 50, 75])
            qa = np.nanpercentile(a.data[i], [25, 50, 75])
            gain = (qb[2] - qb[0]) / max(qa[2] - qa[0], 1e-6)
            after[i] = (after[i] - qa[1]) * gain + qb[1]
        pair = []
        for d0 in (b.data, after):
            d = np.nan_to_num(d0, nan=0.0) * 10000
            pair.append(np.clip(np.round(d), 1, 65535).astype("uint16"))
        # drop the outer 8 px, where resampled imgs_2 may have edge artefacts
        cities.append((pair[0][:, 8:-8, 8:-8], pair[1][:, 8:-8, 8:-8], name))
    return cities


def _d4(x: np.ndarray, k: int) -> np.ndarray:
    y = np.rot90(x, k % 4, axes=(1, 2))
    return y[:, :, ::-1] if k >= 4 else y


def _blobs(rng: np.random.Generator, n: int = 60) -> list[tuple[float, float, float, float]]:
    out = []
    for i in range(n):
        r = float(rng.uniform(1.5, 75.0)) if i % 4 else float(rng.uniform(30, 75))
        row = float(rng.uniform(100, TILE - 100))
        if i % 5 == 0:  # straddle a 512-row block edge
            row = float(512 * rng.integers(1, TILE // 512) + rng.uniform(-r / 2, r / 2))
        out.append((row, float(rng.uniform(100, TILE - 100)), r, float(rng.uniform(0.4, 1.0))))
    return out


def _profile(nbands: int) -> dict[str, object]:
    return {"driver": "GTiff", "width": TILE, "height": TILE, "count": nbands,
            "dtype": "uint16", "crs": CRS, "transform": TRANSFORM, "nodata": 0,
            "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "ZSTD",
            "zstd_level": 1, "BIGTIFF": "YES"}


def paving_spectrum(bands: tuple[str, ...]) -> np.ndarray:
    """The blobs' reflectance in ``bands`` (red edge interpolated between B04 and B08)."""
    known = dict(zip(BANDS, PAVING.tolist(), strict=True))
    known.update({"B05": 0.140, "B06": 0.150, "B07": 0.155, "B8A": 0.165})
    return np.array([known[b] for b in bands], "float32")


def build_full_tile(oscd_root: Path, out: Path | None = None, *,
                    bands: tuple[str, ...] = BANDS) -> tuple[Path, Path]:
    """Build (once) and return the paths of ``before.tif`` and ``after.tif``."""
    bands = tuple(bands)
    paving = paving_spectrum(bands)
    tag = VERSION if bands == BANDS else f"{VERSION}-{len(bands)}bands"
    folder = (out or data_dir()) / tag
    before, after = folder / "before.tif", folder / "after.tif"
    if (folder / "done.json").is_file():
        return before, after
    t0 = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    cities = _load_cities(oscd_root, bands)
    n = TILE // PATCH
    plan = [(int(rng.integers(len(cities))), int(rng.integers(8)), float(rng.random()),
             float(rng.random())) for _ in range(n * n)]
    blobs = _blobs(rng)
    names = {"before": before, "after": after}
    tmp = {k: folder / f".{k}.raw.tif" for k in names}
    dates = {"before": "2016-05-01", "after": "2018-05-01"}
    dsts = {k: rasterio.open(tmp[k], "w", **_profile(len(bands)))  # type: ignore[arg-type]
            for k in names}
    try:
        rows = np.arange(PATCH)[:, None]
        cols = np.arange(TILE)[None, :]
        for pi in range(n):
            strips = {k: np.empty((len(bands), PATCH, TILE), "uint16") for k in names}
            for pj in range(n):
                ci, k, fr, fc = plan[pi * n + pj]
                b, a, _ = cities[ci]
                r0 = int(fr * (b.shape[1] - PATCH))
                c0 = int(fc * (b.shape[2] - PATCH))
                for key, arr in (("before", b), ("after", a)):
                    strips[key][:, :, pj * PATCH:(pj + 1) * PATCH] = _d4(
                        arr[:, r0:r0 + PATCH, c0:c0 + PATCH], k)
            row0 = pi * PATCH
            for (br, bc, rad, shape_ratio) in blobs:
                if br + rad < row0 or br - rad > row0 + PATCH:
                    continue
                inside = (((rows + row0 - br) / rad) ** 2 +
                          ((cols - bc) / (rad * shape_ratio)) ** 2) <= 1.0
                if not inside.any():
                    continue
                noise = np.random.default_rng(int(br * 1000 + bc)).normal(
                    1.0, 0.04, inside.shape).astype("float32")
                for bi in range(len(bands)):
                    val = paving[bi] * 10000 * noise
                    strips["after"][bi][inside] = np.clip(val[inside], 1, 65535).astype("uint16")
            for key in names:
                dsts[key].write(strips[key], window=Window(0, row0, TILE, PATCH))
        for key in names:
            ds = dsts[key]
            ds.update_tags(SITEWATCH_BAND_NAMES=json.dumps(list(bands)),
                           SITEWATCH_DATES=json.dumps([dates[key]]),
                           SITEWATCH_PROVENANCE=json.dumps({
                               "source": "benchmark", "scene_ids": [f"FULLTILE_{key.upper()}"],
                               "processing": {"generator": VERSION, "seed": SEED,
                                              "from": "OSCD (Daudt et al. 2018)"}}),
                           SITEWATCH_ATTRS=json.dumps({"scale": 1e-4}))
            for i, b in enumerate(bands, start=1):
                ds.set_band_description(i, b)
    finally:
        for ds in dsts.values():
            ds.close()
    for key, dest in names.items():
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(tmp[key], dest, driver="COG", compress="DEFLATE", level=6,
                                 predictor=2, blocksize=512, overviews="AUTO", BIGTIFF="YES",
                                 num_threads="ALL_CPUS")
        tmp[key].unlink()
    info = {"version": VERSION, "seed": SEED, "shape": [TILE, TILE], "bands": list(bands),
            "cities": [c[2] for c in cities], "blobs": len(blobs),
            "seconds": round(time.perf_counter() - t0, 1),
            "bytes": {k: p.stat().st_size for k, p in names.items()}}
    (folder / "done.json").write_text(json.dumps(info, indent=1))
    return before, after


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import OSCD_ROOT, require_data

    print(build_full_tile(require_data(OSCD_ROOT)))
