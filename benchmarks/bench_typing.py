"""Change typing on semi-synthetic transitions built from real OSCD spectra.

    python benchmarks/bench_typing.py          # -> benchmarks/results/typing.md

Material pixels come from boxes of the OSCD images chosen by eye
(``benchmarks/typing_library.py``: city, date, box, purity filter). A transition
"A -> B" in a city pairs a patch of A's pixels on the first date with a patch of
B's pixels on the second date of the same city (the real spectra of both dates,
their real atmospheres and sun angles); a patch is the ``REGION_PX`` pool pixels
nearest to a random seed, so neighbouring, correlated pixels form a region as
they do on the ground. Each pixel pair is typed by
:func:`sitewatch.detectors.changetype.classify_change`; each region is named
from its composition (:mod:`sitewatch.detectors.composition`: a type above half
of its area, else ``mixed``), and a region is right when that name is the class
of its transition:

==================  ==================================  ===========================
class               transition                          cities
==================  ==================================  ===========================
paving              bare soil -> asphalt                every city with both pools
construction        vegetation -> bare soil
roof                bare soil -> bright roof
demolition          building -> bare soil
water               land -> water and water -> land     land: any other material
vegetation          seasonal vegetation: the same
                    vegetated pixels on both dates,
                    where the spectrum moved enough
                    to be flagged (``FLAG_MIN``)
==================  ==================================  ===========================

Imagery: contains modified Copernicus Sentinel data 2015-2018 (OSCD, Daudt et al.
2018).
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OSCD_ROOT, require_data, write_section  # noqa: E402
from typing_library import BANDS, BOXES, pure_pixels  # noqa: E402

from sitewatch.detectors.changetype import classify_change  # noqa: E402
from sitewatch.detectors.composition import composition, region_class  # noqa: E402
from sitewatch.imagery.oscd import read_oscd_pair  # noqa: E402
from sitewatch.types import ChangeType  # noqa: E402

SEED = 20241114
REGION_PX = 25          # 2,500 m² at 10 m
REGIONS_PER_CITY = 40   # per transition and city
#: A pixel pair is typed only when its 10-band change vector is at least this long
#: (reflectance), about where the two-date detectors start to flag change: typing is asked
#: of flagged change only. A region needs more than half of its pairs flagged.
FLAG_MIN = 0.06
#: Cities whose dense built-up fabric has no bare soil on their second date: for demolition
#: their first-date blocks are paired with the second-date soils of the other cities.
DENSE_CITIES = ("bordeaux", "mumbai", "paris")

CLASSES: tuple[tuple[ChangeType, str], ...] = (
    (ChangeType.PAVING, "bare soil -> asphalt"),
    (ChangeType.CONSTRUCTION, "vegetation -> bare soil"),
    (ChangeType.ROOF, "bare soil -> bright roof"),
    (ChangeType.DEMOLITION, "building -> bare soil"),
    (ChangeType.WATER, "land <-> water"),
    (ChangeType.VEGETATION, "seasonal vegetation"),
)
TRANSITIONS: dict[ChangeType, list[tuple[str, str]]] = {
    ChangeType.PAVING: [("soil", "asphalt")],
    ChangeType.CONSTRUCTION: [("vegetation", "soil")],
    ChangeType.ROOF: [("soil", "bright_roof")],
    ChangeType.DEMOLITION: [("building", "soil")],
    ChangeType.WATER: [(m, "water") for m in ("soil", "vegetation", "asphalt", "bright_roof",
                                                "building")]
                      + [("water", m) for m in ("soil", "vegetation", "asphalt", "bright_roof",
                                                "building")],
}
PREDICTED = [c for c in ChangeType if c is not ChangeType.NONE]
#: Controls, not classes: changes between two states of one material, to show what the
#: rules call them (bare soil reworked should not read as demolition or paving).
CONTROLS = (("soil", "soil"), ("building", "building"))


def _pools() -> tuple[dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]],
                      dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[str, str]]]:
    """Pure pixels per (city, material, date): [(positions (K, 2), spectra (B, K)) per box]."""
    cities = sorted({b.city for b in BOXES})
    images, dates = {}, {}
    for c in cities:
        before, after = read_oscd_pair(OSCD_ROOT, c, bands=BANDS)
        images[c] = (before.data, after.data)
        dates[c] = (before.dates[0], after.dates[0])
    pools: dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for b in BOXES:
        (r0, r1), (c0, c1) = b.rows, b.cols
        rr, cc = np.mgrid[r0:r1, c0:c1]
        pos = np.stack([rr.ravel(), cc.ravel()], axis=1)
        for d in b.dates:
            x = images[b.city][d - 1][:, r0:r1, c0:c1].reshape(len(BANDS), -1)
            keep = pure_pixels(x, b.material)
            pools[(b.city, b.material, d)].append((pos[keep], x[:, keep]))
    return pools, images, dates


def _patch(rng: np.random.Generator, boxes: list[tuple[np.ndarray, np.ndarray]],
           n: int) -> np.ndarray:
    """(B, n) spectra of the n pool pixels nearest a random seed (one box, chosen by size)."""
    sizes = np.array([p.shape[0] for p, _ in boxes], "float64")
    pos, spec = boxes[rng.choice(len(boxes), p=sizes / sizes.sum())]
    seed = pos[rng.integers(pos.shape[0])]
    near = np.argsort(((pos - seed) ** 2).sum(axis=1), kind="stable")[:n]
    return spec[:, near]


def _seasonal(rng: np.random.Generator, images: dict[str, tuple[np.ndarray, np.ndarray]]
              ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Regions of the same vegetated pixels on both dates that moved at least FLAG_MIN."""
    out = []
    for c in sorted({b.city for b in BOXES}):
        pos_all, pairs = [], []
        for b in BOXES:
            if b.city != c or b.material != "vegetation" or b.dates != (1, 2):
                continue
            (r0, r1), (c0, c1) = b.rows, b.cols
            xb = images[c][0][:, r0:r1, c0:c1].reshape(len(BANDS), -1)
            xa = images[c][1][:, r0:r1, c0:c1].reshape(len(BANDS), -1)
            keep = pure_pixels(xb, "vegetation") & pure_pixels(xa, "vegetation")
            keep &= np.linalg.norm(xa - xb, axis=0) >= FLAG_MIN
            rr, cc = np.mgrid[r0:r1, c0:c1]
            pos_all.append(np.stack([rr.ravel(), cc.ravel()], axis=1)[keep])
            pairs.append((xb[:, keep], xa[:, keep]))
        if not pos_all or sum(p.shape[0] for p in pos_all) < REGION_PX:
            continue
        pos = np.concatenate(pos_all)
        xb = np.concatenate([p[0] for p in pairs], axis=1)
        xa = np.concatenate([p[1] for p in pairs], axis=1)
        for _ in range(REGIONS_PER_CITY):
            seed = pos[rng.integers(pos.shape[0])]
            near = np.argsort(((pos - seed) ** 2).sum(axis=1), kind="stable")[:REGION_PX]
            out.append((c, xb[:, near], xa[:, near]))
    return out


