"""Two-date change detection on rasters larger than memory, block by block.

:func:`detect_change_files` gives the same change mask, magnitude and regions as
:func:`sitewatch.pipeline.detect_change` on the whole arrays (the tests check it on a
raster small enough for both), while holding only a few row blocks in memory. It
drives a detector through its fit/apply protocol:

1. **fit** - passes over the pair, block by block: each block gives mergeable
   partial statistics (histograms, covariances), merged in block order; the detector
   turns the total into its global state (threshold, canonical weights) and asks
   for another pass or not. The first pass decodes each compressed tile of the files
   once, into scratch files (:meth:`~sitewatch.imagery.blocks.PairReader.enable_cache`),
   so halos, later passes and the apply pass do not decode the files again;
2. **apply** - each block (read with the detector's halo of context rows, which the
   fit passes also get but do not count) gives its change mask, magnitude,
   probability and change type; they go to scratch files, and the mask is labelled;
3. **regions** - labels that touch across block edges are joined, the minimum
   mapping unit is decided on each region's whole area, and the regions are traced
   and streamed to GeoJSON (:class:`~sitewatch.pipeline.blockregions.RegionTracer`);
4. **outputs** - mask and magnitude COGs, ``changes.geojson``, ``summary.json``.

Blocks run on ``threads`` threads (rasterio decoding and numpy release the GIL).

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
>>> res.shape, res.regions > 10, sorted(res.paths)
((384, 384), True, ['change_mask', 'changes', 'magnitude', 'summary'])
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import rasterio

from sitewatch._version import __version__
from sitewatch.atomic import atomic_write_text
from sitewatch.attribution import copernicus_attribution
from sitewatch.detectors.base import (
    MAX_PASSES,
    Detector,
    available_cores,
    check_pair,
    fit_sample_windows,
)
from sitewatch.detectors.partial import Partial, merge_partials
from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector, resolve_detector
from sitewatch.detectors.sampling import FitWindow, sample_is_usable, sample_record
from sitewatch.errors import DetectorError
from sitewatch.imagery.blocks import (
    PairReader,
    RowBlock,
    ScratchArray,
    file_tile_rows,
    row_blocks,
    scratch_to_cog,
)
from sitewatch.pipeline.blockregions import RegionTracer
from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2, MIN_AREA
from sitewatch.pipeline.protocol import apply_block, create_block_detector
from sitewatch.raster import Provenance, pixel_area_m2
from sitewatch.types import ChangeMap

__all__ = ["BlockwiseResult", "FitResult", "detect_change_files", "detect_change_arrays",
           "fit_blocks"]

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


@dataclass
class BlockwiseResult:
    """What :func:`detect_change_files` produced.

    Attributes
    ----------
    paths : dict
        Output name -> path (``change_mask``, ``magnitude``, ``changes``, ``summary``).
    regions : int
        Number of change regions (all in ``paths["changes"]``, largest first).
    largest : list of dict
        Properties of the five largest regions.
    params : dict
        The detector's parameters, including its fitted threshold.
    threshold : float or None
    changed_pixels : int
    changed_area_m2 : float
    shape : (rows, cols)
    fit_passes : int
        Passes over the pair before the apply pass.
    fit_sample : dict
        The pixels the fit passes saw: every pixel, or a spatial sample of a large
        raster (:func:`~sitewatch.detectors.sampling.sample_record`).
    timings : dict
        Seconds per stage.
    summary : dict
        What ``summary.json`` holds.
    """

    paths: dict[str, Path]
    regions: int
    largest: list[dict[str, Any]]
    params: dict[str, Any]
    threshold: float | None
    changed_pixels: int
    changed_area_m2: float
    shape: tuple[int, int]
    fit_passes: int
    fit_sample: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def _ordered(pool: ThreadPoolExecutor | None, fn: Callable[[U], T],
             blocks: Sequence[U], window: int,
             tick: Callable[[int, int], None] | None = None) -> Iterator[T]:
    """``fn`` over blocks, results in block order, at most ``window`` blocks in flight;
    ``tick(done, total)`` after each block."""
    total = len(blocks)
    if pool is None:
        for i, b in enumerate(blocks):
            res = fn(b)
            if tick is not None:
                tick(i + 1, total)
            yield res
        return
    futs = [pool.submit(fn, b) for b in blocks[:window]]
    for i in range(total):
        res = futs[i].result()
        futs[i] = None  # type: ignore[call-overload]
        if i + window < total:
            futs.append(pool.submit(fn, blocks[i + window]))
        if tick is not None:
            tick(i + 1, total)
        yield res


BlockReader = Callable[[RowBlock], tuple[np.ndarray, np.ndarray]]
#: ``progress(stage, done, total)``.
ProgressFn = Callable[[str, int, int], None]


def _stage(progress: ProgressFn | None, stage: str) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def _shares_memory(part: Partial | None, arrays: Sequence[np.ndarray]) -> bool:
    if part is None:
        return False
    mine = [*part.sums.values(), *part.mins.values(), *part.maxs.values()]
    return any(np.may_share_memory(x, a) for x in mine for a in arrays)


#: ``read(row0, row1, col0, col1)``: (before, after) float32 (B, rows, cols) of a window.
WindowReader = Callable[[int, int, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class FitResult:
    """What :func:`fit_blocks` fitted.

    Attributes
    ----------
    state : dict
        The detector's fitted state.
    passes : int
        Passes made.
    sample : dict
        The pixels the fit saw (:func:`~sitewatch.detectors.sampling.sample_record`).
    """

    state: dict[str, Any]
    passes: int
    sample: dict[str, Any]


def _row_windows(det: Detector, blocks: Sequence[RowBlock], cols: int) -> list[FitWindow]:
    """The row blocks as fit windows, with the statistics' context rows only."""
    ctx = det.halo if det.stats_halo is None else int(det.stats_halo)
    return [FitWindow(b.row0, b.row1, 0, cols, max(b.read0, b.row0 - ctx),
                      min(b.read1, b.row1 + ctx), 0, cols) for b in blocks]


