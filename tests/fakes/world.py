"""Synthetic Sentinel-2 L2A / Sentinel-1 GRD scenes that every fake server serves.

A *world* is one small fake MGRS tile (3.84 km, UTM 51N near the New Yalu
River Bridge) observed on several dates. Ground truth is an analytic function
of position (textured fields, a river, and optionally a bright concrete roof
that appears on a given date), so a geolocation error is an exact shift. Each
scene adds its own clouds (SCL 8/9) with shadows (SCL 3), thin cirrus (SCL 10),
a no-data strip (SCL 0, DN 0) and a little noise.

Files are COGs in the layouts the providers use: ``raw`` (ESA DN: reflectance
x 10000, plus 1000 from processing baseline 04.00) and ``shifted`` (Earth
Search ``sentinel-2-l2a`` items whose offset was already removed). ``world.json``
describes the scenes for the fake STAC and Sentinel Hub APIs.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.warp
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy
from shapely.geometry import box, mapping

EPSG = 32651
TILE_X0, TILE_Y0 = 614980.0, 4433020.0  # upper-left corner, on the 20/60 m lattice
TILE_SIZE_M = 3840.0
TILE_ID = "51TXE"
TWIN_TILE_ID = "51SXE"  # the neighbouring tile (latitude band S) of twin scenes
#: The test site (UTM metres): a 1.5 km square well inside the tile.
SITE_UTM = (616000.0, 4430000.0, 617500.0, 4431500.0)
#: The bright roof (UTM metres): 120 m x 80 m = 9,600 m².
ROOF_UTM = (616600.0, 4430600.0, 616720.0, 4430680.0)
RIVER_Y = (4431700.0, 4431900.0)

BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B05", "B06", "B07", "B8A", "B11", "B12")
ALL_BANDS = BANDS_10M + BANDS_20M
# Surface reflectance spectra of the cover types (vegetation-ish fields, water, concrete).
FIELD = dict(zip(ALL_BANDS, (0.045, 0.075, 0.055, 0.32, 0.11, 0.24, 0.29, 0.34, 0.20, 0.11),
                 strict=True))
WATER = dict(zip(ALL_BANDS, (0.060, 0.070, 0.045, 0.025, 0.040, 0.030, 0.028, 0.022, 0.012,
                             0.008), strict=True))
ROOF = dict(zip(ALL_BANDS, (0.300, 0.320, 0.340, 0.380, 0.350, 0.360, 0.370, 0.380, 0.400,
                            0.360), strict=True))
CLOUD_REFL = 0.62
ES_KEYS = {"B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "B06": "rededge2",
           "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B11": "swir16", "B12": "swir22",
           "SCL": "scl"}


def site_wgs84() -> tuple[float, float, float, float]:
    """The test site as a WGS84 bbox (slightly inside SITE_UTM)."""
    t = Transformer.from_crs(EPSG, 4326, always_xy=True)
    x0, y0, x1, y1 = SITE_UTM
    xs, ys = t.transform([x0 + 20, x1 - 20, x1 - 20, x0 + 20], [y0 + 20, y0 + 20, y1 - 20, y1 - 20])
    return (max(xs[0], xs[3]), max(ys[0], ys[1]), min(xs[1], xs[2]), min(ys[2], ys[3]))


@dataclass
class SceneSpec:
    """One acquisition of the fake tile."""

    date: str
    platform: str = "sentinel-2a"
    baseline: str | None = None          # default: by date (02.14 / 04.00)
    clouds: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, radius) m
    cirrus: list[tuple[float, float, float]] = field(default_factory=list)
    shadow_offset_m: tuple[float, float] = (250.0, -250.0)  # (dx, dy) of cloud shadows
    nodata_cols: int = 0                 # leftmost 10 m columns without data
    twin_cols: int = 0                   # a neighbouring tile of the same overpass covers
                                         # the leftmost columns (its id has tile 51SXE)
    shift_m: tuple[float, float] = (0.0, 0.0)  # geolocation error (dx, dy) in metres
    roof_as_cloud: bool = True           # SCL calls the roof cloud (the false-cloud case)
    es_shifted: bool | None = None       # ES sentinel-2-l2a pixels already offset-corrected
    es_flag: bool | None = None          # what its earthsearch:boa_offset_applied says
    es_collections: tuple[str, ...] = ("sentinel-2-c1-l2a", "sentinel-2-l2a")
    time: str = "02:35:41"
    noise: float = 0.002

    def effective_baseline(self) -> str:
        if self.baseline:
            return self.baseline
        return "04.00" if self.date >= "2022-01-25" else "02.14"


@dataclass
class S1Spec:
    date: str
    platform: str = "sentinel-1a"
    orbit_state: str = "ascending"
    absolute_orbit: int = 37000
    time: str = "09:45:12"


@dataclass
class WorldSpec:
    scenes: list[SceneSpec]
    s1: list[S1Spec] = field(default_factory=list)
    roof_date: str | None = None         # the roof exists from this date
    seed: int = 12345
    blocksize: int = 128


def _texture(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(np.broadcast(x, y).shape)
    for _ in range(12):
        lam = rng.uniform(50, 400)
        th = rng.uniform(0, np.pi)
        ph = rng.uniform(0, 2 * np.pi)
        out += np.sin(2 * np.pi * (x * np.cos(th) + y * np.sin(th)) / lam + ph)
    return 1.0 + 0.35 * out / np.sqrt(6.0)


def _in_box(x: np.ndarray, y: np.ndarray, b: tuple[float, float, float, float]) -> np.ndarray:
    return (x >= b[0]) & (x < b[2]) & (y >= b[1]) & (y < b[3])


@functools.lru_cache(maxsize=16)
def _texture_on(res: float, dx: float, dy: float, seed: int) -> np.ndarray:
    x, y = _centres(res)
    out = _texture(x - dx, y - dy, seed)
    out.setflags(write=False)
    return out


def truth(band: str, x: np.ndarray, y: np.ndarray, *, roof: bool, seed: int,
          tex: np.ndarray | None = None) -> np.ndarray:
    """Ground reflectance of one band at UTM points (no clouds, no noise)."""
    tex = _texture(x, y, seed) if tex is None else tex
    refl = FIELD[band] * tex
    water = (y >= RIVER_Y[0]) & (y < RIVER_Y[1])
    refl = np.where(water, WATER[band], refl)
    if roof:
        refl = np.where(_in_box(x, y, ROOF_UTM), ROOF[band], refl)
    return refl


def _centres(res: float) -> tuple[np.ndarray, np.ndarray]:
    n = int(TILE_SIZE_M / res)
    c = TILE_X0 + (np.arange(n) + 0.5) * res
    r = TILE_Y0 - (np.arange(n) + 0.5) * res
    return np.meshgrid(c, r)


def _disks(x: np.ndarray, y: np.ndarray, disks: list[tuple[float, float, float]],
           dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    m = np.zeros(x.shape, bool)
    for cx, cy, rad in disks:
        m |= (x - cx - dx) ** 2 + (y - cy - dy) ** 2 <= rad ** 2
    return m


def scene_ids(spec: SceneSpec) -> dict[str, str]:
    d = spec.date.replace("-", "")
    t = spec.time.replace(":", "")
    sat = "S2A" if spec.platform.endswith("a") else ("S2B" if spec.platform.endswith("b")
                                                     else "S2C")
    bl = spec.effective_baseline().replace(".", "")
    return {"es": f"{sat}_{TILE_ID}_{d}_0_L2A",
            "esa": f"{sat}_MSIL2A_{d}T{t}_N{bl}_R046_T{TILE_ID}_{d}T{t}",
            "pc": f"{sat}_MSIL2A_{d}T{t}_R046_T{TILE_ID}_{d}T{t}"}


def _write_cog(path: Path, data: np.ndarray, res: float, dtype: str, nodata: float | None,
               blocksize: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": dtype, "crs": f"EPSG:{EPSG}", "nodata": nodata,
               "transform": Affine(res, 0, TILE_X0, 0, -res, TILE_Y0)}
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(data.astype(dtype), 1)
        with mem.open() as src:
            rio_copy(src, path, driver="COG", blocksize=blocksize, compress="DEFLATE",
                     overviews="NONE")


def tile_footprint(cols: tuple[int, int | None] = (0, None)) -> dict[str, Any]:
    """WGS84 footprint of the tile's data between two 10 m column numbers."""
    t = Transformer.from_crs(EPSG, 4326, always_xy=True)
    x1 = TILE_X0 + (TILE_SIZE_M if cols[1] is None else cols[1] * 10.0)
    poly = box(TILE_X0 + cols[0] * 10.0, TILE_Y0 - TILE_SIZE_M, x1, TILE_Y0)
    return mapping(shapely.transform(poly.segmentize(500), lambda xx, yy: t.transform(xx, yy),
                                     interleaved=False))


