"""Real material spectra from the OSCD images, for the change-typing benchmark.

Each entry names a box (rows, columns of ``imgs_1``'s 10 m grid) that was chosen by
looking at the true-colour images of both dates, the material it holds and the
date(s) on which it holds it (1 = ``imgs_1``, 2 = ``imgs_2``). Boxes are drawn
loosely; a purity filter then keeps the pixels typical of the box, with criteria
relative to the box itself (never the typing rules' thresholds):

==============  ==================================================================
material        pixels kept in the box
==============  ==================================================================
soil            spectral angle to the box's median spectrum in its lower 60 %
water           the same (drops banks, boats and bridges)
building        the same (dense urban fabric: roofs, courtyards, narrow streets)
vegetation      NDVI in the box's upper half
asphalt         the darker half of the box's 40 % least green pixels (road surface)
bright_roof     visible brightness in the box's upper 12 % (white and light roofs)
==============  ==================================================================

The spectral-angle filter keeps a box's *dominant* material, so a building box must be
drawn on built fabric only: where open ground is the larger part of a box, the filter
keeps the open ground. Three boxes broke this and were redrawn (issue 14, second pass):
the Abu Dhabi "institutional compound" (rows 135-235, cols 400-500) reached into the
open desert around it, so much of its "building" pool was desert sand; Aguas Claras'
"dense houses" (rows 400-465, cols 0-110) took in a vacant red-soil lot; Abu Dhabi's
"desert sand, south" soil (rows 740-790, cols 450-520) is a built lot (sheds, storage
yards), not sand. Mumbai's bare ground (the Deonar landfill's debris and soil cover)
gives Mumbai a second-date soil of its own.

``HELD_OUT_BOXES`` hold built fabric and bare soil in five cities of the unlabelled OSCD
pairs (Dubai, Las Vegas, Brasilia, Valencia, Montpellier), picked the same way after the
rules were set: the benchmark's check of the demolition rule on scenes it never saw.

Imagery: Sentinel-2 Level-1C of the Onera Satellite Change Detection dataset (Daudt et
al. 2018); contains modified Copernicus Sentinel data 2015-2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
MATERIALS = ("soil", "vegetation", "asphalt", "bright_roof", "building", "water")


@dataclass(frozen=True)
class Box:
    city: str
    material: str
    dates: tuple[int, ...]
    rows: tuple[int, int]
    cols: tuple[int, int]
    what: str


def _b(city: str, material: str, dates: str, r0: int, r1: int, c0: int, c1: int,
       what: str) -> Box:
    ds = (1, 2) if dates == "both" else (int(dates),)
    return Box(city, material, ds, (r0, r1), (c0, c1), what)


#: The boxes, found on the true-colour previews of both dates.
BOXES: tuple[Box, ...] = (
    # bare soil
    _b("cupertino", "soil", "1", 675, 690, 415, 445, "Apple Park building site, south part"),
    _b("cupertino", "soil", "1", 626, 640, 393, 418, "Apple Park building site, north-west"),
    _b("abudhabi", "soil", "both", 160, 195, 620, 690, "open desert east of the highway"),
    _b("abudhabi", "soil", "1", 470, 560, 500, 540, "desert sand, later parcelled"),
    _b("aguasclaras", "soil", "1", 335, 345, 205, 235, "red soil of a building site"),
    _b("aguasclaras", "soil", "1", 345, 358, 92, 110, "red soil, later a white-roofed hall"),
    _b("beihai", "soil", "both", 522, 534, 605, 635, "sand quarry floor"),
    _b("aguasclaras", "soil", "both", 138, 150, 0, 120, "red soil verge of the motorway"),
    _b("mumbai", "soil", "both", 365, 392, 290, 340,
       "bare ground of the Deonar landfill (debris and soil cover)"),
    # vegetation
    _b("cupertino", "vegetation", "both", 10, 55, 100, 165, "golf course"),
    _b("aguasclaras", "vegetation", "both", 170, 200, 190, 240, "gallery forest"),
    _b("beihai", "vegetation", "1", 560, 600, 510, 540, "woodland, cleared later"),
    _b("bordeaux", "vegetation", "both", 178, 192, 212, 242, "lawns of the Jardin Public"),
    _b("abudhabi", "vegetation", "both", 385, 430, 440, 500, "irrigated interchange planting"),
    # asphalt
    _b("abudhabi", "asphalt", "both", 436, 446, 20, 430, "east-west boulevard"),
    _b("abudhabi", "asphalt", "both", 196, 206, 20, 280, "boulevard, north"),
    _b("cupertino", "asphalt", "both", 800, 1010, 562, 569, "De Anza Boulevard"),
    _b("cupertino", "asphalt", "both", 759, 767, 480, 640, "Stevens Creek Boulevard"),
    # bright roofs
    _b("cupertino", "bright_roof", "both", 0, 130, 0, 80, "office park roofs"),
    _b("aguasclaras", "bright_roof", "both", 300, 318, 125, 145, "white-roofed warehouse"),
    _b("aguasclaras", "bright_roof", "2", 345, 356, 92, 110, "new white-roofed hall"),
    _b("beihai", "bright_roof", "both", 380, 420, 390, 450, "industrial halls"),
    # built-up fabric
    _b("bordeaux", "building", "both", 270, 330, 200, 265, "old town, tiled roofs"),
    _b("bordeaux", "building", "both", 60, 130, 200, 250, "old town north"),
    _b("mumbai", "building", "both", 400, 470, 250, 300, "dense low-rise housing"),
    _b("paris", "building", "both", 60, 140, 40, 140, "Haussmann blocks"),
    _b("abudhabi", "building", "both", 145, 200, 402, 460, "institutional compound, built core"),
    _b("abudhabi", "building", "both", 372, 416, 136, 198, "villa blocks"),
    _b("aguasclaras", "building", "both", 425, 465, 30, 110, "dense houses"),
    _b("beihai", "building", "both", 820, 880, 40, 110, "village"),
    # water
    _b("bordeaux", "water", "both", 82, 105, 392, 430, "Garonne (turbid in 2017)"),
    _b("bordeaux", "water", "both", 180, 240, 292, 318, "Garonne, left bank"),
    _b("bordeaux", "water", "both", 282, 305, 365, 400, "Garonne, south of the bridge"),
    _b("mumbai", "water", "both", 275, 295, 318, 345, "settling pond"),
    _b("beihai", "water", "both", 537, 547, 684, 692, "quarry pond (turquoise)"),
    _b("beihai", "water", "both", 544, 552, 666, 670, "quarry pond (teal)"),
)


#: Held-out boxes in five cities of ``oscd-unlabelled`` that were never used to set the
#: typing rules: built fabric on both dates and bare soil on the second (or both) dates,
#: picked the same way, for a demolition check on scenes the rules never saw.
HELD_OUT_BOXES: tuple[Box, ...] = (
    _b("dubai", "building", "both", 705, 745, 565, 630, "villa cluster (sand-coloured)"),
    _b("dubai", "soil", "both", 640, 700, 330, 420, "open desert"),
    _b("lasvegas", "building", "both", 592, 628, 162, 192, "subdivision houses"),
    _b("lasvegas", "soil", "both", 446, 460, 190, 240, "open desert lot"),
    _b("brasilia", "building", "both", 10, 60, 340, 420, "Lago Norte houses"),
    _b("brasilia", "soil", "2", 58, 92, 122, 150, "red laterite of a building site"),
    _b("valencia", "building", "both", 150, 200, 275, 335, "red-tiled blocks"),
    _b("valencia", "soil", "both", 350, 372, 285, 322, "ploughed fields"),
    _b("montpellier", "building", "both", 165, 210, 0, 45, "red-tiled old town"),
    _b("montpellier", "soil", "2", 20, 45, 330, 375, "building-site ground"),
)


def _angle(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Spectral angle (rad) of (B, K) spectra to a (B,) reference."""
    cos = (ref @ x) / (np.linalg.norm(x, axis=0) * np.linalg.norm(ref) + 1e-12)
    return np.arccos(np.clip(cos, -1, 1))


def pure_pixels(x: np.ndarray, material: str) -> np.ndarray:
    """Boolean (K,) of the box's (B, K) pixels kept by the material's purity filter."""
    ok = np.isfinite(x).all(axis=0)
    if not ok.any():
        return ok
    band = {b: i for i, b in enumerate(BANDS)}
    vis = x[[band["B02"], band["B03"], band["B04"]]].mean(axis=0)
    if material == "vegetation":
        nd = (x[band["B08"]] - x[band["B04"]]) / (x[band["B08"]] + x[band["B04"]] + 1e-9)
        return ok & (nd >= np.nanpercentile(nd[ok], 50))
    if material == "asphalt":  # the darker half of the box's less green pixels
        nd = (x[band["B08"]] - x[band["B04"]]) / (x[band["B08"]] + x[band["B04"]] + 1e-9)
        bare = ok & (nd <= np.nanpercentile(nd[ok], 40))
        return bare & (vis <= np.nanpercentile(vis[bare], 50))
    if material == "bright_roof":
        return ok & (vis >= np.nanpercentile(vis[ok], 88))
    ang = _angle(np.where(ok, x, 0), np.nanmedian(x[:, ok], axis=1))
    return ok & (ang <= np.nanpercentile(ang[ok], 60))
