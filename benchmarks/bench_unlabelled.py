"""The default detector on the 10 unlabelled OSCD cities: is the flagged share plausible?

No label exists here, so no accuracy: the check is that the per-scene decision
flags a plausible share of each city it never saw (between 0.2 % and 10 % of the
valid pixels: OSCD's labelled cities have 0.3-4 % change), and how long it takes
per megapixel (I/O excluded). The shipped model and stacker never saw these
cities. Contains modified Copernicus Sentinel data 2015-2018.

Run: ``python benchmarks/bench_unlabelled.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import SHARED_DATA, require_data, write_section  # noqa: E402

from sitewatch.bands import S2_LAND_BANDS  # noqa: E402
from sitewatch.detectors.registry import DEFAULT_DETECTOR  # noqa: E402
from sitewatch.imagery.oscd import find_oscd_cities, read_oscd_pair  # noqa: E402
from sitewatch.pipeline.change import detect_change  # noqa: E402

ROOT = SHARED_DATA / "oscd-unlabelled"


def main() -> int:
    require_data(ROOT)
    rows, ok_count, shares = [], 0, []
    cities = find_oscd_cities(ROOT)
    for city in cities:
        before, after = read_oscd_pair(ROOT, city, bands=S2_LAND_BANDS)
        t0 = time.perf_counter()
        res = detect_change(before, after)
        dt = time.perf_counter() - t0
        cm = res.change
        valid = cm.valid if cm.valid is not None else np.ones(cm.mask.shape, bool)
        share = float(cm.mask[valid].mean())
        shares.append(share)
        ok = 0.002 <= share <= 0.10
        ok_count += ok
        mpx = valid.size / 1e6
        rows.append(f"| {city} | {mpx:.2f} | {100 * share:.2f}% | "
                    f"{100 * cm.params.get('expected_share', float('nan')):.2f}% | "
                    f"{len(res.regions)} | {dt:.2f} s ({dt / mpx:.2f} s/Mpx) | "
                    f"{'yes' if ok else 'NO'} |")
        print(rows[-1], flush=True)
    body = (f"Default detector `{DEFAULT_DETECTOR}` (shipped model and stacker), whole "
            "`detect_change` run (detector, minimum mapping unit, typing, polygons); I/O "
            "excluded.\n\n| city | Mpx | flagged | expected (sum of p) | regions | time | "
            "0.2-10 % |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\nFlagged share within 0.2-10 % in **{ok_count} of {len(cities)}** cities "
            f"(range {100 * min(shares):.2f}-{100 * max(shares):.2f}%).\n")
    write_section("unlabelled", "Default detector on the 10 unlabelled OSCD cities", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