def fit_blocks(det: Detector, read: WindowReader, blocks: Sequence[RowBlock], cols: int,
               pool: ThreadPoolExecutor | None, *, window: int = 4,
               max_passes: int = MAX_PASSES,
               recycle: Callable[..., None] | None = None,
               progress: ProgressFn | None = None,
               spill: str | os.PathLike[str] | None = None) -> FitResult:
    """Fit a detector pass by pass over blocks, or over a sample of a large raster.

    The same as :meth:`sitewatch.detectors.base.Detector.run`'s fit: on a raster of
    more than 8192 x 8192 pixels the passes read the sample windows of
    :func:`~sitewatch.detectors.base.fit_sample_windows` (every pixel if the sample is
    mostly invalid), else every block; partials are merged in window order, and the
    windows are read (and their statistics computed) on the pool's threads. Context
    rows/cols (:attr:`~sitewatch.detectors.base.Detector.stats_halo` of them) are read
    but never counted. ``recycle``, if given, gets a window's arrays back once its
    statistics no longer need them (:meth:`~sitewatch.imagery.blocks.PairReader.recycle`).
    From the second pass on, a sample is kept instead of being read again: in memory,
    or in ``spill`` (a scratch folder; the sample of a Sentinel-2 tile is 1.8 GB as
    float32) and read back from there. Each window's valid mask is the same array in
    every pass, so a detector may keep what it derived from a window for the next pass
    (``fit_memo``, a context manager the detector may have: the passes on a kept
    sample run inside it).
    """
    rows = blocks[-1].row1 if blocks else 0
    sample = fit_sample_windows(det, rows, cols)
    units = sample if sample is not None else _row_windows(det, blocks, cols)
    kept: dict[int, tuple[Any, Any, np.ndarray]] = {}
    state = det.initial_state()
    passes = seen = 0
    with contextlib.ExitStack() as memo:
        while not det.fit_done(state):
            if passes >= max_passes:
                raise DetectorError(f"{det.name}: fit did not finish in {max_passes} passes")
            keep = sample is not None and passes > 0
            fit_memo = getattr(det, "fit_memo", None)
            if keep and passes == 1 and fit_memo is not None:
                memo.enter_context(fit_memo())

            def stats(i: int, st: dict[str, Any] = state, units: list[FitWindow] = units,
                      keep: bool = keep) -> tuple[Partial | None, int]:
                w = units[i]
                if i in kept:
                    bef, aft, ok = kept[i]
                    if spill is not None:
                        bef, aft = np.load(bef), np.load(aft)
                else:
                    pair = read(w.read0, w.read1, w.cread0, w.cread1)
                    core = np.zeros(pair[0].shape[1:], bool)
                    core[w.core] = True
                    bef, aft, ok = check_pair(*pair, core)
                n = int(ok.sum())
                part = det.block_stats(st, bef, aft, ok) if n else None
                if keep and i not in kept:
                    if spill is None:
                        kept[i] = (bef, aft, ok)
                    else:
                        names = [Path(spill) / f"fit-sample-{i}-{d}.npy" for d in "ba"]
                        np.save(names[0], bef)
                        np.save(names[1], aft)
                        kept[i] = (names[0], names[1], ok)
                if not keep and recycle is not None and not _shares_memory(part, (bef, aft)):
                    recycle(bef, aft)
                return part, n

            stage = f"fit pass {passes + 1}"
            tick = None if progress is None else \
                (lambda done, total, stage=stage: progress(stage, done, total))
            parts = list(_ordered(pool, stats, range(len(units)), window, tick))
            seen = sum(n for _, n in parts)
            if passes == 0 and sample is not None and not sample_is_usable(seen, sample):
                log.info("%s: the fit sample is mostly cloud or no-data: fitting on every "
                         "pixel", det.name)
                sample, units = None, _row_windows(det, blocks, cols)
                continue
            state = det.end_pass(state, merge_partials(p for p, _ in parts))
            passes += 1
            state["pass"] = state.get("pass", 0) + 1
    for bef, aft, _ in kept.values():
        if spill is not None:
            os.unlink(bef)
            os.unlink(aft)
    kept.clear()
    return FitResult(state, passes, sample_record(sample, seen, rows, cols))


