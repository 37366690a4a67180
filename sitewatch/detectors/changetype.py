"""Type each changed pixel from its before/after spectra, with documented rules.

The rules read the spectral indices of both dates
(:mod:`sitewatch.detectors.indices`) and are applied in this order; the first
that holds gives the type (:class:`~sitewatch.types.ChangeType`):

==============  ===============================================================
type            rule (``_b`` before, ``_a`` after, ``d`` = after - before)
==============  ===============================================================
WATER           water on one date only: on that date ``MNDWI > 0.1`` and
                ``B11 < 0.06`` (water absorbs short-wave infrared; bright roofs
                and hazy built-up areas with a high MNDWI do not), not on the
                other, and ``|dMNDWI| > 0.2``
DEMOLITION      bare soil appears (``BSI_a > 0``, ``dBSI > 0.05``,
                ``NDVI_a < 0.25``) on a built surface, neither plants nor
                soil before (``NDVI_b < 0.4``, ``NDBI_b >= -0.1``,
                ``BSI_b < 0.05``): a building or a pavement removed; or a built
                surface gives way to plants (``NDBI_b > 0.05``,
                ``NDVI_b < 0.2``, ``BSI_b < 0.05``, ``dNDVI > 0.2``); or, with
                B12, a soil mineral appears on a surface that showed none
                (:func:`mineral_soil_appears`): bare after (``BSI_a > 0``,
                ``NDVI_a < 0.25``), before neither plants (``NDVI_b < 0.25``)
                nor clay (``B11/B12 < 1.3``) nor iron oxides
                (``B04/B02 < 1.35``), after clay (``B11/B12 >= 1.3``, up by
                0.1, ground no darker) or iron oxides (``B04/B02 >= 1.35``,
                up by 0.15): a soil-coloured building (sand-coloured walls,
                red-dusted roofs) cleared down to the ground
CONSTRUCTION    bare soil appears anywhere else: plants cleared, a building
                site's soil reworked, earthworks
ROOF            a new bright surface that is not soil: ``dBright > 0.02``,
                ``NDVI_a < 0.25`` and (``BSI_a < 0.05`` or ``dBSI < -0.03``:
                less soil-like than before, for roofs dusted with red soil)
PAVING          a new dark impervious surface: ``dBright < -0.01``,
                ``NDVI_a < 0.25`` and ``MNDWI_a < 0``
VEGETATION      ``|dNDVI| > 0.1``, or plants on both dates (``NDVI > 0.25``
                on both: seasons, crops, growth)
OTHER           none of the above
==============  ===============================================================

Thresholds are in index units (NDVI etc. in [-1, 1]) and reflectance
(brightness, B11: 0-1) and hold for Level-1C and Level-2A alike to first order.
They are rules of thumb from the indices' literature, checked on semi-synthetic
transitions built from real OSCD spectra (``benchmarks/bench_typing.py``, results in
``benchmarks/RESULTS.md``): region accuracy 0.93-1.00 for paving, construction,
roof and water, 0.91 for seasonal vegetation, 0.84 for demolition; on five cities
never used to set the rules, 0.42 for demolition (desert cities yes; red-tile towns,
garden suburbs and pale fill no). A region is named from the area shares of its pixels' types
(:mod:`sitewatch.detectors.composition`).

Why minerals: a building whose walls and roofs have the colour of the local soil
(Abu Dhabi, Aguas Claras) has the soil's BSI, so "bare soil appears" cannot see it
go. What it lacks is the soil's minerals: clay absorbs near 2.2 µm (B12), iron
oxides absorb blue light (B02), while concrete, asphalt, metal and fired tiles
(firing drives off the clay's hydroxyl) show neither. Reworked soil showed its
minerals on both dates, so it stays construction / clearing.

Known limits: a built surface that turns into a soil without clay or iron oxides
(pale limestone fill, white sand), or a garden suburb whose pixels hold trees
(``NDVI_b >= 0.25``), reads as construction, paving or mixed rather than
demolition; a building site's pale fill without minerals turned into red soil
reads as demolition; the iron-oxide ratio is read through the atmosphere on
Level-1C, and haze or a low sun lowers it; soil that turns pale (white sand) can
read as a new roof; dark roofs read as paving; drying grass can read as clearing.
The type is a hint for the analyst, not a measurement.

Examples
--------
>>> import numpy as np
>>> from sitewatch.detectors.indices import INDEX_BANDS
>>> veg = np.array([0.04, 0.07, 0.05, 0.35, 0.18])       # B02 B03 B04 B08 B11
>>> soil = np.array([0.10, 0.13, 0.16, 0.22, 0.32])
>>> b = veg.reshape(5, 1, 1); a = soil.reshape(5, 1, 1)
>>> ChangeType(int(classify_change(b, a, INDEX_BANDS)[0, 0])).slug
'construction'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sitewatch.detectors.indices import spectral_indices
from sitewatch.types import ChangeType

__all__ = ["classify_change", "TYPE_RULES", "mineral_ratios", "mineral_soil_appears",
           "CLAY_RATIO", "FERRIC_RATIO", "CLAY_GAIN", "FERRIC_GAIN", "PLANTS_NDVI"]

#: B11/B12 at or above which a surface shows the 2.2 µm absorption of clay minerals
#: (Al-OH, Mg-OH: kaolinite, smectite, illite), the clay minerals ratio of Drury (1987).
CLAY_RATIO = 1.3
#: B04/B02 at or above which a surface shows the blue absorption of ferric iron oxides
#: (hematite, goethite), the iron oxide ratio of Segal (1982).
FERRIC_RATIO = 1.35
#: Rise of B11/B12 that counts as a clay signature appearing.
CLAY_GAIN = 0.10
#: Rise of B04/B02 that counts as an iron-oxide signature appearing (above the drift of
#: unchanged built fabric between two dates of one place, up to about 0.15 at top of
#: atmosphere).
FERRIC_GAIN = 0.15
#: NDVI at or above which a surface holds plants (the rules' threshold throughout).
PLANTS_NDVI = 0.25

#: Human-readable rules in the order they are tried (for reports and docs).
TYPE_RULES: tuple[tuple[ChangeType, str], ...] = (
    (ChangeType.WATER, "water on one date only (MNDWI > 0.1 and B11 < 0.06 on that date, "
                       "not on the other) and |dMNDWI| > 0.2"),
    (ChangeType.DEMOLITION, "bare soil appears (BSI_a > 0, dBSI > 0.05, NDVI_a < 0.25) on a "
                            "built surface (NDVI_b < 0.4, NDBI_b >= -0.1, BSI_b < 0.05), or "
                            "plants on one (NDBI_b > 0.05, NDVI_b < 0.2, BSI_b < 0.05, "
                            "dNDVI > 0.2), or a soil mineral appears on bare ground where "
                            "neither plants nor minerals were (NDVI_b < 0.25, B11/B12 < 1.3, "
                            "B04/B02 < 1.35 before; B11/B12 >= 1.3 up by 0.1 on ground no "
                            "darker, or B04/B02 >= 1.35 up by 0.15 after)"),
    (ChangeType.CONSTRUCTION, "bare soil appears anywhere else: plants cleared, soil reworked"),
    (ChangeType.ROOF, "dBright > 0.02 and NDVI_a < 0.25 and (BSI_a < 0.05 or dBSI < -0.03)"),
    (ChangeType.PAVING, "dBright < -0.01 and NDVI_a < 0.25 and MNDWI_a < 0"),
    (ChangeType.VEGETATION, "|dNDVI| > 0.1, or plants on both dates (NDVI > 0.25 on both)"),
    (ChangeType.OTHER, "otherwise"),
)


def mineral_ratios(x: np.ndarray, band_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The clay (B11/B12) and ferric iron (B04/B02) ratios of a (B, M, N) stack.

    Clay minerals absorb near 2.2 µm, in B12, so a clay-bearing soil has a high
    B11/B12 (Drury 1987); iron oxides absorb blue light, so a red or yellow soil
    has a high B04/B02 (Segal 1982). Built materials show neither: concrete,
    asphalt and metal are flat, and firing a clay tile drives off the hydroxyl
    that makes the 2.2 µm absorption. NaN where the denominator is zero.

    Examples
    --------
    >>> names = ("B02", "B04", "B11", "B12")
    >>> red_soil = np.array([0.14, 0.26, 0.39, 0.29]).reshape(4, 1, 1)
    >>> [round(float(r[0, 0]), 2) for r in mineral_ratios(red_soil, names)]
    [1.34, 1.86]
    """
    names = list(band_names)

    def band(name: str) -> np.ndarray:
        return np.asarray(x[names.index(name)], "float32")

    with np.errstate(invalid="ignore", divide="ignore"):
        clay = np.where(band("B12") != 0, band("B11") / band("B12"), np.nan)
        ferric = np.where(band("B02") != 0, band("B04") / band("B02"), np.nan)
    return clay.astype("float32"), ferric.astype("float32")


