"""Timeline speed: 100 epochs of a 1000 x 1000 pixel site with 6 bands.

    python benchmarks/bench_timeline_speed.py [--epochs 100] [--size 1000] [--repeat 2]

The series is semi-synthetic (``sitewatch.detectors.timeline_synth`` on the
real OSCD Cupertino pair, mirrored out to 1000 x 1000 px; 30 % cloudy
observations), held in memory as 100 ``Epoch`` objects, as a fetch would leave
them. Timed: ``run_timeline`` end to end (detector threshold, noise, per-pixel
history, minimum mapping unit, date agreement, typing, events, progress table),
its per-pixel core alone, and writing every output. Acceptance: under 30 s on
this 2-core machine. The load average at the time of the run is reported: the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import OSCD_ROOT, best_of, peak_rss_mb, require_data, write_section  # noqa: E402
from timeline_series import quarterly_epochs  # noqa: E402

from sitewatch.detectors.timeline import (  # noqa: E402
    TimelineParams,
    estimate_noise_var,
    pixel_history,
)
from sitewatch.detectors.timeline_synth import semisynthetic_series  # noqa: E402
from sitewatch.imagery.oscd import read_oscd_labels, read_oscd_pair  # noqa: E402
from sitewatch.pipeline.timeline import run_timeline  # noqa: E402
from sitewatch.pipeline.timeline_outputs import write_timeline_outputs  # noqa: E402

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")


def mirror(a: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad the last two axes to at least ``size`` and crop to ``size``."""
    pad_r = max(0, size - a.shape[-2])
    pad_c = max(0, size - a.shape[-1])
    widths = [(0, 0)] * (a.ndim - 2) + [(0, pad_r), (0, pad_c)]
    return np.pad(a, widths, mode="reflect")[..., :size, :size]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    require_data(OSCD_ROOT)
    before, after = read_oscd_pair(OSCD_ROOT, "cupertino", bands=BANDS)
    lab = read_oscd_labels(OSCD_ROOT, "cupertino")
    assert lab is not None
    t0 = time.perf_counter()
    s = semisynthetic_series(mirror(before.data, args.size), mirror(after.data, args.size),
                             mirror(lab.data[0] == 1, args.size), epochs=args.epochs,
                             band_names=BANDS, cloud_share=0.3, seed=0)
    gen = time.perf_counter() - t0
    eps = quarterly_epochs(list(s.stack), before.transform, before.crs, BANDS,
                           start="2000-01-01")
    print(f"generated {args.epochs} x {len(BANDS)} x {args.size}^2 in {gen:.0f} s", flush=True)
    load0 = os.getloadavg()
    t_run, res = best_of(lambda: run_timeline(eps), repeat=args.repeat)
    print(f"run_timeline {t_run:.1f} s", flush=True)
    prm = TimelineParams(threshold=res.params["threshold"], noise_var=res.params["noise_var"],
                         persistence=res.params["persistence"])
    t_noise, _ = best_of(lambda: estimate_noise_var(s.stack, s.valid), repeat=args.repeat)
    t_core, _ = best_of(lambda: pixel_history(s.stack, prm, s.valid), repeat=args.repeat)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t_out, paths = best_of(lambda: write_timeline_outputs(res, tmp, command=["bench"]),
                               repeat=1)
    load1 = os.getloadavg()
    ok = t_run < 30
    cloudy = 100 * (1 - s.valid.mean())
    body = f"""
Site: {args.size} x {args.size} px ({args.size / 100:.0f} km x {args.size / 100:.0f} km at
10 m), {len(BANDS)} bands ({', '.join(BANDS)}), {args.epochs} epochs, {cloudy:.0f} % of
observations masked as cloud; semi-synthetic from the OSCD Cupertino pair (seed 0),
in memory as `Epoch` objects. Best of {args.repeat} runs; machine: {os.cpu_count()} cores,
load average {load0[0]:.1f} before and {load1[0]:.1f} after the timed runs (shared machine).

| step | time |
|---|---:|
| `run_timeline` end to end (threshold, noise, history, MMU, dates, types, events, \
table) | **{t_run:.1f} s** |
| of which the per-pixel history (`pixel_history`) | {t_core:.1f} s |
| noise estimate (`estimate_noise_var`) | {t_noise:.1f} s |
| writing every output (CSV, JSON, GeoJSON, COG, chart) | {t_out:.1f} s |

Result: {res.changed.sum():,} changed pixels in {len(res.events):,} events. Peak memory of the
benchmark process (stack of {s.stack.nbytes / 2**30:.1f} GiB included): {peak_rss_mb():,.0f} MB.
Acceptance (100 epochs, 1000 x 1000, 6 bands under 30 s): **{'met' if ok else 'NOT met'}**
({t_run:.1f} s).
"""
    write_section("timeline_speed", "Timeline: speed on 100 epochs of a 1000 x 1000 site",
                  body)


if __name__ == "__main__":
    main()
