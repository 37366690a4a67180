"""Two-date change detection on rasters larger than memory, block by block.

:func:`detect_change_files` gives the same change map, magnitude and regions as
:func:`sitewatch.pipeline.detect_change` on the whole arrays (the tests check it on a
raster small enough for both), while holding only a few row blocks in memory:

1. **score** - read each row block of the pair (with the detector's halo of context
   rows), compute the per-pixel statistic, keep it in a scratch file on disk, and
   accumulate the mergeable partials (e.g. min/max) of the global statistics;
2. **calibrate** - further passes over the scratch statistic for global statistics
   that need the first ones (e.g. Otsu's histogram over the global range), merged
   exactly, then the threshold;
3. **label** - threshold each block and label its connected regions; regions cut by
   block edges are joined across the edges (8-connectivity) as one graph, so each
   region's total area decides the minimum mapping unit exactly;
4. **trace** - trace each block's surviving regions (rasterio.features), join the
   pieces of regions cut by block edges, and sum their statistics;
5. write the mask and magnitude as COGs, the regions as GeoJSON, ``summary.json``.

Blocks run on ``threads`` threads (rasterio decoding and numpy release the GIL);
results are merged in block order, so they do not depend on timing.

Examples
--------
>>> import tempfile, pathlib
>>> from sitewatch.imagery.sources.sample import SampleSource
>>> from sitewatch.imagery.io import write_cog
>>> src = SampleSource(); d = pathlib.Path(tempfile.mkdtemp())
>>> scenes = src.search(src.site(), "2015-01-01", "2018-12-31")
>>> for name, sc in zip(("before", "after"), scenes):
...     write_cog(src.load(sc, src.native_grid(), ["B02", "B03", "B04", "B08"]), d / f"{name}.tif")
>>> res = detect_change_files(d / "before.tif", d / "after.tif", d / "out", block_rows=64)
>>> res.shape, len(res.regions) > 10, sorted(res.paths)
((384, 384), True, ['change_mask', 'changes', 'magnitude', 'summary'])
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from sitewatch._version import __version__
from sitewatch.atomic import atomic_write_text
from sitewatch.attribution import copernicus_attribution
from sitewatch.detectors.cva import change_vector
from sitewatch.detectors.polygons import Region, regions_to_geojson
from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector
from sitewatch.errors import DetectorError
from sitewatch.geometry import geodesic_area_m2, to_wgs84
from sitewatch.imagery.blocks import (
    PairReader,
    RowBlock,
    ScratchArray,
    file_tile_rows,
    row_blocks,
    scratch_to_cog,
)
from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2
from sitewatch.raster import pixel_area_m2
from sitewatch.types import ChangeType

__all__ = ["BlockMethod", "BlockwiseResult", "detect_change_files", "block_method"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_NTYPES = int(max(ChangeType)) + 1
_STRUCT8 = np.ones((3, 3), bool)


# -- the detector side: what the runner needs of a method -----------------------------
class BlockMethod(Protocol):
    """A detector in blockwise form (see :func:`block_method`).

    ``score`` maps one block of the pair (rows with ``halo`` context rows) to per-pixel
    arrays: ``magnitude`` (float32, NaN = invalid) and optionally ``probability``
    (float32) and ``change_type`` (uint8). Global statistics come from
    ``calibration_passes`` passes over those arrays: pass ``k`` maps a block's arrays
    and the state so far to a partial, partials combine with ``merge``, and
    ``finish(k, merged, state)`` returns the new state. ``decide(arrays, state)``
    gives the block's change mask.
    """

    name: str
    bands: tuple[str, ...]
    halo: int
    arrays: tuple[str, ...]
    calibration_passes: int

    def score(self, before: np.ndarray, after: np.ndarray, valid: np.ndarray
              ) -> dict[str, np.ndarray]: ...

    def partial(self, k: int, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> Any: ...

    def merge(self, k: int, a: Any, b: Any) -> Any: ...

    def finish(self, k: int, merged: Any, state: dict[str, Any]) -> dict[str, Any]: ...

    def decide(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> np.ndarray: ...

    def params(self, state: dict[str, Any]) -> dict[str, Any]: ...


class _CVABlocks:
    """Change vector analysis + Otsu threshold (:func:`sitewatch.detectors.cva.detect_cva`).

    Otsu's histogram is the one of the whole array: the global min/max first (merged
    exactly), then 256-bin histograms over that range summed over blocks.
    """

    name = "cva"
    bands: tuple[str, ...] = ()
    halo = 0
    arrays: tuple[str, ...] = ("magnitude",)

    def __init__(self, threshold: float | None = None, nbins: int = 256) -> None:
        self.fixed = threshold
        self.nbins = nbins
        self.calibration_passes = 0 if threshold is not None else 2

    def score(self, before: np.ndarray, after: np.ndarray, valid: np.ndarray
              ) -> dict[str, np.ndarray]:
        if not valid.any():
            return {"magnitude": np.full(valid.shape, np.nan, "float32")}
        return {"magnitude": change_vector(before, after, valid)}

    def partial(self, k: int, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> Any:
        vals = arrays["magnitude"]
        vals = np.asarray(vals[np.isfinite(vals)], dtype="float64")
        if k == 0:
            return (vals.size, float(vals.min()) if vals.size else np.inf,
                    float(vals.max()) if vals.size else -np.inf)
        return np.histogram(vals, bins=self.nbins, range=state["range"])[0]

    def merge(self, k: int, a: Any, b: Any) -> Any:
        if k == 0:
            return (a[0] + b[0], min(a[1], b[1]), max(a[2], b[2]))
        return a + b

    def finish(self, k: int, merged: Any, state: dict[str, Any]) -> dict[str, Any]:
        if k == 0:
            n, lo, hi = merged
            if n < 2 or lo == hi:
                raise DetectorError("cannot threshold: fewer than two distinct valid values "
                                    "(is the whole site masked as cloud or no-data?)")
            return {**state, "range": (lo, hi)}
        edges = np.linspace(state["range"][0], state["range"][1], self.nbins + 1)
        centers = (edges[:-1] + edges[1:]) / 2.0
        return {**state, "threshold": _otsu_from_hist(merged, centers)}

    def decide(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> np.ndarray:
        mag = arrays["magnitude"]
        t = self.fixed if self.fixed is not None else state["threshold"]
        with np.errstate(invalid="ignore"):
            return np.isfinite(mag) & (mag > t)

    def params(self, state: dict[str, Any]) -> dict[str, Any]:
        t = self.fixed if self.fixed is not None else state["threshold"]
        return {"threshold": float(t),
                "threshold_method": "fixed" if self.fixed is not None else "otsu"}


def _otsu_from_hist(counts: np.ndarray, centers: np.ndarray) -> float:
    from skimage import filters

    return float(filters.threshold_otsu(hist=(np.asarray(counts), np.asarray(centers))))


def block_method(name: str | None = None, **params: Any) -> BlockMethod:
    """The blockwise form of a registered detector.

    Raises
    ------
    DetectorError
        The detector has no blockwise form yet (use :func:`sitewatch.pipeline.detect_change`
        on arrays that fit in memory).
    """
    name = name or DEFAULT_DETECTOR
    info = get_detector(name)  # unknown names fail here, with the list of known ones
    if name == "cva":
        return _CVABlocks(**params)
    raise DetectorError(f"detector {info.name!r} has no blockwise form yet: run it in memory "
                        "(sitewatch.pipeline.detect_change) or pick --method cva")


# -- the runner -------------------------------------------------------------------------
@dataclass
class BlockwiseResult:
    """What :func:`detect_change_files` produced.

    Attributes
    ----------
    paths : dict
        Output name -> path (``change_mask``, ``magnitude``, ``changes``, ``summary``...).
    regions : list of Region
        Change regions, largest first (as in :class:`~sitewatch.pipeline.ChangeResult`).
    params : dict
        The detector's parameters, including its global threshold.
    changed_pixels : int
    changed_area_m2 : float
    shape : (rows, cols)
    timings : dict
        Seconds per stage.
    summary : dict
        What ``summary.json`` holds.
    """

    paths: dict[str, Path]
    regions: list[Region]
    params: dict[str, Any]
    changed_pixels: int
    changed_area_m2: float
    shape: tuple[int, int]
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def _ordered(pool: ThreadPoolExecutor | None, fn: Callable[[RowBlock], T],
             blocks: Sequence[RowBlock], window: int = 4) -> Iterator[T]:
    """fn over blocks, results in block order, at most ``window`` blocks in flight."""
    if pool is None:
        yield from (fn(b) for b in blocks)
        return
    futs = [pool.submit(fn, b) for b in blocks[:window]]
    for i in range(len(blocks)):
        res = futs[i].result()
        futs[i] = None  # type: ignore[call-overload]
        if i + window < len(blocks):
            futs.append(pool.submit(fn, blocks[i + window]))
        yield res


def _reduce(method: BlockMethod, k: int, parts: Iterable[Any]) -> Any:
    acc: Any = None
    for p in parts:
        acc = p if acc is None else method.merge(k, acc, p)
    return acc


@dataclass
class _Scratch:
    arrays: dict[str, ScratchArray]
    valid: ScratchArray
    raw_mask: ScratchArray
    final_mask: ScratchArray

    def read(self, r0: int, r1: int) -> dict[str, np.ndarray]:
        return {k: a.read_rows(r0, r1) for k, a in self.arrays.items()}

    def close(self) -> None:
        for a in [*self.arrays.values(), self.valid, self.raw_mask, self.final_mask]:
            a.close()


_SCORE_DTYPES = {"magnitude": "float32", "probability": "float32", "change_type": "uint8"}


def _label_block(mask: np.ndarray) -> tuple[np.ndarray, int]:
    if not mask.any():
        return np.zeros(mask.shape, "int32"), 0
    lab, n = ndimage.label(mask, structure=_STRUCT8)
    return lab.astype("int32", copy=False), int(n)


def _seam_edges(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(K, 2) pairs of labels touching across a block edge (8-connectivity)."""
    pairs = []
    for d in (-1, 0, 1):
        u = upper[max(0, -d):upper.size - max(0, d)]
        lo = lower[max(0, d):lower.size - max(0, -d)]
        hit = (u > 0) & (lo > 0)
        if hit.any():
            pairs.append(np.stack([u[hit], lo[hit]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), "int64")


def detect_change_files(before: str | os.PathLike[str], after: str | os.PathLike[str],
                        out_dir: str | os.PathLike[str], *, method: str | None = None,
                        min_area_m2: float = DEFAULT_MIN_AREA_M2,
                        bands: Sequence[str] | None = None,
                        block_rows: int | None = None, threads: int = 2,
                        scratch_dir: str | os.PathLike[str] | None = None,
                        compress_level: int = 6, **params: Any) -> BlockwiseResult:
    """Detect change between two large raster files in bounded memory.

    Parameters
    ----------
    before, after : path-like
        GeoTIFFs (e.g. COGs) on one grid; integer pixels are reflectance x 10000
        (or the file's ``scale`` attribute), no-data and masked pixels are missing.
    out_dir : path-like
        Receives ``change_mask.tif``, ``change_magnitude.tif``, ``changes.geojson``
        and ``summary.json`` (the files :func:`~sitewatch.pipeline.outputs.write_change_outputs`
        writes, without the figure).
    method : str, optional
        Detector (default: the default detector), in its blockwise form.
    min_area_m2 : float
        Minimum mapping unit: smaller regions are dropped from mask and polygons.
    bands : sequence of str, optional
        Bands to use (default: the detector's, else all bands both files have).
    block_rows : int, optional
        Rows per block (default: the files' tile height, 512 for COGs). Memory grows
        with ``block_rows x columns x bands x threads``.
    threads : int
        Blocks processed at once.
    scratch_dir : path-like, optional
        Where intermediate arrays live (default: a temporary folder in ``out_dir``);
        about 7 bytes per pixel.
    compress_level : int
        DEFLATE level of the output COGs.
    **params
        The detector's own parameters (e.g. ``threshold=`` for CVA).

    Returns
    -------
    BlockwiseResult
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    meth = block_method(method, **params)
    reader = PairReader(before, after, bands=bands or (meth.bands or None))
    rows, cols = reader.shape
    block_rows = block_rows or file_tile_rows(before)
    blocks = row_blocks(rows, block_rows, halo=meth.halo)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix=".sitewatch-blocks-",
                                     dir=scratch_dir if scratch_dir is not None else out))
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    area_rows = pixel_area_m2(reader.transform, reader.crs, (rows, cols))  # (M, 1) or (M, N)
    scratch: _Scratch | None = None
    try:
        with rasterio.Env(GDAL_CACHEMAX=256 * 2**20):
            # 1. score: one pass over the inputs
            scratch = _Scratch({}, ScratchArray(tmp_root / "valid.raw", (rows, cols), "uint8"),
                               ScratchArray(tmp_root / "mask0.raw", (rows, cols), "uint8"),
                               ScratchArray(tmp_root / "mask.raw", (rows, cols), "uint8"))

            def score(b: RowBlock) -> tuple[Any, list[str]]:
                bef, aft = reader.read(b)
                valid = np.isfinite(bef).all(axis=0) & np.isfinite(aft).all(axis=0)
                arrays = {k: v[b.core] for k, v in meth.score(bef, aft, valid).items()}
                assert scratch is not None
                for k, v in arrays.items():
                    if k not in scratch.arrays:
                        raise DetectorError(f"blockwise {meth.name}: unknown array {k!r}")
                    scratch.arrays[k].write_rows(b.row0, v)
                scratch.valid.write_rows(b.row0, valid[b.core])
                part = meth.partial(0, arrays, {}) if meth.calibration_passes else None
                return part, sorted(arrays)

            for name in meth.arrays:
                scratch.arrays[name] = ScratchArray(tmp_root / f"{name}.raw", (rows, cols),
                                                    _SCORE_DTYPES.get(name, "float32"))
            results = list(_ordered(pool, score, blocks, 2 * threads))
            timings["score"] = time.perf_counter() - t_start
            # 2. calibrate: global statistics, merged in block order
            state: dict[str, Any] = {}
            t0 = time.perf_counter()
            for k in range(meth.calibration_passes):
                if k == 0:
                    merged = _reduce(meth, 0, (r[0] for r in results))
                else:
                    def part(b: RowBlock, k: int = k, st: dict[str, Any] = state) -> Any:
                        assert scratch is not None
                        return meth.partial(k, scratch.read(b.row0, b.row1), st)

                    merged = _reduce(meth, k, _ordered(pool, part, blocks, 2 * threads))
                state = meth.finish(k, merged, state)
            timings["calibrate"] = time.perf_counter() - t0
            # 3. label: threshold, label per block, join regions across block edges
            t0 = time.perf_counter()
            lab_blocks = row_blocks(rows, block_rows)

            def label(b: RowBlock) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
                assert scratch is not None
                mask = meth.decide(scratch.read(b.row0, b.row1), state)
                scratch.raw_mask.write_rows(b.row0, mask.view("uint8"))
                lab, n = _label_block(mask)
                area = np.broadcast_to(area_rows[b.row0:b.row1], mask.shape)
                sums = ndimage.sum_labels(area, lab, np.arange(1, n + 1)) if n else np.zeros(0)
                return n, np.asarray(sums, "float64"), lab[0].copy(), lab[-1].copy()

            labelled = list(_ordered(pool, label, lab_blocks, 2 * threads))
            offsets = np.concatenate([[0], np.cumsum([r[0] for r in labelled])]).astype("int64")
            total = int(offsets[-1])
            edges = []
            for i in range(1, len(labelled)):
                pairs = _seam_edges(labelled[i - 1][3], labelled[i][2]).astype("int64")
                if pairs.size:
                    pairs[:, 0] += offsets[i - 1]
                    pairs[:, 1] += offsets[i]
                    edges.append(pairs)
            e = np.concatenate(edges) if edges else np.zeros((0, 2), "int64")
            graph = coo_matrix((np.ones(len(e)), (e[:, 0] - 1, e[:, 1] - 1)),
                               shape=(total, total))
            ncomp, comp = 0, np.zeros(0, "int64")
            if total:
                ncomp, comp = connected_components(graph, directed=False)
            comp_area = np.zeros(ncomp)
            if total:
                np.add.at(comp_area, comp, np.concatenate([r[1] for r in labelled]))
            keep = comp_area >= min_area_m2 if min_area_m2 > 0 else np.ones(ncomp, bool)
            # compact ids (1..K) of the kept regions, in order of first appearance
            kept_ids = np.zeros(ncomp, "int64")
            kept_labels = comp[keep[comp]]
            first = np.unique(kept_labels, return_index=True)[1]
            first_seen = kept_labels[np.sort(first)]
            kept_ids[first_seen] = np.arange(1, first_seen.size + 1)
            nkept = int(first_seen.size)
            del labelled
            timings["label"] = time.perf_counter() - t0
            # 4. trace: final mask, region pieces and statistics
            t0 = time.perf_counter()
            label_to_region = np.zeros(total + 1, "int64")
            if total:
                label_to_region[1:] = kept_ids[comp]

            def trace(b: RowBlock) -> dict[str, Any]:
                assert scratch is not None
                raw = scratch.raw_mask.read_rows(b.row0, b.row1).view(bool)
                lab, n = _label_block(raw)
                reg = label_to_region[np.where(lab > 0, lab + offsets[b.index], 0)]
                final = reg > 0
                valid = scratch.valid.read_rows(b.row0, b.row1).view(bool)
                m = final.astype("uint8")
                m[~valid] = 255
                scratch.final_mask.write_rows(b.row0, m)
                arrays = scratch.read(b.row0, b.row1)
                ids = np.unique(reg[final])
                res: dict[str, Any] = {"ids": ids, "pixels": int(final.sum())}
                if not ids.size:
                    return res
                area = np.broadcast_to(area_rows[b.row0:b.row1], final.shape)
                res["area"] = float(area[final].sum())
                idx = np.searchsorted(ids, reg[final])
                res["count"] = np.bincount(idx, minlength=ids.size)
                for k in ("magnitude", "probability"):
                    if k in arrays:
                        v = arrays[k][final].astype("float64")
                        ok = np.isfinite(v)
                        res[k] = (np.bincount(idx[ok], v[ok], minlength=ids.size),
                                  np.bincount(idx[ok], minlength=ids.size))
                if "change_type" in arrays:
                    ct = arrays["change_type"][final].astype("int64")
                    res["types"] = np.bincount(idx * _NTYPES + ct,
                                               minlength=ids.size * _NTYPES
                                               ).reshape(ids.size, _NTYPES)
                # pieces in pixel coordinates of the whole raster (exact integers), so the
                # pieces of a region cut by block edges join exactly
                t = Affine.translation(0, b.row0)
                pieces: dict[int, list[BaseGeometry]] = {}
                for geom, value in features.shapes(reg.astype("int32"), mask=final,
                                                   transform=t, connectivity=8):
                    pieces.setdefault(int(value), []).append(shape(geom))
                res["pieces"] = pieces
                return res

            acc = _RegionAccumulator(nkept, sorted(scratch.arrays))
            for res in _ordered(pool, trace, lab_blocks, 2 * threads):
                acc.add(res)
            timings["trace"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            dates = {"date_before": ",".join(reader.before.dates),
                     "date_after": ",".join(reader.after.dates)}
            regions = acc.regions(reader.transform, reader.crs, dates)
            timings["regions"] = time.perf_counter() - t0
            # 5. outputs
            t0 = time.perf_counter()
            paths = _write_outputs(out, reader, meth, state, scratch, regions, acc,
                                   min_area_m2, compress_level, threads)
            timings["write"] = time.perf_counter() - t0
    finally:
        if pool is not None:
            pool.shutdown()
        reader.close()
        if scratch is not None:
            scratch.close()
        shutil.rmtree(tmp_root, ignore_errors=True)
    timings["total"] = time.perf_counter() - t_start
    summary = json.loads(paths["summary"].read_text())
    log.info("%s blockwise: %d regions, %d changed pixels in %.1f s", meth.name, len(regions),
             acc.pixels, timings["total"])
    return BlockwiseResult(paths, regions, meth.params(state), acc.pixels, acc.area,
                           (rows, cols), {k: round(v, 3) for k, v in timings.items()}, summary)


class _RegionAccumulator:
    """Per-region sums and polygon pieces gathered block by block."""

    def __init__(self, n: int, arrays: Sequence[str]) -> None:
        self.n = n
        self.count = np.zeros(n + 1, "int64")
        self.sums = {k: (np.zeros(n + 1), np.zeros(n + 1, "int64"))
                     for k in ("magnitude", "probability") if k in arrays}
        self.types = np.zeros((n + 1, _NTYPES), "int64") if "change_type" in arrays else None
        self.pieces: dict[int, list[BaseGeometry]] = {}
        self.pixels = 0
        self.area = 0.0

    def add(self, res: dict[str, Any]) -> None:
        self.pixels += res["pixels"]
        ids = res["ids"]
        if not ids.size:
            return
        self.area += res["area"]
        self.count[ids] += res["count"]
        for k, (s, c) in self.sums.items():
            s[ids] += res[k][0]
            c[ids] += res[k][1]
        if self.types is not None:
            self.types[ids] += res["types"]
        for rid, geoms in res["pieces"].items():
            self.pieces.setdefault(rid, []).extend(geoms)

    def regions(self, transform: Affine, crs: str, extra: dict[str, Any]) -> list[Region]:
        gt = transform.to_gdal()

        def to_crs(xy: np.ndarray) -> np.ndarray:  # GDAL's order of operations, bit for bit
            col, row = xy[:, 0], xy[:, 1]
            return np.stack([gt[0] + col * gt[1] + row * gt[2],
                             gt[3] + col * gt[4] + row * gt[5]], axis=1)

        out = []
        for rid in range(1, self.n + 1):
            geoms = self.pieces.pop(rid)
            pix = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
            if len(geoms) > 1:
                pix = shapely.simplify(pix, 0)  # drop the vertices left on joined block edges
            geom = shapely.transform(pix, to_crs)
            g_ll = to_wgs84(geom, crs)
            c = g_ll.centroid
            stats: dict[str, Any] = dict(extra)
            with np.errstate(invalid="ignore", divide="ignore"):
                for k, (s, cnt) in self.sums.items():
                    stats[f"mean_{k}"] = float(s[rid] / cnt[rid])
            ctype = int(ChangeType.OTHER)
            if self.types is not None:
                h = self.types[rid].copy()
                h[0] = 0
                ctype = int(h.argmax()) if h.max() > 0 else int(ChangeType.OTHER)
            out.append(Region(rid, geom, g_ll, geodesic_area_m2(g_ll, "EPSG:4326"),
                              int(self.count[rid]), (c.x, c.y), ctype, stats))
        out.sort(key=lambda r: -r.area_m2)
        for i, r in enumerate(out, start=1):
            r.id = i
        return out


def _write_outputs(out: Path, reader: PairReader, meth: BlockMethod, state: dict[str, Any],
                   scratch: _Scratch, regions: list[Region], acc: _RegionAccumulator,
                   min_area_m2: float, level: int, threads: int) -> dict[str, Path]:
    b, a = reader.before, reader.after
    prov = b.provenance.merged(a.provenance)
    params = meth.params(state)
    prov = type(prov)(prov.source, prov.scene_ids,
                      {**prov.processing, "detector": meth.name,
                       "detector_params": {**params, "bands": list(reader.bands)}})
    dates = list(b.dates) + list(a.dates)
    common: dict[str, Any] = {"transform": reader.transform, "crs": reader.crs, "dates": dates,
              "provenance": prov, "level": level, "threads": max(threads, 1)}
    paths = {"change_mask": out / "change_mask.tif", "magnitude": out / "change_magnitude.tif",
             "changes": out / "changes.geojson", "summary": out / "summary.json"}
    scratch_to_cog([scratch.final_mask], paths["change_mask"], band_names=["change"],
                   nodata=255, overview_resampling="nearest", **common)
    scratch_to_cog([scratch.arrays["magnitude"]], paths["magnitude"], band_names=["magnitude"],
                   nodata=float("nan"), overview_resampling="average", **common)
    fc_props = {"scene_ids": list(prov.scene_ids), "dates": dates, "detector": meth.name,
                "attribution": copernicus_attribution(dates)}
    atomic_write_text(json.dumps(regions_to_geojson(regions, properties=fc_props),
                                 ensure_ascii=False) + "\n", paths["changes"])
    valid_area = 0.0
    rows = reader.shape[0]
    area_rows = pixel_area_m2(reader.transform, reader.crs, reader.shape)
    for blk in row_blocks(rows, 1024):
        v = scratch.valid.read_rows(blk.row0, blk.row1).view(bool)
        valid_area += float(np.broadcast_to(area_rows[blk.row0:blk.row1], v.shape)[v].sum())
    by_type: dict[str, float] = {}
    for r in regions:
        slug = ChangeType(r.change_type).slug
        by_type[slug] = by_type.get(slug, 0.0) + r.area_m2
    summary = {
        "sitewatch_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "inputs": {"before": b.path, "after": a.path},
        "before": {"dates": list(b.dates), "scene_ids": list(b.provenance.scene_ids),
                   "source": b.provenance.source, "processing": b.provenance.processing},
        "after": {"dates": list(a.dates), "scene_ids": list(a.provenance.scene_ids),
                  "source": a.provenance.source, "processing": a.provenance.processing},
        "grid": {"crs": reader.crs, "transform": list(reader.transform)[:6],
                 "width": reader.shape[1], "height": reader.shape[0]},
        "bands": list(reader.bands),
        "detector": {"method": meth.name, "params": params,
                     "threshold": params.get("threshold"), "min_area_m2": min_area_m2,
                     "blockwise": True},
        "results": {
            "changed_area_m2": round(acc.area, 1), "observed_area_m2": round(valid_area, 1),
            "changed_share": round(acc.area / valid_area, 6) if valid_area else None,
            "changed_pixels": acc.pixels, "regions": len(regions),
            "area_by_type_m2": {k: round(v, 1) for k, v in by_type.items()},
            "largest_regions": [r.properties() for r in regions[:5]],
        },
        "outputs": {k: p.name for k, p in paths.items()},
        "attribution": copernicus_attribution(dates),
    }
    atomic_write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
                      paths["summary"])
    return paths