def mineral_soil_appears(before: np.ndarray, after: np.ndarray, band_names: Sequence[str],
                         ib: dict[str, np.ndarray] | None = None,
                         ia: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Where bare mineral soil appears on a surface that showed no soil minerals and no plants.

    The evidence of a demolition whose building looked like soil (sand-coloured
    walls, red-dusted roofs): the after date is bare (``BSI > 0``, ``NDVI < 0.25``)
    and shows a soil mineral that the before date lacked. Before: no plants
    (``NDVI < PLANTS_NDVI``), no clay signature (``B11/B12 < CLAY_RATIO``) and no
    iron-oxide signature (``B04/B02 < FERRIC_RATIO``). After: one of them appears,
    ``B11/B12 >= CLAY_RATIO`` risen by ``CLAY_GAIN`` on ground no darker than before
    (water and organic matter - wet ground, mulch, plant litter - raise B11/B12 as
    well, but they darken the ground), or ``B04/B02 >= FERRIC_RATIO`` risen by
    ``FERRIC_GAIN``. Reworked soil already showed its minerals before, so it is not
    called demolition.

    Parameters
    ----------
    before, after : (B, M, N) ndarray
        Reflectance holding B02, B04, B08, B11, B12 (and B03 when ``ib``/``ia`` are not given).
    band_names : sequence of str
    ib, ia : dict, optional
        :func:`~sitewatch.detectors.indices.spectral_indices` of both dates, when already
        computed.

    Returns
    -------
    (M, N) bool ndarray

    Notes
    -----
    The iron-oxide ratio is read at the top of the atmosphere too (Level-1C): haze and a
    low sun add blue path radiance and lower it, so under haze fewer demolitions are
    found this way, and a hazy before date can hide a soil's iron.

    References
    ----------
    Segal, D. B. (1982). Theoretical basis for differentiation of ferric-iron bearing
    minerals, using Landsat MSS data. Proc. 2nd Thematic Conf. Remote Sensing for
    Exploration Geology, 949-951.
    Drury, S. A. (1987). Image Interpretation in Geology. Allen & Unwin.
    van der Meer, F. D. et al. (2014). Potential of ESA's Sentinel-2 for geological
    applications. Remote Sensing of Environment 148, 124-133.

    Examples
    --------
    >>> from sitewatch.detectors.indices import INDEX_BANDS
    >>> names = (*INDEX_BANDS, "B12")                        # B02 B03 B04 B08 B11 B12
    >>> compound = np.array([0.21, 0.23, 0.26, 0.29, 0.33, 0.27]).reshape(6, 1, 1)
    >>> desert = np.array([0.24, 0.30, 0.36, 0.40, 0.47, 0.38]).reshape(6, 1, 1)
    >>> bool(mineral_soil_appears(compound, desert, names)[0, 0])
    True
    >>> bool(mineral_soil_appears(desert, desert * 1.1, names)[0, 0])  # reworked sand
    False
    """
    ib = spectral_indices(before, band_names) if ib is None else ib
    ia = spectral_indices(after, band_names) if ia is None else ia
    clay_b, ferric_b = mineral_ratios(before, band_names)
    clay_a, ferric_a = mineral_ratios(after, band_names)
    with np.errstate(invalid="ignore"):
        bare_after = (ia["bsi"] > 0) & (ia["ndvi"] < PLANTS_NDVI)
        plain_before = (ib["ndvi"] < PLANTS_NDVI) & (clay_b < CLAY_RATIO) \
            & (ferric_b < FERRIC_RATIO)
        # water and organic matter (wet ground, mulch, litter) raise B11/B12 too, but they
        # darken the ground; clay does not
        clay_appears = (clay_a >= CLAY_RATIO) & (clay_a - clay_b >= CLAY_GAIN) \
            & (ia["brightness"] >= ib["brightness"])
        iron_appears = (ferric_a >= FERRIC_RATIO) & (ferric_a - ferric_b >= FERRIC_GAIN)
        minerals_appear = clay_appears | iron_appears
    return np.asarray(bare_after & plain_before & minerals_appear)


def classify_change(before: np.ndarray, after: np.ndarray, band_names: Sequence[str],
                    mask: np.ndarray | None = None) -> np.ndarray:
    """(M, N) uint8 :class:`ChangeType` codes of changed pixels (0 outside ``mask``).

    Parameters
    ----------
    before, after : (B, M, N) ndarray
        Reflectance holding at least B02, B03, B04, B08, B11 (named in ``band_names``).
    band_names : sequence of str
    mask : (M, N) bool ndarray, optional
        Changed pixels (default: all).

    Returns
    -------
    (M, N) uint8 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> names = ("B02", "B03", "B04", "B08", "B11")
    >>> b = np.array([0.10, 0.12, 0.14, 0.20, 0.25]).reshape(5, 1, 1)   # soil
    >>> a = np.array([0.06, 0.07, 0.07, 0.09, 0.10]).reshape(5, 1, 1)   # asphalt
    >>> ChangeType(int(classify_change(b, a, names)[0, 0])).slug
    'paving'
    """
    ib = spectral_indices(before, band_names)
    ia = spectral_indices(after, band_names)
    d = {k: ia[k] - ib[k] for k in ib}
    swir = list(band_names).index("B11")
    with np.errstate(invalid="ignore"):
        # water absorbs short-wave infrared: bright roofs and hazy built-up areas with a
        # high MNDWI do not
        water_b = (ib["mndwi"] > 0.1) & (np.asarray(before[swir]) < 0.06)
        water_a = (ia["mndwi"] > 0.1) & (np.asarray(after[swir]) < 0.06)
        soil_appears = (ia["bsi"] > 0) & (d["bsi"] > 0.05) & (ia["ndvi"] < 0.25)
        # built before: neither plants nor bare soil (a building site reworked is not a
        # demolition)
        built_before = (ib["ndvi"] < 0.4) & (ib["ndbi"] >= -0.1) & (ib["bsi"] < 0.05)
        demolition = (soil_appears & built_before) \
            | ((ib["ndbi"] > 0.05) & (ib["ndvi"] < 0.2) & (ib["bsi"] < 0.05) & (d["ndvi"] > 0.2))
        if "B12" in band_names:  # soil-coloured built surfaces: the minerals tell them apart
            demolition |= mineral_soil_appears(before, after, band_names, ib, ia)
        rules = [
            (ChangeType.WATER, (water_b != water_a) & (np.abs(d["mndwi"]) > 0.2)),
            (ChangeType.DEMOLITION, demolition),
            (ChangeType.CONSTRUCTION, soil_appears),
            (ChangeType.ROOF, (d["brightness"] > 0.02) & (ia["ndvi"] < 0.25)
             & ((ia["bsi"] < 0.05) | (d["bsi"] < -0.03))),
            (ChangeType.PAVING, (d["brightness"] < -0.01) & (ia["ndvi"] < 0.25)
             & (ia["mndwi"] < 0)),
            (ChangeType.VEGETATION, (np.abs(d["ndvi"]) > 0.1)
             | ((ib["ndvi"] > 0.25) & (ia["ndvi"] > 0.25))),
        ]
    out = np.full(ib["ndvi"].shape, int(ChangeType.OTHER), "uint8")
    decided = np.zeros(out.shape, bool)
    for code, cond in rules:
        hit = cond & ~decided
        out[hit] = int(code)
        decided |= hit
    if mask is not None:
        out[~np.asarray(mask, bool)] = 0
    return out
