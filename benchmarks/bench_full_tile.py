"""Full Sentinel-2 tile: end-to-end default detection with polygons vs. decoding alone.

Input: a 10980 x 10980 pair with the default detector's bands (the ten 10/20 m bands
of ``cnn``) as DEFLATE COGs (``tiledata.py``: real OSCD texture and changes,
deterministic). Each measurement runs in its own process,
so its peak RSS is its own:

- ``decode``: rasterio reads every pixel of every band of both files, by
  512-row windows (each internal tile decoded once), doing nothing else; three
  ways (one thread; two Python threads; GDAL's own 2 decoding threads) and the
  fastest is the baseline;
- ``detect``: :func:`sitewatch.pipeline.blockwise.detect_change_files` with the
  default detector and minimum mapping unit: change mask and magnitude COGs,
  polygons with areas as GeoJSON, summary - the whole job.

Rounds alternate decode and detect; the ratio is taken within a round. The
1-minute load average before each round, the CPU seconds of each measurement and
the CPU used by other processes during it are reported; a round disturbed by other
work (more than ``SITEWATCH_BENCH_MAX_FOREIGN`` cores of foreign CPU, default 0.2)
is repeated. On a machine that is never quiet, raise that limit and
``SITEWATCH_BENCH_MAX_LOAD`` (:mod:`quiet`): the table then says how busy it was.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import OSCD_ROOT, require_data, write_section  # noqa: E402
from quiet import Foreign, load_text, wait_for_quiet  # noqa: E402

ROUNDS = int(os.environ.get("SITEWATCH_BENCH_ROUNDS", 2))
MAX_FOREIGN = float(os.environ.get("SITEWATCH_BENCH_MAX_FOREIGN", 0.2))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _decode(paths: list[str], mode: str) -> dict[str, float]:
    import rasterio
    from rasterio.windows import Window

    def strips(path: str) -> list[tuple[str, int, int, int]]:
        with rasterio.open(path) as src:
            return [(path, r, min(512, src.height - r), src.width)
                    for r in range(0, src.height, 512)]

    jobs = [j for p in paths for j in strips(p)]
    env = {"GDAL_NUM_THREADS": "2"} if mode == "gdal2" else {}
    handles: dict[tuple[int, str], object] = {}
    total = 0

    def read(job: tuple[str, int, int, int]) -> int:
        import threading

        path, r0, h, w = job
        key = (threading.get_ident(), path)
        if key not in handles:
            handles[key] = rasterio.open(path)
        src = handles[key]
        return int(src.read(window=Window(0, r0, w, h)).size)  # type: ignore[attr-defined]

    t0 = time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20, **env):
        if mode == "threads2":
            with ThreadPoolExecutor(2) as pool:
                total = sum(pool.map(read, jobs))
        else:
            total = sum(map(read, jobs))
    seconds = time.perf_counter() - t0
    for h in handles.values():
        h.close()  # type: ignore[attr-defined]
    return {"seconds": seconds, "pixels": total}


def _detect(paths: list[str], out: str) -> dict[str, object]:
    from sitewatch.detectors.registry import DEFAULT_DETECTOR
    from sitewatch.pipeline.blockwise import detect_change_files

    t0 = time.perf_counter()
    res = detect_change_files(paths[0], paths[1], out, threads=2)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "method": DEFAULT_DETECTOR, "regions": res.regions,
            "changed_pixels": res.changed_pixels, "changed_area_km2": res.changed_area_m2 / 1e6,
            "timings": res.timings, "params": res.params, "fit_passes": res.fit_passes}


def child(argv: list[str]) -> None:
    what, paths = argv[0], argv[1:3]
    if what == "detect":
        out = _detect(paths, argv[3])
    else:
        out = _decode(paths, what)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_seconds"] = ru.ru_utime + ru.ru_stime
    out["peak_rss_mb"] = _rss_mb()
    print("RESULT " + json.dumps(out, default=str), flush=True)


def run_child(*args: str) -> dict[str, object]:
    with Foreign() as f:
        proc = subprocess.run([sys.executable, __file__, "--child", *args],
                              capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res: dict[str, object] = json.loads(line[7:])
    res["foreign_cores"] = round(f.cores(float(res["cpu_seconds"])), 3)  # type: ignore[arg-type]
    res["wall_seconds"] = round(f.wall, 2)
    return res


def _cpu_flags() -> list[str]:
    """The CPU model and its widest vector units (what ONNX Runtime's kernels use)."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return ["unknown CPU"]
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                  if ln.startswith("model name")), "unknown CPU")
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])
    return [model] + [f for f in ("avx2", "fma", "avx512f") if f in flags]