def _valid_cols(shape: tuple[int, int], res: float, cols: tuple[int, int | None]) -> np.ndarray:
    valid = np.zeros(shape, bool)
    start = int(np.ceil(cols[0] * 10 / res))
    stop = None if cols[1] is None else int(np.ceil(cols[1] * 10 / res))
    valid[:, start:stop] = True
    return valid


def scene_reflectance(spec: SceneSpec, world: WorldSpec, band: str, res: float,
                      index: int, cols: tuple[int, int | None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(reflectance, valid) of one band of one scene on the tile grid at ``res``."""
    x, y = _centres(res)
    xs, ys = x - spec.shift_m[0], y - spec.shift_m[1]
    roof = world.roof_date is not None and spec.date >= world.roof_date
    tex = _texture_on(res, spec.shift_m[0], spec.shift_m[1], world.seed)
    refl = truth(band, xs, ys, roof=roof, seed=world.seed, tex=tex)
    rng = np.random.default_rng([world.seed, index, ALL_BANDS.index(band)])
    refl = refl + rng.normal(0, spec.noise, refl.shape)
    dx, dy = spec.shadow_offset_m
    shadow = _disks(xs, ys, spec.clouds, dx, dy)
    refl = np.where(shadow, refl * 0.35, refl)
    refl = np.where(_disks(xs, ys, spec.cirrus), refl + 0.05, refl)
    refl = np.where(_disks(xs, ys, spec.clouds), CLOUD_REFL, refl)
    valid = _valid_cols(refl.shape, res, cols or (spec.nodata_cols, None))
    return np.clip(refl, 0.0001, 1.5), valid


def scene_scl(spec: SceneSpec, world: WorldSpec, cols: tuple[int, int | None] | None = None
              ) -> np.ndarray:
    """The scene classification layer (20 m) as Sen2Cor would give it."""
    x, y = _centres(20.0)
    xs, ys = x - spec.shift_m[0], y - spec.shift_m[1]
    roof = world.roof_date is not None and spec.date >= world.roof_date
    tex = _texture_on(20.0, spec.shift_m[0], spec.shift_m[1], world.seed)
    red = truth("B04", xs, ys, roof=roof, seed=world.seed, tex=tex)
    nir = truth("B08", xs, ys, roof=roof, seed=world.seed, tex=tex)
    ndvi = (nir - red) / (nir + red)
    scl = np.where(ndvi > 0.4, 4, 5).astype("uint8")
    scl[(ys >= RIVER_Y[0]) & (ys < RIVER_Y[1])] = 6
    if roof and spec.roof_as_cloud:
        scl[_in_box(xs, ys, ROOF_UTM)] = 9
    dx, dy = spec.shadow_offset_m
    scl[_disks(xs, ys, spec.clouds, dx, dy)] = 3
    scl[_disks(xs, ys, spec.cirrus)] = 10
    core = [(cx, cy, r * 0.8) for cx, cy, r in spec.clouds]
    scl[_disks(xs, ys, spec.clouds)] = 8
    scl[_disks(xs, ys, core)] = 9
    scl[~_valid_cols(scl.shape, 20.0, cols or (spec.nodata_cols, None))] = 0
    return scl


def _write_tile(folder: Path, sc: SceneSpec, spec: WorldSpec, index: int, product: str,
                variants: list[str], new: bool, cols: tuple[int, int | None]
                ) -> tuple[dict[str, dict[str, str]], np.ndarray]:
    """Write one tile product's bands (per DN variant) and SCL; return its files and SCL."""
    files: dict[str, dict[str, str]] = {v: {} for v in variants}
    for band in ALL_BANDS:
        res = 10.0 if band in BANDS_10M else 20.0
        refl, valid = scene_reflectance(sc, spec, band, res, index, cols)
        for variant in variants:
            add = 1000 if (new and variant == "raw") else 0
            dn = np.where(valid, np.clip(np.round(refl * 10000) + add, 1, 65535), 0)
            rel = f"{variant}/{product}/{band}.tif"
            _write_cog(folder / rel, dn, res, "uint16", 0, spec.blocksize)
            files[variant][band] = rel
    scl = scene_scl(sc, spec, cols)
    rel = f"scl/{product}/SCL.tif"
    _write_cog(folder / rel, scl, 20.0, "uint8", 0, spec.blocksize)
    for variant in variants:
        files[variant]["SCL"] = rel
    if "shifted" not in files:
        files["shifted"] = files["raw"]
    return files, scl


def build_world(folder: Path, spec: WorldSpec, variants: tuple[str, ...] = ("raw", "shifted")
                ) -> dict[str, Any]:
    """Write every scene's COGs under ``folder`` and return (and save) ``world.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i, sc in enumerate(spec.scenes):
        ids = scene_ids(sc)
        baseline = sc.effective_baseline()
        new = baseline >= "04.00"
        es_shifted = new if sc.es_shifted is None else sc.es_shifted
        es_flag = es_shifted if sc.es_flag is None else sc.es_flag
        wanted = [v for v in variants if not (v == "shifted" and not new)]
        files, scl = _write_tile(folder, sc, spec, i, ids["es"], wanted, new,
                                 (sc.nodata_cols, None))
        cloud_px = int(np.isin(scl, (3, 8, 9, 10)).sum())
        twin = None
        if sc.twin_cols:
            tids = {k: v.replace(TILE_ID, TWIN_TILE_ID) for k, v in ids.items()}
            tfiles, _ = _write_tile(folder, sc, spec, i, tids["es"], wanted, new,
                                    (0, sc.twin_cols))
            twin = {"ids": tids, "files": tfiles, "tile": TWIN_TILE_ID,
                    "footprint": tile_footprint((0, sc.twin_cols))}
        scenes.append({
            "ids": ids, "date": sc.date, "datetime": f"{sc.date}T{sc.time}Z",
            "platform": sc.platform, "baseline": baseline,
            "cloud_cover": round(100.0 * cloud_px / scl.size, 2),
            "es": {"collections": list(sc.es_collections), "shifted": es_shifted,
                   "flag": es_flag},
            "files": files, "spec": asdict(sc), "twin": twin, "tile": TILE_ID,
            "footprint": tile_footprint((sc.nodata_cols, None)),
        })
    s1 = []
    for j, s in enumerate(spec.s1):
        x, y = _centres(10.0)
        rng = np.random.default_rng([spec.seed, 1000 + j])
        tex = _texture(x, y, spec.seed + 1)
        roof = spec.roof_date is not None and s.date >= spec.roof_date
        vv = 0.08 * tex * rng.gamma(8.0, 1 / 8.0, tex.shape)
        vh = 0.02 * tex * rng.gamma(8.0, 1 / 8.0, tex.shape)
        if roof:
            vv = np.where(_in_box(x, y, ROOF_UTM), 0.9, vv)
            vh = np.where(_in_box(x, y, ROOF_UTM), 0.12, vh)
        d = s.date.replace("-", "")
        sid = f"S1A_IW_GRDH_1SDV_{d}T{s.time.replace(':', '')}_{d}T094537_0{s.absolute_orbit}_X"
        fl = {}
        for pol, arr in (("VV", vv), ("VH", vh)):
            rel = f"s1/{sid}/{pol}.tif"
            _write_cog(folder / rel, arr, 10.0, "float32", None, spec.blocksize)
            fl[pol] = rel
        s1.append({"id": sid, "date": s.date, "datetime": f"{s.date}T{s.time}Z",
                   "platform": s.platform, "orbit_state": s.orbit_state,
                   "absolute_orbit": s.absolute_orbit, "files": fl})
    info = {"epsg": EPSG, "tile": TILE_ID, "transform10": [10.0, 0, TILE_X0, 0, -10.0, TILE_Y0],
            "size_m": TILE_SIZE_M, "footprint": tile_footprint(),
            "bbox": list(rasterio.warp.transform_bounds(
                f"EPSG:{EPSG}", "EPSG:4326", TILE_X0, TILE_Y0 - TILE_SIZE_M,
                TILE_X0 + TILE_SIZE_M, TILE_Y0)),
            "roof_date": spec.roof_date, "scenes": scenes, "s1": s1,
            "built": dt.datetime.now(dt.UTC).isoformat()}
    (folder / "world.json").write_text(json.dumps(info, indent=1))
    return info
