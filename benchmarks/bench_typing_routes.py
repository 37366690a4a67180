"""The routes tried to type demolition, measured on the typing benchmark's own draw.

    python benchmarks/bench_typing_routes.py   # -> benchmarks/results/typing_routes.md

Each route changes one thing in :mod:`sitewatch.detectors.changetype` (or around it) for
the length of one run of ``bench_typing.run()``; everything else (boxes, seed, regions,
controls, held-out cities) is the benchmark's:

* the rules of ``main`` before this change (no mineral evidence), the clay ratio only,
  the iron-oxide ratio only, and both (what ships);
* texture loss: a changed pixel whose 3x3 brightness standard deviation falls by more
  than 0.006 reflectance onto bare ground, with no plants before, is demolition (the
  texture is read in each pixel's real neighbourhood in its own image);
* a region-level test: the mineral test on a region's mean spectra of both dates
  re-types its paving / construction / roof / other pixels as demolition;
* the benchmark's construction fixes one at a time, under the rules of ``main`` and
  the shipped rules (``typing_library`` documents the three redrawn boxes and Mumbai's
  soil; "pasted" is the other scenes' soils in Bordeaux, Mumbai and Paris).

Imagery: contains modified Copernicus Sentinel data 2015-2018 (OSCD, Daudt et al. 2018).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_typing as bt  # noqa: E402
import typing_library as tl  # noqa: E402
from common import write_section  # noqa: E402

from sitewatch.detectors import changetype  # noqa: E402
from sitewatch.detectors.indices import spectral_indices  # noqa: E402
from sitewatch.types import ChangeType  # noqa: E402

DEMOLITION = ChangeType.DEMOLITION
TEXTURE_LOSS = 0.006  # reflectance, 3x3 standard deviation of the mean of B02 B03 B04 B08
N_BANDS = len(tl.BANDS)


@contextmanager
def patched(*changes: tuple[Any, str, Any]) -> Iterator[None]:
    """Set attributes for the length of a block: (object, name, value) triples."""
    old = [(obj, name, getattr(obj, name)) for obj, name, _ in changes]
    for obj, name, value in changes:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for obj, name, value in old:
            setattr(obj, name, value)


def _no_minerals(before: np.ndarray, *_: Any, **__: Any) -> np.ndarray:
    return np.zeros(np.shape(before)[1:], bool)


def _texture(image: np.ndarray) -> np.ndarray:
    bright = image[[tl.BANDS.index(b) for b in ("B02", "B03", "B04", "B08")]].mean(axis=0)
    mean = ndimage.uniform_filter(bright, 3, mode="nearest")
    sq = ndimage.uniform_filter(bright * bright, 3, mode="nearest")
    return np.sqrt(np.maximum(sq - mean * mean, 0))


def _with_texture(pools_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Pools whose spectra carry one more row: the pixel's texture in its own image."""
    def pools(*args: Any) -> Any:
        pools_, images, dates = pools_fn(*args)
        tex = {c: (_texture(b), _texture(a)) for c, (b, a) in images.items()}
        out = {(c, m, d): [(pos, np.vstack([spec, tex[c][d - 1][pos[:, 0], pos[:, 1]]]))
                           for pos, spec in boxes] for (c, m, d), boxes in pools_.items()}
        return out, images, dates
    return pools


