"""An OSCD city in memory: the default detector's time, alone and with regions (issue 18).

The labelled OSCD city closest to 0.5 Mpx (mumbai, 858 x 557), its ten 10/20 m
bands in memory (reading excluded): the detector alone (``get_detector(name)(before,
after)``: fit and apply on one block, the network on every core) and the whole
in-memory run (:func:`sitewatch.pipeline.detect_change`: detector, change types,
minimum mapping unit, polygons), best of 5 after one warm-up run (the model is
loaded once per process). Wall and CPU seconds and the load average are reported,
since the machine is shared.

Usage: ``python benchmarks/bench_city_speed.py [--detector NAME]`` (default: the
default detector) -> ``benchmarks/results/city_speed.md``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import OSCD_ROOT, require_data, write_section  # noqa: E402
from quiet import load_text  # noqa: E402


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def best_of(fn: Callable[[], object], n: int = 5) -> tuple[float, float]:
    """(best wall s, best CPU s) of ``n`` calls after a warm-up."""
    fn()
    walls, cpus = [], []
    for _ in range(n):
        c0, t0 = _cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return min(walls), min(cpus)


def main() -> int:
    from sitewatch.bands import S2_LAND_BANDS
    from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector
    from sitewatch.imagery.oscd import find_oscd_cities, read_oscd_pair
    from sitewatch.pipeline import detect_change

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    args = ap.parse_args()
    root = require_data(OSCD_ROOT)
    cities = find_oscd_cities(root, labelled_only=True)
    pairs = {c: read_oscd_pair(root, c, bands=S2_LAND_BANDS) for c in cities}
    city = min(pairs, key=lambda c: abs(pairs[c][0].height * pairs[c][0].width - 500_000))
    before, after = pairs[city]
    info = get_detector(args.detector)
    load0 = load_text()
    det = best_of(lambda: info(before.data, after.data, band_names=before.band_names))
    run = best_of(lambda: detect_change(before, after, method=args.detector))
    mpx = before.height * before.width / 1e6
    lines = [
        f"City: {city} ({before.height} x {before.width} = {mpx:.2f} Mpx, ten bands), arrays in "
        f"memory; detector `{args.detector}`; best of 5 after a warm-up; {os.cpu_count()} cores, "
        f"load average (1/5/15 min) {load0} before, {load_text()} after.",
        "",
        "| what | wall (s) | CPU (s) |",
        "|---|---|---|",
        f"| detector alone (fit + apply, one block) | **{det[0]:.3f}** | {det[1]:.3f} |",
        f"| `detect_change` (detector, change types, mapping unit, polygons) | {run[0]:.3f} | "
        f"{run[1]:.3f} |",
        "",
        "Target (issue 18): at most 0.5 s for the default detector on a 0.5 Mpx city.",
    ]
    write_section("city_speed", "An OSCD city in memory: default detector speed",
                  "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