def main() -> None:
    from tiledata import BANDS, TILE, build_full_tile

    from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector

    # the 6 bands of the first issue, unless the default detector needs others
    bands = get_detector(DEFAULT_DETECTOR).bands or BANDS
    before, after = build_full_tile(require_data(OSCD_ROOT), bands=bands)
    paths = [str(before), str(after)]
    sizes = [os.path.getsize(p) / 2**20 for p in paths]
    for p in paths:  # the files in the page cache for every measurement alike
        with open(p, "rb") as fh:
            while fh.read(64 * 2**20):
                pass
    rounds = []
    attempts = 0
    while len(rounds) < ROUNDS and attempts < 3 * ROUNDS:
        attempts += 1
        load_before = wait_for_quiet()
        scratch = tempfile.mkdtemp(prefix="sitewatch-fulltile-", dir=HERE / ".data")
        try:
            dec = {m: run_child(m, *paths) for m in ("single", "threads2", "gdal2")}
            det = run_child("detect", *paths, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        foreign = max(float(r["foreign_cores"]) for r in [*dec.values(), det])  # type: ignore[arg-type]
        best = min(dec, key=lambda m: float(dec[m]["seconds"]))  # type: ignore[arg-type]
        rnd = {"load_before": load_before, "load_text": load_text(), "decode": dec, "best": best,
               "detect": det, "foreign": foreign,
               "ratio": float(det["seconds"]) / float(dec[best]["seconds"])}  # type: ignore[arg-type]
        print(json.dumps(rnd, default=str), flush=True)
        if foreign > MAX_FOREIGN:
            print(f"round disturbed by other work ({foreign:.2f} cores): repeating", flush=True)
            continue
        rounds.append(rnd)
    if not rounds:
        sys.exit("every round was disturbed by other work; not reporting")
    best_round = min(rounds, key=lambda r: r["ratio"])
    worst_round = max(rounds, key=lambda r: r["ratio"])
    lines = [
        f"Input: {TILE} x {TILE} px, {len(bands)} bands ({', '.join(bands)}), uint16, "
        f"DEFLATE COGs of {sizes[0]:.0f} + {sizes[1]:.0f} MiB (`benchmarks/tiledata.py`: "
        "OSCD texture and real changes tiled over the grid, 60 painted paving blobs).",
        "",
        "| round | load before (1/5/15 min) | decode: 1 thread / 2 threads / GDAL 2 threads (s) | "
        "detect end-to-end (s) | ratio | CPU s: detect / fastest decode | "
        "detect peak RSS (MB) | decode peak RSS (MB) | foreign CPU (cores) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        d = r["decode"]
        lines.append(
            f"| {i} | {r['load_text']} | {d['single']['seconds']:.1f} / "
            f"{d['threads2']['seconds']:.1f} / {d['gdal2']['seconds']:.1f} | "
            f"{r['detect']['seconds']:.1f} | **{r['ratio']:.2f}x** | "
            f"{r['detect']['cpu_seconds']:.1f} / {d[r['best']]['cpu_seconds']:.1f} | "
            f"{r['detect']['peak_rss_mb']:.0f} | {max(x['peak_rss_mb'] for x in d.values()):.0f} | "
            f"{r['foreign']:.2f} |")
    det = best_round["detect"]
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, cwd=HERE).stdout.strip()
    lines += [
        "",
        f"Commit {rev}; 2 cores ({', '.join(_cpu_flags())}); detection with "
        "`threads=2` (two blocks at once, one ONNX Runtime thread each).",
        f"Detector: `{det['method']}` ({json.dumps(det['params'], default=str)}), minimum "
        f"mapping unit 200 m²; {det['regions']:,} change regions, "
        f"{det['changed_area_km2']:.2f} km² changed.",
        f"Stages of the best round (s): {json.dumps(det['timings'])}.",
        "",
        f"**Result:** end-to-end detection with polygons takes {best_round['ratio']:.2f}x "
        f"(worst round {worst_round['ratio']:.2f}x) the time rasterio needs only to decode the "
        f"same inputs (fastest of the three decoders); target at most 5x (aim 3x). Peak RSS "
        f"{max(r['detect']['peak_rss_mb'] for r in rounds):.0f} MB (target under 2048 MB).",
    ]
    write_section("full_tile", "Full Sentinel-2 tile: blockwise detection vs decode-only",
                  "\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