def _texture_rule(rules: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def classify(before: np.ndarray, after: np.ndarray, names: Any, mask: Any = None
                 ) -> np.ndarray:
        if before.shape[0] == N_BANDS:  # seasonal regions carry no texture row
            return rules(before, after, names, mask)
        b, a = before[:N_BANDS], after[:N_BANDS]
        out = rules(b, a, names, mask)
        ib, ia = spectral_indices(b, names), spectral_indices(a, names)
        with np.errstate(invalid="ignore"):
            smoother = (before[N_BANDS] - after[N_BANDS] > TEXTURE_LOSS) & (ia["bsi"] > 0) \
                & (ia["ndvi"] < 0.25) & (ib["ndvi"] < 0.25) & (out != int(ChangeType.WATER))
        out[smoother] = int(DEMOLITION)
        return out
    return classify


def _region_rule(rules: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def classify(before: np.ndarray, after: np.ndarray, names: Any, mask: Any = None
                 ) -> np.ndarray:
        out = rules(before, after, names, mask)
        mb = before.reshape(before.shape[0], -1).mean(axis=1).reshape(-1, 1, 1)
        ma = after.reshape(after.shape[0], -1).mean(axis=1).reshape(-1, 1, 1)
        if changetype.mineral_soil_appears(mb, ma, names)[0, 0]:
            building_work = [int(ChangeType.PAVING), int(ChangeType.CONSTRUCTION),
                             int(ChangeType.ROOF), int(ChangeType.OTHER)]
            out[np.isin(out, building_work)] = int(DEMOLITION)
        return out
    return classify


_OLD_BOXES = {  # the boxes before the construction fixes (see typing_library)
    "abudhabi soil": tl._b("abudhabi", "soil", "both", 740, 790, 450, 520, "desert sand, south"),
    "abudhabi building": tl._b("abudhabi", "building", "both", 135, 235, 400, 500,
                               "institutional compound"),
    "aguasclaras building": tl._b("aguasclaras", "building", "both", 400, 465, 0, 110,
                                  "dense houses"),
}
_FIXES = ("abudhabi soil", "abudhabi building", "aguasclaras building", "mumbai soil")


def _library(fixed: set[str]) -> tuple[tl.Box, ...]:
    """The benchmark's boxes with the fixes not in ``fixed`` undone."""
    out: list[tl.Box] = []
    placed: set[str] = set()
    for b in tl.BOXES:
        key = f"{b.city} {b.material}"
        if key not in _FIXES or key in fixed:
            out.append(b)
        elif key in _OLD_BOXES and key not in placed:
            out.append(_OLD_BOXES[key])
            placed.add(key)
    return tuple(out)


def _row(name: str, facts: dict[str, Any], rows: list[dict[str, Any]], *,
         pasted_counted: bool = False) -> str:
    conf = facts["confusion"][DEMOLITION]
    ok, n = conf[DEMOLITION], sum(conf.values())
    cities = {c: f"{o}/{m}" for (cls, c), (o, m) in facts["by_city"].items() if cls is DEMOLITION}
    if pasted_counted:
        for c, (o, m) in facts["pasted"].items():
            ok, n = ok + o, n + m
            cities[c] = f"{o}/{m}*"
    acc = {r["class"]: r["region_accuracy"] for r in rows}
    others = " ".join(f"{acc[c]:.2f}" for c in (ChangeType.PAVING, ChangeType.CONSTRUCTION,
                                                 ChangeType.ROOF, ChangeType.WATER,
                                                 ChangeType.VEGETATION))
    ctl = facts["controls"]
    held = facts["held_out"].get("building -> soil", {})
    h_ok = sum(t[DEMOLITION] for t in held.values())
    h_n = sum(sum(t.values()) for t in held.values())
    return (f"| {name} | **{ok / n:.2f}** ({ok}/{n}) | "
            f"{', '.join(f'{c} {v}' for c, v in sorted(cities.items()))} | {others} | "
            f"{ctl['soil -> soil'][DEMOLITION]}/{sum(ctl['soil -> soil'].values())} | "
            f"{ctl['building -> building'][DEMOLITION]}/"
            f"{sum(ctl['building -> building'].values())} | "
            + (f"{h_ok}/{h_n} ({h_ok / h_n:.2f})" if h_n else "-") + " |")


HEAD = ["| route | demolition | demolition by city | paving, construction, roof, water, "
        "vegetation | soil -> soil named demolition | building -> building named demolition "
        "| held-out demolition |", "|---|---:|---|---|---:|---:|---:|"]


def main() -> int:
    shipped = changetype.classify_change
    lines = ["Routes on the benchmark's draw (seed "
             f"{bt.SEED}); demolition region accuracy, then the other classes' region "
             "accuracy, the controls and the held-out check.", "", *HEAD]
    routes: list[tuple[str, list[tuple[Any, str, Any]]]] = [
        ("rules of main (no mineral evidence)",
         [(changetype, "mineral_soil_appears", _no_minerals)]),
        ("clay ratio only (B11/B12)", [(changetype, "FERRIC_RATIO", np.inf)]),
        ("iron-oxide ratio only (B04/B02)", [(changetype, "CLAY_RATIO", np.inf)]),
        ("clay or iron oxide (ships)", []),
        ("rules of main + texture loss",
         [(changetype, "mineral_soil_appears", _no_minerals),
          (bt, "classify_change", _texture_rule(shipped)),
          (bt, "_pools", _with_texture(bt._pools))]),
        ("shipped + texture loss",
         [(bt, "classify_change", _texture_rule(shipped)),
          (bt, "_pools", _with_texture(bt._pools))]),
        ("rules of main + region-mean mineral test",
         [(bt, "classify_change", _region_rule(_without_minerals(shipped)))]),
    ]
    for name, changes in routes:
        with patched(*changes):
            lines.append(_row(name, *bt.run()))
    lines += ["", "The benchmark's construction fixes, one at a time (`*`: a city's blocks "
              "paired with the other scenes' soils, counted as before the fix; the held-out "
              "check is the same in every row):", "", *HEAD]
    stages = [("construction before the fixes", set(), True),
              ("+ Abu Dhabi soil box on open desert", {"abudhabi soil"}, True),
              ("+ building boxes on built fabric", {"abudhabi soil", "abudhabi building",
                                                    "aguasclaras building"}, True),
              ("+ Mumbai's own soil", set(_FIXES), True),
              ("+ pasted soils not counted (the benchmark)", set(_FIXES), False)]
    for rules_name, rule_changes in (("main", [(changetype, "mineral_soil_appears",
                                                _no_minerals)]), ("shipped", [])):
        for name, fixed, pasted in stages:
            lib = _library(fixed)
            pools = bt._pools
            with patched(*rule_changes, (bt, "BOXES", lib),
                         (bt, "_pools", lambda boxes=lib, root=bt.OSCD_ROOT, _p=pools:
                          _p(boxes, root))):
                lines.append(_row(f"{rules_name} rules, {name}", *bt.run(),
                                  pasted_counted=pasted))
    write_section("typing_routes", "Change typing: routes tried for demolition (issue 14)",
                  "\n".join(lines))
    return 0


def _without_minerals(rules: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def classify(*args: Any, **kwargs: Any) -> np.ndarray:
        with patched((changetype, "mineral_soil_appears", _no_minerals)):
            return rules(*args, **kwargs)
    return classify


if __name__ == "__main__":
    sys.exit(main())
