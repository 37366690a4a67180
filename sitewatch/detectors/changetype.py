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
                ``NDVI_b < 0.2``, ``BSI_b < 0.05``, ``dNDVI > 0.2``)
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
``benchmarks/RESULTS.md``): region accuracy 0.89-1.00 for paving, construction,
roof, water and seasonal vegetation, 0.40 for demolition. A region is named from
the area shares of its pixels' types (:mod:`sitewatch.detectors.composition`).
Known limits: built-up areas whose spectrum is soil-like (sand-coloured compounds,
red-dusted roofs, red tiles) turning into bare soil read as paving, other change or
mixed rather than demolition, because two dates of per-pixel spectra cannot tell
them from reworked soil (a rule that caught them would call a building site's
reworked soil demolition); soil that turns pale (white sand) can read as a new roof;
dark roofs read as paving; drying grass can read as clearing. The type is a hint for
the analyst, not a measurement.

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

__all__ = ["classify_change", "TYPE_RULES"]

#: Human-readable rules in the order they are tried (for reports and docs).
TYPE_RULES: tuple[tuple[ChangeType, str], ...] = (
    (ChangeType.WATER, "water on one date only (MNDWI > 0.1 and B11 < 0.06 on that date, "
                       "not on the other) and |dMNDWI| > 0.2"),
    (ChangeType.DEMOLITION, "bare soil appears (BSI_a > 0, dBSI > 0.05, NDVI_a < 0.25) on a "
                            "built surface (NDVI_b < 0.4, NDBI_b >= -0.1, BSI_b < 0.05), or "
                            "plants on one (NDBI_b > 0.05, NDVI_b < 0.2, BSI_b < 0.05, "
                            "dNDVI > 0.2)"),
    (ChangeType.CONSTRUCTION, "bare soil appears anywhere else: plants cleared, soil reworked"),
    (ChangeType.ROOF, "dBright > 0.02 and NDVI_a < 0.25 and (BSI_a < 0.05 or dBSI < -0.03)"),
    (ChangeType.PAVING, "dBright < -0.01 and NDVI_a < 0.25 and MNDWI_a < 0"),
    (ChangeType.VEGETATION, "|dNDVI| > 0.1, or plants on both dates (NDVI > 0.25 on both)"),
    (ChangeType.OTHER, "otherwise"),
)


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
        rules = [
            (ChangeType.WATER, (water_b != water_a) & (np.abs(d["mndwi"]) > 0.2)),
            (ChangeType.DEMOLITION, (soil_appears & built_before)
             | ((ib["ndbi"] > 0.05) & (ib["ndvi"] < 0.2) & (ib["bsi"] < 0.05)
                & (d["ndvi"] > 0.2))),
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
