"""A site's timeline from epoch files too large for memory, read block by block.

:func:`timeline_files` gives the same :class:`~sitewatch.pipeline.timeline.TimelineResult`
as :func:`~sitewatch.pipeline.timeline.folder_timeline` on the output folder of
``sitewatch fetch`` (the tests check it), without ever holding the epoch stack
(``epochs x bands x 4`` bytes per pixel, 2.4 kB for 100 epochs of 6 bands) in memory:

1. **stack pass** - each row block of every epoch is read once: the per-epoch clear
   shares and clear-count histograms, the most clear observations of any pixel,
   every pixel's first and last clear observation (kept in scratch files) and the
   rows the noise estimate samples (the same rows as the in-memory path);
2. **decision rule** - the two-date detector is fitted block by block on the first and
   last clear observations (:func:`~sitewatch.pipeline.blockwise.fit_blocks`), giving
   the threshold; its change mask is summed for the two-date baseline;
3. **history pass** - :func:`~sitewatch.detectors.timeline.pixel_history` on each
   block of the stack (a per-pixel function), its per-pixel summaries kept: a few
   bytes per pixel in memory, the old and new mean spectra in scratch files;
4. the steps that look at regions (minimum mapping unit, date agreement, slivers,
   events) and the progress table run on those per-pixel maps, with the timeline's
   own functions; change types come block by block from the mean spectra.

Memory: the blocks of the stack in flight plus about 30 bytes per pixel.

Examples
--------
>>> import tempfile, numpy as np
>>> from sitewatch.imagery.epochs import save_epochs
>>> from sitewatch.pipeline.fetch import run_fetch
>>> from sitewatch.imagery.sources.sample import SampleSource
>>> src = SampleSource()
>>> folder = tempfile.mkdtemp()
>>> _ = run_fetch(src.site(), "2015-01-01", "2018-12-31", "year", source="sample",
...               bands=["B02", "B03", "B04", "B08", "B11"], cache=None, out=folder)
>>> tl = timeline_files(folder, block_rows=100)
>>> [e.label for e in tl.epochs], tl.changed.shape
(['2015', '2016', '2017', '2018'], (384, 384))
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from sitewatch.aoi.catalogue import site_from_feature
from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.detectors.base import check_pair
from sitewatch.detectors.timeline import (
    PixelHistory,
    TimelineParams,
    estimate_noise_var,
    first_last_clear,
    pixel_history,
)
from sitewatch.detectors.timeline_events import timeline_events
from sitewatch.detectors.timeline_progress import progress_arrays
from sitewatch.errors import DataError, DetectorError
from sitewatch.imagery.blocks import RowBlock, ScratchArray, StackReader, row_blocks
from sitewatch.imagery.epochs import MANIFEST, Epoch, EpochWindow, site_mask
from sitewatch.pipeline.blockwise import _ordered, fit_blocks
from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2
from sitewatch.pipeline.protocol import create_block_detector
from sitewatch.pipeline.timeline import (
    DEFAULT_PERSISTENCE_DAYS,
    TIMELINE_DETECTOR,
    TIMELINE_DETECTOR_PARAMS,
    EpochSummary,
    TimelineResult,
    _classify,
    epoch_days,
    relax_rules,
    screening_summary,
    settle_changes,
    timeline_bands,
)
from sitewatch.raster import pixel_area_m2

__all__ = ["timeline_files"]

log = logging.getLogger(__name__)

#: Settings of the noise estimate: those :func:`~sitewatch.detectors.timeline.estimate_noise_var`
#: uses by default (in-memory timelines), so both paths sample the same rows.
_NOISE_SAMPLE, _NOISE_SEED = (inspect.signature(estimate_noise_var).parameters[k].default
                              for k in ("sample", "seed"))


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise DataError(f"{folder} holds no {MANIFEST}: give the output folder of "
                        "`sitewatch fetch`")
    try:
        return dict(json.loads(path.read_text()))
    except json.JSONDecodeError as err:
        raise DataError(f"{path} is not valid JSON ({err.msg}): fetch again") from err


def _median_of_counts(hist: np.ndarray) -> float:
    """np.median of the integers a histogram counts (0 when empty)."""
    n = int(hist.sum())
    if n == 0:
        return 0.0
    cum = np.cumsum(hist)
    lo = int(np.searchsorted(cum, (n - 1) // 2, side="right"))
    hi = int(np.searchsorted(cum, n // 2, side="right"))
    return (lo + hi) / 2


def timeline_files(folder: str | os.PathLike[str], *, site: Site | None = None,
                   method: str = TIMELINE_DETECTOR, bands: Sequence[str] | None = None,
                   persistence_days: float = DEFAULT_PERSISTENCE_DAYS, min_before: int = 2,
                   z_min: float = 3.0,
                   min_share: float = 0.5, min_area_m2: float = DEFAULT_MIN_AREA_M2,
                   threshold: float | None = None, relax: bool = True, block_rows: int = 256,
                   threads: int = 2, scratch_dir: str | os.PathLike[str] | None = None
                   ) -> TimelineResult:
    """The timeline of the epochs of a ``sitewatch fetch`` folder, block by block.

    Parameters are those of :func:`sitewatch.pipeline.timeline.run_timeline`, plus:

    Parameters
    ----------
    folder : path-like
        Holds ``epochs.json`` and the epoch COGs.
    site : Site, optional
        Default: the one recorded in the manifest.
    block_rows : int
        Rows per block; memory grows with ``block_rows x cols x epochs x bands x threads``.
    threads : int
    scratch_dir : path-like, optional
        For the first/last observations and the mean spectra (default: the system's
        temporary folder).

    Returns
    -------
    TimelineResult
        Its ``history.before_state``/``after_state`` are read-only maps of files.
    """
    root = Path(folder)
    manifest = _manifest(root)
    if site is None and manifest.get("site"):
        site = site_from_feature(manifest["site"])
    items = manifest.get("epochs", [])
    epochs = [Epoch(EpochWindow(it["label"], it["start"], it["end"]), None,
                    np.zeros((0, 0), "uint16")) for it in items]
    days = _manifest_days(items)
    if len(epochs) < 3:
        raise DataError(f"a timeline needs at least 3 epochs, got {len(epochs)}: widen --from/"
                        "--to or use a shorter cadence (--every month)")
    comps = [None if not it.get("file") else root / it["file"] for it in items]
    counts = [None if not it.get("file") else root / it["clear_count_file"] for it in items]
    for p in [*comps, *counts]:
        if p is not None and not p.is_file():
            raise DataError(f"{p} named in {MANIFEST} is missing: fetch again")
    if not any(comps):
        raise DataError("every epoch is a gap (no clear observation): widen the dates or try "
                        "another source")
    stack, cc = StackReader(comps), StackReader(counts)
    present = [i for i, c in enumerate(comps) if c is not None]
    common = [b for b in stack.band_names(present[0])
              if all(b in stack.band_names(i) for i in present)]
    use = timeline_bands(method, bands, common)
    notes: list[str] = []
    rows, cols = shape = stack.shape
    transform, crs = stack.transform, stack.crs
    t, nb = len(epochs), len(use)
    area = np.broadcast_to(pixel_area_m2(transform, crs, shape), shape)
    inside = (site_mask(site, Grid(crs, transform, cols, rows)) if site is not None
              else np.ones(shape, bool))
    blocks = row_blocks(rows, block_rows)
    rng = np.random.default_rng(_NOISE_SEED)  # the rows estimate_noise_var samples
    noise_rows = np.sort(rng.choice(rows, size=min(rows, max(1, -(-_NOISE_SAMPLE // cols))),
                                    replace=False))
    tmp = Path(tempfile.mkdtemp(prefix="sitewatch-timeline-", dir=scratch_dir))
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    window = 2 * max(threads, 1)

    def read(b: RowBlock) -> tuple[list[np.ndarray | None], np.ndarray]:
        layers: list[np.ndarray | None] = []
        valid = np.zeros((t, b.height, cols), bool)
        for i in range(t):
            x = stack.read(i, b.row0, b.row1, use)
            layers.append(x)
            if x is None:
                continue
            ok = np.isfinite(x).all(axis=0) & inside[b.row0:b.row1]
            n = cc.read_raw(i, b.row0, b.row1)
            if n is not None:
                ok &= n > 0
            valid[i] = ok
        return layers, valid

    scratch = {k: [ScratchArray(tmp / f"{k}{j}.raw", shape, "float32") for j in range(nb)]
               for k in ("first", "last", "before_state", "after_state")}
    try:
        # 1. the stack pass
        def stack_pass(b: RowBlock) -> dict[str, Any]:
            layers, valid = read(b)
            first, last = first_last_clear(layers, valid, count=3)
            for j in range(nb):
                scratch["first"][j].write_rows(b.row0, first[j])
                scratch["last"][j].write_rows(b.row0, last[j])
            ins = inside[b.row0:b.row1]
            a = area[b.row0:b.row1]
            seen_area, hists = [], []
            for i in range(t):
                seen = valid[i] & ins
                seen_area.append(float(a[seen].sum()))
                n = cc.read_raw(i, b.row0, b.row1)
                hists.append(np.bincount(n[seen].astype("int64"), minlength=1)
                             if n is not None else np.zeros(1, "int64"))
            sel = noise_rows[(noise_rows >= b.row0) & (noise_rows < b.row1)] - b.row0
            return {"seen_area": seen_area, "hists": hists,
                    "max_clear": int(valid.sum(axis=0).max()) if valid.size else 0,
                    "pair_ok": int(np.isfinite(first).all(axis=0).sum()),
                    "seen": valid.any(axis=0),
                    "noise": ([None if x is None else x[:, sel] for x in layers],
                              valid[:, sel])}

        seen = np.zeros(shape, bool)
        seen_area = np.zeros(t)
        hists: list[np.ndarray] = [np.zeros(1, "int64") for _ in range(t)]
        max_clear = pair_ok = 0
        noise_layers: list[list[np.ndarray | None]] = []
        noise_valid: list[np.ndarray] = []
        for b, part in zip(blocks, _ordered(pool, stack_pass, blocks, window), strict=True):
            seen[b.row0:b.row1] = part["seen"]
            seen_area += part["seen_area"]
            for i, h in enumerate(part["hists"]):
                if h.size > hists[i].size:
                    h, hists[i] = h.copy(), np.pad(hists[i], (0, h.size - hists[i].size))
                hists[i][:h.size] += h
            max_clear = max(max_clear, part["max_clear"])
            pair_ok += part["pair_ok"]
            noise_layers.append(part["noise"][0])
            noise_valid.append(part["noise"][1])
        site_area = float(area[inside].sum()) or 1.0
        summaries = []
        for i, (e, it) in enumerate(zip(epochs, items, strict=True)):
            summaries.append(EpochSummary(
                i, e.label, e.window.start, e.window.end, comps[i] is None,
                tuple(s["id"] for s in it.get("scenes", [])), tuple(it.get("dates", ())),
                seen_area[i] / site_area,
                _median_of_counts(hists[i]) if hists[i].sum() else 0.0,
                screening_summary(it.get("screens", []))))
        if pair_ok < 2:
            raise DataError("no pixel of the site was seen clear in two epochs: a timeline "
                            "needs repeated clear views (widen the dates, or a shorter cadence)")
        # 2. the decision rule: the detector on every pixel's first and last clear view
        px = float(np.sqrt(np.median(area)))
        det = create_block_detector(method, band_names=use, pixel_size_m=px,
                                    **TIMELINE_DETECTOR_PARAMS)

        def first_last(r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
            return (np.stack([a.read_rows(r0, r1)[:, c0:c1] for a in scratch["first"]]),
                    np.stack([a.read_rows(r0, r1)[:, c0:c1] for a in scratch["last"]]))

        state = fit_blocks(det, first_last, blocks, cols, pool, window=window).state

        def two_date(b: RowBlock) -> tuple[float, float | None]:
            f, la, ok = check_pair(*first_last(b.row0, b.row1, 0, cols))
            cm = det.apply(state, f, la, ok)
            m = cm.mask & inside[b.row0:b.row1]
            return float(area[b.row0:b.row1][m].sum()), cm.threshold

        two = list(_ordered(pool, two_date, blocks, window))
        two_thr = two[0][1]
        thr = float(threshold) if threshold is not None else two_thr
        if thr is None or not np.isfinite(thr) or thr <= 0:
            raise DetectorError(f"detector {method} gave no usable threshold ({thr}): pass "
                                "threshold=")
        sub_layers = [None if any(x[i] is None for x in noise_layers) else
                      np.concatenate([x[i] for x in noise_layers], axis=1) for i in range(t)]
        noise = estimate_noise_var(sub_layers, np.concatenate(noise_valid, axis=1),
                                   sample=_NOISE_SAMPLE, seed=_NOISE_SEED)
        del noise_layers, noise_valid, sub_layers
        if relax:
            persistence_days, min_before = relax_rules(
                max_clear, persistence_days, min_before, notes, n_epochs=len(present),
                span_days=float(days[-1] - days[0]))
        prm = TimelineParams(threshold=thr, noise_var=noise, persistence_days=persistence_days,
                             min_before=min_before, z_min=z_min, min_share=min_share)
        # 3. the history pass
        hist = PixelHistory(
            changed=np.zeros(shape, bool), first_epoch=np.full(shape, -1, "int16"),
            last_unchanged=np.full(shape, -1, "int16"),
            magnitude=np.full(shape, np.nan, "float32"),
            zscore=np.full(shape, np.nan, "float32"), share=np.zeros(shape, "float32"),
            n_before=np.zeros(shape, "uint16"), n_after=np.zeros(shape, "uint16"),
            confidence=np.zeros(shape, "float32"), transients=np.zeros(shape, "uint16"),
            clear_count=np.zeros(shape, "uint16"), pending=np.zeros(shape, bool),
            before_state=np.zeros((0, 0, 0), "float32"),
            after_state=np.zeros((0, 0, 0), "float32"), seasonal=np.zeros(shape, bool),
            season_pairs=np.zeros(shape, "uint16"))
        small = [k for k in hist.__dataclass_fields__ if k not in ("before_state",
                                                                    "after_state")]

        def history(b: RowBlock) -> PixelHistory:
            layers, valid = read(b)
            h = pixel_history(layers, prm, valid, days=days)
            for j in range(nb):
                scratch["before_state"][j].write_rows(b.row0, h.before_state[j])
                scratch["after_state"][j].write_rows(b.row0, h.after_state[j])
            return h

        for b, h in zip(blocks, _ordered(pool, history, blocks, window), strict=True):
            for k in small:
                getattr(hist, k)[b.row0:b.row1] = getattr(h, k)
        stack.close()
        cc.close()
        # 4. types, seasons, regions, dates, events, progress
        ctype = np.zeros(shape, "uint8")
        for b in blocks:
            before_s = np.stack([a.read_rows(b.row0, b.row1) for a in scratch["before_state"]])
            after_s = np.stack([a.read_rows(b.row0, b.row1) for a in scratch["after_state"]])
            block_notes: list[str] = []
            ctype[b.row0:b.row1] = _classify(before_s, after_s, use,
                                             hist.changed[b.row0:b.row1], block_notes)
            notes += [n for n in block_notes if n not in notes]
        changed, date, ctype, seasonal = settle_changes(hist, ctype, area, use, min_area_m2,
                                                        float(days[-1] - days[0]), notes)
        events = timeline_events(date, transform, crs, last_unchanged=hist.last_unchanged,
                                 change_type=ctype, confidence=hist.confidence,
                                 magnitude=hist.magnitude)
        progress = progress_arrays(date, hist.first_epoch, hist.last_unchanged, ctype, area,
                                   t)
        hist.before_state = _states(scratch["before_state"], tmp, "before_state", shape)
        hist.after_state = _states(scratch["after_state"], tmp, "after_state", shape)
    finally:
        if pool is not None:
            pool.shutdown()
        stack.close()
        cc.close()
        for arrs in scratch.values():
            for a in arrs:
                a.close()
        shutil.rmtree(tmp, ignore_errors=True)  # the state maps stay readable until released
    provs = [p for p in (stack.provenance(i) for i in present) if p is not None]
    prov = provs[0].merged(*provs[1:])
    params = {"detector": method, "threshold": thr,
              "threshold_source": "given" if threshold is not None else
              f"{method} on the mean of each pixel's first and last three clear observations",
              **prm.to_dict(), "min_area_m2": min_area_m2, "bands": list(use)}
    two_info = {"detector": method, "threshold": two_thr,
                "changed_area_m2": round(float(sum(a for a, _ in two)), 1),
                "note": "the detector on the mean of each pixel's first and last three clear "
                        "observations, for comparison"}
    log.info("timeline (blocks): %d epochs, %.0f m² changed in %d events", t,
             float(area[changed].sum()), len(events))
    res = TimelineResult(summaries, transform, crs, shape, use, hist, changed, date, ctype,
                         events, progress, inside & seen, np.ascontiguousarray(area), params,
                         two_info, prov, site, notes, source_epochs=Path(folder))
    res.seasonal = seasonal & inside
    return res


def _manifest_days(items: Sequence[dict[str, Any]]) -> np.ndarray:
    """Each epoch's date in days, as :func:`~sitewatch.pipeline.timeline.epoch_days` gives it."""
    from sitewatch.raster import Provenance, Raster

    eps = []
    for it in items:
        w = EpochWindow(it["label"], it["start"], it["end"])
        r = None
        if it.get("dates"):
            r = Raster(np.zeros((1, 1, 1), "float32"), Affine.identity(), "EPSG:4326",
                       dates=tuple(it["dates"]), provenance=Provenance("manifest", ()))
        eps.append(Epoch(w, r, np.zeros((0, 0), "uint16")))
    return epoch_days(eps)


def _states(arrays: Sequence[ScratchArray], tmp: Path, name: str, shape: tuple[int, int]
            ) -> np.ndarray:
    """(B, M, N) read-only map of the per-band scratch files, joined into one file."""
    path = tmp / f"{name}.raw"
    with open(path, "wb") as fh:
        for a in arrays:
            for b in row_blocks(shape[0], 1024):
                fh.write(a.read_rows(b.row0, b.row1).tobytes())
    return np.memmap(path, dtype="float32", mode="r", shape=(len(arrays), *shape))