def _threads_per_block(threads: int) -> int:
    """Threads a detector may use inside one block when ``threads`` blocks run at once.

    With two blocks at once on two cores, one ONNX Runtime thread each: no runtime
    thread waits for a core the other block holds, and nothing spins (on a 2048-row
    crop of the full tile, under a load of 16-19, one and two threads per block were
    within the noise: 22-23 CPU-s either way); a single block thread gives the
    network every core.
    """
    return max(1, available_cores() // max(1, threads))


def _aligned_blocks(det: Detector, rows: int, block_rows: int) -> list[RowBlock]:
    align = max(1, int(det.block_align))  # pooling grids: block offsets multiples of this
    block_rows = -(-block_rows // align) * align
    halo = -(-int(det.halo) // align) * align
    return row_blocks(rows, block_rows, halo=halo)


def detect_change_arrays(before: np.ndarray, after: np.ndarray, *, method: str | None = None,
                         valid: np.ndarray | None = None, band_names: Sequence[str] = (),
                         pixel_size_m: float = 10.0, block_pixels: int = 65536,
                         threads: int = 2, **params: Any) -> ChangeMap:
    """A detector on whole (B, M, N) arrays, computed block by block on ``threads`` threads.

    The same change map as the detector's in-memory path
    (``get_detector(method)(before, after, ...)``), but each pass works on blocks of
    about ``block_pixels`` pixels (cache-sized) spread over threads.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> b = rng.normal(0.2, 0.02, (4, 60, 50)).astype("float32"); a = b.copy()
    >>> a[:, 10:20, 10:20] += 0.3
    >>> cm = detect_change_arrays(b, a, method="cva", block_pixels=500)
    >>> whole = get_detector("cva")(b, a)
    >>> bool((cm.mask == whole.mask).all()), cm.threshold == whole.threshold
    (True, True)
    """
    if method is None and band_names:  # the default, or its fallback for these bands (logged)
        info, params = resolve_detector(None, tuple(band_names), params)
    else:
        info = get_detector(method or DEFAULT_DETECTOR)
    name = info.name
    det = create_block_detector(name, band_names=tuple(band_names) or info.bands,
                                pixel_size_m=pixel_size_m, **params)
    det.threads = _threads_per_block(threads)
    b, a, ok = check_pair(before, after, valid)
    if not ok.any():
        raise DetectorError("no pixel is valid on both dates: every pixel is cloud or no-data")
    rows, cols = ok.shape
    blocks = _aligned_blocks(det, rows, max(1, block_pixels // cols))

    def read(r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        r, c = slice(r0, r1), slice(c0, c1)
        bb, aa = b[:, r, c], a[:, r, c]
        miss = ~ok[r, c]
        if miss.any():  # the caller's valid mask, as NaN (check_pair reads it back)
            bb, aa = bb.copy(), aa.copy()
            bb[:, miss] = np.nan
        return bb, aa

    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        fit = fit_blocks(det, read, blocks, cols, pool, window=2 * threads)

        def apply(blk: RowBlock) -> ChangeMap:
            return det.apply(fit.state, *read(blk.read0, blk.read1, 0, cols))

        parts = list(_ordered(pool, apply, blocks, 2 * threads))
    finally:
        if pool is not None:
            pool.shutdown()

    def stitch(field: str) -> np.ndarray | None:
        arrs = [getattr(cm, field) for cm in parts]
        if any(x is None for x in arrs):
            return None
        return np.concatenate([x[blk.core] for x, blk in zip(arrs, blocks, strict=True)])

    first = parts[0]
    mag, mask = stitch("magnitude"), stitch("mask")
    assert mag is not None and mask is not None
    return ChangeMap(magnitude=mag, mask=mask, method=first.method,
                     probability=stitch("probability"), change_type=stitch("change_type"),
                     valid=stitch("valid"), threshold=first.threshold, params=first.params,
                     fit_sample=fit.sample)


def _scratch_dtypes(cm_fields: Sequence[str]) -> dict[str, str]:
    types = {"magnitude": "float32", "probability": "float32", "change_type": "uint8"}
    return {k: types[k] for k in cm_fields}


def detect_change_files(before: str | os.PathLike[str], after: str | os.PathLike[str],
                        out_dir: str | os.PathLike[str], *, method: str | None = None,
                        min_area_m2: float = DEFAULT_MIN_AREA_M2,
                        bands: Sequence[str] | None = None, block_rows: int | None = None,
                        threads: int = 2, scratch_dir: str | os.PathLike[str] | None = None,
                        compress_level: int = 1, progress: ProgressFn | None = None,
                        **params: Any) -> BlockwiseResult:
    """Detect change between two large raster files in bounded memory.

    Parameters
    ----------
    before, after : path-like
        GeoTIFFs (e.g. COGs) on one grid; integer pixels are reflectance x 10000
        (or the file's ``scale`` attribute); no-data and masked pixels are missing.
    out_dir : path-like
        Receives ``change_mask.tif``, ``change_magnitude.tif``, ``changes.geojson``
        and ``summary.json`` (the files
        :func:`~sitewatch.pipeline.outputs.write_change_outputs` writes, but the figure).
    method : str, optional
        Detector name (default: the default detector, or its fallback when the files
        lack its bands: :func:`~sitewatch.detectors.registry.resolve_detector`).
    min_area_m2 : float
        Minimum mapping unit: smaller regions are dropped from mask and polygons.
    bands : sequence of str, optional
        Bands to use (default: the detector's, else every band both files have).
    block_rows : int, optional
        Rows per block (default: half the files' tile height, 256 for COGs). Memory
        grows with ``block_rows x columns x bands x threads``.
    threads : int
        Blocks processed at once.
    scratch_dir : path-like, optional
        Where intermediate arrays live (default: a temporary folder in ``out_dir``):
        about 11 bytes per pixel, plus the decoded pair when the detector needs more
        than one pass, plus the fit sample of a large raster when the detector fits in
        more than one pass (8 bytes per band per sampled pixel with its context: 1.8 GB
        for `fused` on a Sentinel-2 tile).
    compress_level : int
        DEFLATE level of the output COGs (1: fast; the pixels are the same at any level).
    progress : callable, optional
        ``progress(stage, done, total)`` per block: ``fit pass N``, ``apply``, ``regions``.
    **params
        The detector's own parameters (e.g. ``threshold=``).

    Returns
    -------
    BlockwiseResult
    """
    min_area_m2 = MIN_AREA.coerce(min_area_m2)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    # the default detector falls back to one the files' bands can feed (logged)
    have = bands or (PairReader(before, after).bands if method is None else ())
    info, params = resolve_detector(method, have, params)
    name = info.name
    reader = PairReader(before, after, bands=bands or (info.bands or None))
    rows, cols = reader.shape
    res_m = float(np.sqrt(np.median(pixel_area_m2(reader.transform, reader.crs, reader.shape))))
    det = create_block_detector(name, band_names=reader.bands, pixel_size_m=res_m, **params)
    det.threads = _threads_per_block(threads)
    blocks = _aligned_blocks(det, rows, block_rows or max(1, file_tile_rows(before) // 2))
    block_rows = blocks[0].height
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".sitewatch-blocks-",
                                dir=scratch_dir if scratch_dir is not None else out))
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    window = 2 * max(threads, 1)
    scratch: dict[str, ScratchArray] = {}
    try:
        # with fit passes, the reader decodes every file tile once, into scratch (whole
        # tile rows: GDAL's cache has nothing to keep); with none, blocks are read as
        # they come and GDAL's cache keeps the tiles a block shares with the next
        # (blocks smaller than tiles, halos). GDAL decodes on `threads` threads too.
        cached = not det.fit_done(det.initial_state())
        if cached:
            reader.enable_cache(tmp)
        with rasterio.Env(GDAL_CACHEMAX=(64 if cached else 384) * 2**20,
                          GDAL_NUM_THREADS=str(max(threads, 1))):
            # 1. fit passes
            fit = fit_blocks(det, reader.read_window, blocks, cols, pool, window=window,
                             recycle=reader.recycle, progress=progress, spill=tmp)
            state, passes = fit.state, fit.passes
            timings["fit"] = time.perf_counter() - t_start
            # 2. apply pass: per-pixel arrays to scratch, mask labelled as it comes
            t0 = time.perf_counter()
            tracer = RegionTracer(reader.transform, reader.crs, reader.shape,
                                  min_area_m2=min_area_m2, scratch=tmp,
                                  extra={"date_before": ",".join(reader.before.dates),
                                         "date_after": ",".join(reader.after.dates)})
            for k in ("valid", "mask0", "mask"):
                scratch[k] = ScratchArray(tmp / f"{k}.raw", (rows, cols), "uint8")
            fields = ("magnitude", "probability", "change_type")
            for k, dt in _scratch_dtypes(fields).items():  # sparse files: free until written
                scratch[k] = ScratchArray(tmp / f"{k}.raw", (rows, cols), dt)
            # fields written to scratch; fields that are the magnitude array itself
            last: dict[str, Any] = {"fields": set(), "alias": set()}

            def apply(b: RowBlock) -> Any:
                pair = reader.read(b)
                # the detector validates the pair (missing pixels are NaN) and says which
                # pixels were valid: no second pass over the bands here
                cm = apply_block(det, state, *pair)
                ok = cm.valid if cm.valid is not None else check_pair(*pair)[2]
                core = b.core
                for k in fields:
                    arr = getattr(cm, k)
                    if arr is None:
                        continue
                    if k != "magnitude" and arr is cm.magnitude:  # one array (cnn, fused)
                        last["alias"].add(k)
                    else:
                        scratch[k].write_rows(b.row0, arr[core])
                        last["fields"].add(k)
                mask = np.asarray(cm.mask[core], bool)
                scratch["mask0"].write_rows(b.row0, mask)
                scratch["valid"].write_rows(b.row0, np.asarray(ok[core], bool))
                last["params"], last["threshold"] = cm.params, cm.threshold
                labels = tracer.label_block(b, mask)
                del cm, ok
                reader.recycle(*pair)  # everything made of it is in the scratch files now
                return labels

            label_infos = list(_ordered(pool, apply, blocks, window, _stage(progress,
                                                                            "apply")))
            reader.close()
            timings["apply"] = time.perf_counter() - t0
            # 3. regions across blocks
            t0 = time.perf_counter()
            tracer.link(label_infos)
            del label_infos
            plain = row_blocks(rows, block_rows)

            def trace(b: RowBlock) -> Any:
                mask = scratch["mask0"].read_rows(b.row0, b.row1).view(bool)
                arrays = {k: scratch[k].read_rows(b.row0, b.row1) for k in last["fields"]}
                arrays.update({k: arrays["magnitude"] for k in last["alias"]})
                final, regs = tracer.trace_block(b, mask, arrays)
                m = final.view("uint8").copy()
                m[~scratch["valid"].read_rows(b.row0, b.row1).view(bool)] = 255
                scratch["mask"].write_rows(b.row0, m)
                return regs

            for b, regs in zip(plain, _ordered(pool, trace, plain, window,
                                               _stage(progress, "regions")), strict=True):
                tracer.add(b.index, regs)
            timings["regions"] = time.perf_counter() - t0
            # 4. outputs
            t0 = time.perf_counter()
            paths, summary = _write_outputs(out, reader, name, last, tracer, scratch,
                                            min_area_m2, compress_level, threads, passes,
                                            fit.sample)
            timings["write"] = time.perf_counter() - t0
    finally:
        if pool is not None:
            pool.shutdown()
        reader.close()
        for a in scratch.values():
            a.close()
        shutil.rmtree(tmp, ignore_errors=True)
    timings["total"] = time.perf_counter() - t_start
    log.info("%s blockwise: %d regions, %d changed pixels, %d fit passes, %.1f s", name,
             summary["results"]["regions"], tracer.pixels, passes, timings["total"])
    return BlockwiseResult(paths, summary["results"]["regions"], tracer.largest,
                           last.get("params", {}), last.get("threshold"), tracer.pixels,
                           tracer.area, (rows, cols), passes, fit.sample,
                           {k: round(v, 3) for k, v in timings.items()}, summary)


def _write_outputs(out: Path, reader: PairReader, name: str, last: dict[str, Any],
                   tracer: RegionTracer, scratch: dict[str, ScratchArray], min_area_m2: float,
                   level: int, threads: int, passes: int, fit_sample: dict[str, Any]
                   ) -> tuple[dict[str, Path], dict[str, Any]]:
    b, a = reader.before, reader.after
    prov = b.provenance.merged(a.provenance)
    params = dict(last.get("params", {}))
    prov = Provenance(prov.source, prov.scene_ids,
                      {**prov.processing, "detector": name, "detector_params": params,
                       "fit_sample": fit_sample})
    dates = list(b.dates) + list(a.dates)
    common: dict[str, Any] = {"transform": reader.transform, "crs": reader.crs,
                              "dates": dates, "provenance": prov, "level": level,
                              "threads": max(threads, 1)}
    paths = {"change_mask": out / "change_mask.tif", "magnitude": out / "change_magnitude.tif",
             "changes": out / "changes.geojson", "summary": out / "summary.json"}
    scratch_to_cog([scratch["mask"]], paths["change_mask"], band_names=["change"], nodata=255,
                   overview_resampling="nearest", **common)
    scratch_to_cog([scratch["magnitude"]], paths["magnitude"], band_names=["magnitude"],
                   nodata=float("nan"), overview_resampling="average", **common)
    facts = tracer.write_geojson(
        paths["changes"], properties={"scene_ids": list(prov.scene_ids), "dates": dates,
                                      "detector": name,
                                      "attribution": copernicus_attribution(dates)})
    observed = 0.0
    for blk in row_blocks(reader.shape[0], 1024):
        v = scratch["valid"].read_rows(blk.row0, blk.row1).view(bool)
        observed += float(np.broadcast_to(tracer.pixel_area[blk.row0:blk.row1], v.shape)[v].sum())
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
        "detector": {"method": name, "params": params, "threshold": last.get("threshold"),
                     "min_area_m2": min_area_m2, "blockwise": True, "fit_passes": passes,
                     "fit_sample": fit_sample},
        "results": {
            "changed_area_m2": round(tracer.area, 1), "observed_area_m2": round(observed, 1),
            "changed_share": round(tracer.area / observed, 6) if observed else None,
            "changed_pixels": tracer.pixels, "regions": facts["regions"],
            "largest_regions": facts["largest"],
        },
        "outputs": {k: p.name for k, p in paths.items()},
        "attribution": copernicus_attribution(dates),
    }
    atomic_write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
                      paths["summary"])
    return paths, summary

