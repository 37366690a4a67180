"""Change typing on semi-synthetic transitions built from real OSCD spectra.

    python benchmarks/bench_typing.py          # -> benchmarks/results/typing.md

Material pixels come from boxes of the OSCD images chosen by eye
(``benchmarks/typing_library.py``: city, date, box, purity filter). A transition
"A -> B" in a city pairs a patch of A's pixels on the first date with a patch of
B's pixels on the second date of the same scene (the real spectra of both dates,
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

Both materials of a transition come from one scene. Bordeaux and Paris have no bare
soil on their second date, so they have no demolition regions; their blocks paired with
the other scenes' soils are reported as a diagnostic and not counted (a soil seen
through another atmosphere, sun and season, and foreign to the place). Controls
(soil -> soil, building -> building) show what the rules call change between two states
of one material. A held-out check types building -> bare soil in five cities of the
unlabelled OSCD pairs that were never used to set the rules
(``typing_library.HELD_OUT_BOXES``).

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

from common import OSCD_ROOT, SHARED_DATA, require_data, write_section  # noqa: E402
from typing_library import BANDS, BOXES, HELD_OUT_BOXES, Box, pure_pixels  # noqa: E402

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
#: A transition pairs two materials of one scene only. Where a scene has no second-date bare
#: soil (Bordeaux, Paris), its blocks paired with the other scenes' soils are a diagnostic,
#: reported but not counted: that soil was seen through another atmosphere, sun and season and
#: is foreign to the place (desert sand, laterite in Paris).
PASTED_DIAGNOSTIC = (ChangeType.DEMOLITION, "building", "soil")

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


def _pools(boxes: tuple[Box, ...] = BOXES, root: Path = OSCD_ROOT
           ) -> tuple[dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]],
                      dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[str, str]]]:
    """Pure pixels per (city, material, date): [(positions (K, 2), spectra (B, K)) per box]."""
    cities = sorted({b.city for b in boxes})
    images, dates = {}, {}
    for c in cities:
        before, after = read_oscd_pair(root, c, bands=BANDS)
        images[c] = (before.data, after.data)
        dates[c] = (before.dates[0], after.dates[0])
    pools: dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for b in boxes:
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
    # the spectral bands only (a caller may carry more rows, as bench_typing_routes.py does)
    keep = np.linalg.norm(after[:len(BANDS)] - before[:len(BANDS)], axis=0) >= FLAG_MIN
    if keep.sum() * 2 <= n:
        return None
    return before[:, keep], after[:, keep]


def _draws(rng: np.random.Generator, src: list[tuple[np.ndarray, np.ndarray]],
           dst: list[tuple[np.ndarray, np.ndarray]], n: int
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """n regions pairing a patch of ``src`` with one of ``dst``, as a detector flags them."""
    out = []
    for _ in range(n):
        for _try in range(10):  # patches a detector would not flag are redrawn
            got = _flagged(_patch(rng, src, REGION_PX), _patch(rng, dst, REGION_PX))
            if got is not None:
                out.append(got)
                break
    return out


def _type(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return classify_change(before[:, None, :], after[:, None, :], BANDS)[0]


UNLABELLED_ROOT = SHARED_DATA / "oscd-unlabelled"
#: The held-out check: building -> bare soil (demolition) and the controls, per city.
HELD_OUT_PAIRS = (("building", "soil"), ("soil", "soil"), ("building", "building"))


def _held_out() -> dict[str, dict[str, dict[ChangeType, int]]]:
    """Region names of the held-out cities' transitions: {pair: {city: {name: count}}}."""
    if not UNLABELLED_ROOT.exists():
        return {}
    rng = np.random.default_rng(SEED + 1)  # its own draw: the counted regions do not move
    pools, _images, _dates = _pools(HELD_OUT_BOXES, UNLABELLED_ROOT)
    out: dict[str, dict[str, dict[ChangeType, int]]] = {}
    for a_mat, b_mat in HELD_OUT_PAIRS:
        per_city = out.setdefault(f"{a_mat} -> {b_mat}", {})
        for c in sorted({b.city for b in HELD_OUT_BOXES}):
            src, dst = pools.get((c, a_mat, 1)), pools.get((c, b_mat, 2))
            if not src or not dst:
                continue
            tally = per_city.setdefault(c, dict.fromkeys(PREDICTED, 0))
            for b, a in _draws(rng, src, dst, REGIONS_PER_CITY):
                tally[region_class(composition(np.bincount(_type(b, a),
                                                           minlength=len(ChangeType))))] += 1
    return out


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
                if not src or not dst:
                    continue
                n = REGIONS_PER_CITY if cls is not ChangeType.WATER else \
                    max(4, REGIONS_PER_CITY // len(TRANSITIONS[cls]) * 2)
                regions += [(cls, c, f"{a_mat} -> {b_mat}", b, a)
                            for b, a in _draws(rng, src, dst, n)]
    # the diagnostic is drawn after the counted regions, so it does not change their draw
    pasted: list[tuple[ChangeType, str, str, np.ndarray, np.ndarray]] = []
    d_cls, d_src, d_dst = PASTED_DIAGNOSTIC
    for c in cities:
        src, dst = pools.get((c, d_src, 1)), pools.get((c, d_dst, 2))
        if src and not dst:
            others = [p for k, v in pools.items() if k[1:] == (d_dst, 2) for p in v]
            pasted += [(d_cls, c, f"{d_src} -> {d_dst} of the other cities (not counted)", b, a)
                       for b, a in _draws(rng, src, others, REGIONS_PER_CITY)]
    controls: dict[str, dict[ChangeType, int]] = {}
    control_cities: dict[str, dict[str, dict[ChangeType, int]]] = {}
    for a_mat, b_mat in CONTROLS:
        name = f"{a_mat} -> {b_mat}"
        tally = controls.setdefault(name, dict.fromkeys(PREDICTED, 0))
        for c in cities:
            src, dst = pools.get((c, a_mat, 1)), pools.get((c, b_mat, 2))
            for _ in range(REGIONS_PER_CITY if src and dst else 0):
                got = _flagged(_patch(rng, src, REGION_PX), _patch(rng, dst, REGION_PX))
                if got is not None:
                    codes = _type(*got)
                    pred = region_class(composition(np.bincount(codes, minlength=9)))
                    tally[pred] += 1
                    per_city = control_cities.setdefault(name, {})
                    per_city.setdefault(c, dict.fromkeys(PREDICTED, 0))[pred] += 1
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
    pasted_tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cls, city, _pair, b, a in pasted:
        pred = region_class(composition(np.bincount(_type(b, a), minlength=len(ChangeType))))
        pasted_tally[city][0] += int(pred is cls)
        pasted_tally[city][1] += 1
    rows = []
    for cls, what in CLASSES:
        n = sum(confusion[cls].values())
        rows.append({"class": cls, "what": what, "regions": n,
                     "region_accuracy": confusion[cls][cls] / n if n else float("nan"),
                     "pixel_accuracy": pixel_ok[cls][0] / max(pixel_ok[cls][1], 1),
                     "cities": sorted({k for (c, k) in by_city if c is cls})})
    facts = {"confusion": confusion, "controls": controls, "control_cities": control_cities,
             "by_city": dict(by_city),
             "by_pair": dict(by_pair), "pasted": dict(pasted_tally), "held_out": _held_out(),
             "dates": dates, "seconds": time.perf_counter() - t0,
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
        "date with a patch of the second material on the second date of the same scene. "
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
    control_cities = facts["control_cities"]
    assert isinstance(control_cities, dict)
    lines += ["", "Controls named demolition, by city: " + "; ".join(
        f"{name}: " + ", ".join(f"{c} {t[ChangeType.DEMOLITION]} / {sum(t.values())}"
                                for c, t in sorted(per_city.items()))
        for name, per_city in control_cities.items()) + "."]
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
    pasted = facts["pasted"]
    assert isinstance(pasted, dict)
    if pasted:
        lines += ["", "Diagnostic, not counted: the blocks of the scenes without second-date "
                  "bare soil paired with the other scenes' soils (another atmosphere, sun and "
                  "season; a soil foreign to the place), named demolition in "
                  + ", ".join(f"{c} {ok} / {n}" for c, (ok, n) in sorted(pasted.items()))
                  + " regions."]
    held = facts["held_out"]
    assert isinstance(held, dict)
    if held:
        demo_row = dict.fromkeys(PREDICTED, 0)
        for t in held["building -> soil"].values():
            for k, v in t.items():
                demo_row[k] += v
        n_demo = sum(demo_row.values())
        lines += ["", "Held-out check: five cities of the unlabelled OSCD pairs, never used to set "
                  "the rules (`HELD_OUT_BOXES`; seed "
                  f"{SEED + 1}). Building -> bare soil named demolition in "
                  f"**{demo_row[ChangeType.DEMOLITION]} / {n_demo}** regions "
                  f"(**{demo_row[ChangeType.DEMOLITION] / max(n_demo, 1):.2f}**); all names:", "",
                  head.replace("truth \\ typed", "held-out"),
                  "|---|" + "---:|" * (len(PREDICTED) + 1),
                  "| building -> soil | " + " | ".join(str(demo_row[p]) for p in PREDICTED)
                  + f" | {n_demo} |", "",
                  "| city | " + " | ".join(f"{pair}: named demolition" for pair in held)
                  + " |", "|---|" + "---:|" * len(held)]
        for c in sorted({c for per_city in held.values() for c in per_city}):
            cells = []
            for per_city in held.values():
                t = per_city.get(c)
                cells.append(f"{t[ChangeType.DEMOLITION]} / {sum(t.values())}" if t else "-")
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
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