def _flagged(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The pairs a detector would flag, or None when they are not most of the patch."""
    n = min(before.shape[1], after.shape[1])  # a small pool gives a smaller patch
    before, after = before[:, :n], after[:, :n]
    keep = np.linalg.norm(after - before, axis=0) >= FLAG_MIN
    if keep.sum() * 2 <= n:
        return None
    return before[:, keep], after[:, keep]


def _type(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return classify_change(before[:, None, :], after[:, None, :], BANDS)[0]


def run() -> tuple[dict[str, object], list[dict[str, object]]]:
    require_data(OSCD_ROOT)
    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    pools, images, dates = _pools()
    cities = sorted({b.city for b in BOXES})
    regions: list[tuple[ChangeType, str, str, np.ndarray, np.ndarray]] = []
    for cls, _ in CLASSES:
        if cls is ChangeType.VEGETATION:
            regions += [(cls, c, "vegetation -> vegetation", b, a)
                        for c, b, a in _seasonal(rng, images)]
            continue
        for a_mat, b_mat in TRANSITIONS[cls]:
            for c in cities:
                src, dst = pools.get((c, a_mat, 1)), pools.get((c, b_mat, 2))
                pair = f"{a_mat} -> {b_mat}"
                if src and not dst and cls is ChangeType.DEMOLITION and c in DENSE_CITIES:
                    dst = [p for k, v in pools.items() if k[1:] == (b_mat, 2) for p in v]
                    pair += " (soil of the other cities)"
                if not src or not dst:
                    continue
                n = REGIONS_PER_CITY if cls is not ChangeType.WATER else \
                    max(4, REGIONS_PER_CITY // len(TRANSITIONS[cls]) * 2)
                for _ in range(n):
                    got = None
                    for _try in range(10):  # patches a detector would not flag are redrawn
                        got = _flagged(_patch(rng, src, REGION_PX), _patch(rng, dst, REGION_PX))
                        if got is not None:
                            break
                    if got is not None:
                        regions.append((cls, c, pair, *got))
    controls: dict[str, dict[ChangeType, int]] = {}
    for a_mat, b_mat in CONTROLS:
        tally = controls.setdefault(f"{a_mat} -> {b_mat}", dict.fromkeys(PREDICTED, 0))
        for c in cities:
            src, dst = pools.get((c, a_mat, 1)), pools.get((c, b_mat, 2))
            for _ in range(REGIONS_PER_CITY if src and dst else 0):
                got = _flagged(_patch(rng, src, REGION_PX), _patch(rng, dst, REGION_PX))
                if got is not None:
                    codes = _type(*got)
                    tally[region_class(composition(np.bincount(codes, minlength=9)))] += 1
    confusion = {cls: dict.fromkeys(PREDICTED, 0) for cls, _ in CLASSES}
    pixel_ok: dict[ChangeType, list[int]] = {cls: [0, 0] for cls, _ in CLASSES}
    by_city: dict[tuple[ChangeType, str], list[int]] = defaultdict(lambda: [0, 0])
    by_pair: dict[tuple[ChangeType, str], list[int]] = defaultdict(lambda: [0, 0])
    for cls, city, pair, b, a in regions:
        codes = _type(b, a)
        pred = region_class(composition(np.bincount(codes, minlength=len(ChangeType))))
        confusion[cls][pred] += 1
        pixel_ok[cls][0] += int((codes == int(cls)).sum())
        pixel_ok[cls][1] += codes.size
        for key, tally in ((city, by_city), (pair, by_pair)):
            tally[(cls, key)][0] += int(pred is cls)
            tally[(cls, key)][1] += 1
    rows = []
    for cls, what in CLASSES:
        n = sum(confusion[cls].values())
        rows.append({"class": cls, "what": what, "regions": n,
                     "region_accuracy": confusion[cls][cls] / n if n else float("nan"),
                     "pixel_accuracy": pixel_ok[cls][0] / max(pixel_ok[cls][1], 1),
                     "cities": sorted({k for (c, k) in by_city if c is cls})})
    facts = {"confusion": confusion, "controls": controls, "by_city": dict(by_city),
             "by_pair": dict(by_pair), "dates": dates, "seconds": time.perf_counter() - t0,
             "regions": len(regions)}
    return facts, rows


def _markdown(facts: dict[str, object], rows: list[dict[str, object]]) -> str:
    conf = facts["confusion"]
    assert isinstance(conf, dict)
    worst = min(r["region_accuracy"] for r in rows)  # type: ignore[type-var]
    head = "| truth \\ typed | " + " | ".join(c.slug for c in PREDICTED) + " | regions |"
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        f"{facts['regions']} regions of {REGION_PX} pixels ({REGION_PX * 100:,} m²) in "
        f"{facts['seconds']:.0f} s (load {load}), seed {SEED}. Material spectra from "
        "boxes of the OSCD images picked by eye (`benchmarks/typing_library.py`, with a "
        "purity filter per box); a region pairs a patch of the first material on the first "
        "date with a patch of the second material on the second date of the same city. "
        "Pixels typed by `sitewatch.detectors.changetype.classify_change`; a region is "
        "named by the type covering more than half of it, else `mixed` "
        "(`sitewatch.detectors.composition`).",
        "",
        "| class | transition | regions | region accuracy | pixel accuracy | cities |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['class'].slug} | {r['what']} | {r['regions']} | "  # type: ignore[attr-defined]
                     f"**{r['region_accuracy']:.2f}** | {r['pixel_accuracy']:.2f} | "
                     f"{', '.join(r['cities'])} |")  # type: ignore[arg-type]
    lines += ["", "Confusion matrix (regions; rows: the transition's class, columns: the "
              "region's name):", "", head,
              "|---|" + "---:|" * (len(PREDICTED) + 1)]
    for cls, _ in CLASSES:
        n = sum(conf[cls].values())
        lines.append(f"| {cls.slug} | " + " | ".join(
            (f"**{conf[cls][p]}**" if p is cls else str(conf[cls][p])) for p in PREDICTED)
            + f" | {n} |")
    controls = facts["controls"]
    assert isinstance(controls, dict)
    lines += ["", "Controls (not classes; flagged changes between two states of one material, "
              "same cities, same draw):", "", head.replace("truth \\ typed", "control"),
              "|---|" + "---:|" * (len(PREDICTED) + 1)]
    for name, tally in controls.items():
        lines.append(f"| {name} | " + " | ".join(str(tally[p]) for p in PREDICTED)
                     + f" | {sum(tally.values())} |")
    lines += ["", "Region accuracy by transition and city:", "",
              "| class | transition | right / regions |", "|---|---|---:|"]
    by_pair = facts["by_pair"]
    assert isinstance(by_pair, dict)
    for (cls, pair), (ok, n) in sorted(by_pair.items(), key=lambda kv: (int(kv[0][0]),
                                                                        kv[0][1])):
        lines.append(f"| {cls.slug} | {pair} | {ok} / {n} |")
    by_city = facts["by_city"]
    assert isinstance(by_city, dict)
    lines += ["", "| class | city | right / regions |", "|---|---|---:|"]
    for (cls, city), (ok, n) in sorted(by_city.items(), key=lambda kv: (int(kv[0][0]),
                                                                        kv[0][1])):
        lines.append(f"| {cls.slug} | {city} | {ok} / {n} |")
    dates = facts["dates"]
    assert isinstance(dates, dict)
    lines += ["", "Dates: " + "; ".join(f"{c} {d[0]} -> {d[1]}" for c, d in sorted(
        dates.items())) + ". Contains modified Copernicus Sentinel data 2015-2018; OSCD: "
        "Daudt, Le Saux, Boulch, Gousseau, IGARSS 2018.", "",
        f"**Result:** lowest region accuracy of a class **{worst:.2f}** (acceptance: at least "
        "0.8 for each class)."]
    return "\n".join(lines)


def main() -> int:
    facts, rows = run()
    write_section("typing", "Change typing on semi-synthetic transitions (issue 14)",
                  _markdown(facts, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
