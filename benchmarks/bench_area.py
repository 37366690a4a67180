"""Areas on semi-synthetic sites: the default detector's region areas against known truth.

For each labelled OSCD city, ``--regions`` new surfaces of known area (2,000 to
30,000 m², rotated rectangles and ellipses with sub-pixel edges, 20 m bands mixed
at 20 m: :func:`sitewatch.detectors.pair_synth.semisynthetic_pair`) are pasted
into the real after image, away from the labelled real change; each takes the
after-date spectrum of a pixel of the city's labelled change that changed clearly
(robust-z change magnitude in the top half of the labelled pixels). The default
detector runs end to end (:func:`sitewatch.pipeline.detect_change`, minimum
mapping unit included) with the city's fold network and stacker (never trained on
the city). A pasted region's measured area is the area of the detected regions
that cover it, within ``margin_px`` of it (so real change elsewhere is not counted).

Reported: each region's relative error, the share within +-10 %, the median
absolute error, and the same for the raw detector mask (no edge unmixing) to show
the boundary bias it removes. Labels used to pick spectra and avoid real change:
OSCD, CC BY-NC-SA 4.0 (Daudt et al. 2018). Contains modified Copernicus Sentinel
data 2015-2018.

Run: ``python benchmarks/bench_area.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import OSCD_ROOT, require_data, write_section  # noqa: E402

from sitewatch.bands import S2_LAND_BANDS  # noqa: E402
from sitewatch.detectors.context import change_magnitude  # noqa: E402
from sitewatch.detectors.learned import pair_stats, reflectance_partial, standardize  # noqa: E402
from sitewatch.detectors.pair_synth import semisynthetic_pair  # noqa: E402
from sitewatch.detectors.registry import DEFAULT_DETECTOR  # noqa: E402
from sitewatch.imagery.oscd import find_oscd_cities, read_oscd_labels, read_oscd_pair  # noqa: E402
from sitewatch.pipeline.change import detect_change  # noqa: E402

MODELS = HERE / "models"
MARGIN_PX = 4


def strong_change(before: np.ndarray, after: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Labelled change pixels whose robust-z change magnitude is in the top half of the label's."""
    ok = np.isfinite(before).all(0) & np.isfinite(after).all(0)
    st = pair_stats(reflectance_partial(before, after, ok), "bench_area")
    zs = [standardize(before, *st["stats_before"]), standardize(after, *st["stats_after"])]
    m = change_magnitude(*zs)
    sel = label & ok
    return sel & (m >= np.median(m[sel]))


def measure(pair, mask: np.ndarray, px_m2: float) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """(true m², measured m²) per pasted region."""
    lab, _ = ndimage.label(mask, np.ones((3, 3), bool))
    out = []
    for r in pair.regions:
        mine = pair.region_id == r.index
        near = ndimage.binary_dilation(mine, iterations=MARGIN_PX)
        ids = np.unique(lab[mine & (lab > 0)])
        hit = np.isin(lab, ids[ids > 0]) & near
        out.append((r.area_m2, float(hit.sum()) * px_m2))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regions", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--contrast", type=float, default=1.0,
                    help="least contrast of a new surface against what it covers (RMS over "
                         "bands, in each band's interquartile ranges)")
    ap.add_argument("--cities", default=None, help="comma-separated (default: all labelled)")
    args = ap.parse_args()
    require_data(OSCD_ROOT)
    t0 = time.perf_counter()
    rows, refined, raw = [], [], []
    cities = find_oscd_cities(OSCD_ROOT, labelled_only=True)
    for i, city in enumerate(cities):
        if args.cities and city not in args.cities.split(","):
            continue
        before, after = read_oscd_pair(OSCD_ROOT, city, bands=S2_LAND_BANDS)
        lab = read_oscd_labels(OSCD_ROOT, city)
        assert lab is not None
        label = lab.data[0] == 1
        pair = semisynthetic_pair(before.data, after.data, S2_LAND_BANDS,
                                  source=strong_change(before.data, after.data, label),
                                  avoid=label, n_regions=args.regions,
                                  area_range_m2=(2000, 30000), min_contrast=args.contrast,
                                  seed=args.seed + i)
        params = {"model": str(MODELS / f"cnn-loco-{city}.onnx"),
                  "stacker": str(MODELS / f"fused-loco-{city}.json")}
        res = detect_change(before, before.with_data(pair.after), **params)
        px = float(np.median(before.pixel_area_m2()))
        got = measure(pair, res.change.mask, px)
        res_raw = detect_change(before, before.with_data(pair.after), delineate=False, **params)
        raw.extend(m / t - 1 for t, m in measure(pair, res_raw.change.mask, px))
        for (true, meas), reg in zip(got, pair.regions, strict=True):
            err = meas / true - 1
            refined.append(err)
            rows.append(f"| {city} | {reg.index} | {true:,.0f} | {meas:,.0f} | {100 * err:+.1f}% |")
        print(f"{city}: " + ", ".join(f"{100 * (m / t - 1):+.0f}%" for t, m in got), flush=True)
    e = np.abs(np.array(refined))
    found = np.array(refined) > -0.5  # at least half of the region found
    ef = e[found]
    body = (f"Default detector `{DEFAULT_DETECTOR}`, {args.regions} regions per city, seed "
            f"{args.seed}, {time.perf_counter() - t0:.0f} s.\n\n"
            f"Regions of 2,000 m² or more within +-10 %: **{(e <= 0.1).mean():.0%}** "
            f"({(e <= 0.1).sum()} of {len(e)}); median absolute error **{np.median(e):.1%}**; "
            f"missed entirely: {(np.array(refined) <= -0.999).sum()}; median signed error "
            f"{np.median(refined):+.1%}.\n\n"
            f"Regions at least half found ({found.sum()} of {len(e)}): within +-10 % "
            f"**{(ef <= 0.1).mean():.0%}**, median absolute error **{np.median(ef):.1%}**, "
            f"median signed error {np.median(np.array(refined)[found]):+.1%}.\n\n"
            f"Without the edge unmixing (`delineate=False`, the raw decision): within +-10 % "
            f"{(np.abs(raw) <= 0.1).mean():.0%}, median absolute error "
            f"{np.median(np.abs(raw)):.1%}, median signed error {np.median(raw):+.1%}.\n\n"
            "| city | region | true m² | measured m² | error |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")
    write_section("area", "Areas on semi-synthetic sites (known truth)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
