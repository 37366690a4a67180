"""Type each changed pixel from its before/after spectra, with documented rules.

The rules read the spectral indices of both dates
(:mod:`sitewatch.detectors.indices`) and are applied in this order; the first
that holds gives the type (:class:`~sitewatch.types.ChangeType`):

==============  ===============================================================
type            rule (``_b`` before, ``_a`` after, ``d`` = after - before)
==============  ===============================================================
WATER           water on one date only: ``max(MNDWI_b, MNDWI_a) > 0.1`` and
                ``|dMNDWI| > 0.2``
CONSTRUCTION    bare soil appears: ``BSI_a > 0`` and ``dBSI > 0.05`` and
                ``NDVI_a < 0.25`` (clearing, earthworks, a building site)
DEMOLITION      built surface (not bare soil) gives way to plants: built before
                (``NDBI_b > 0.05``, ``NDVI_b < 0.2``, ``BSI_b < 0.05``) and
                ``dNDVI > 0.2`` (bare soil that greens is VEGETATION)
ROOF            a new bright surface that is not soil: ``dBright > 0.02`` and
                ``NDVI_a < 0.25`` and ``BSI_a < 0.05``
PAVING          a new dark impervious surface: ``dBright < -0.01`` and
                ``NDVI_a < 0.25`` and ``MNDWI_a < 0``
VEGETATION      ``|dNDVI| > 0.1`` (anything else about plants)
OTHER           none of the above
==============  ===============================================================

Thresholds are in index units (NDVI etc. in [-1, 1]) and reflectance
(brightness, 0-1) and hold for Level-1C and Level-2A alike to first order;
they are rules of thumb from the indices' literature, not trained, and a
region takes the most frequent type of its pixels. Known limits: seasonal
greening of dry grass or fields can pass for demolition or vegetation change,
and roofs vary (dark roofs read as paving); the type is a hint for the analyst,
not a measurement.

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
    (ChangeType.WATER, "max(MNDWI_b, MNDWI_a) > 0.1 and |dMNDWI| > 0.2"),
    (ChangeType.CONSTRUCTION, "BSI_a > 0 and dBSI > 0.05 and NDVI_a < 0.25"),
    (ChangeType.DEMOLITION, "NDBI_b > 0.05 and NDVI_b < 0.2 and BSI_b < 0.05 and dNDVI > 0.2"),
    (ChangeType.ROOF, "dBright > 0.02 and NDVI_a < 0.25 and BSI_a < 0.05"),
    (ChangeType.PAVING, "dBright < -0.01 and NDVI_a < 0.25 and MNDWI_a < 0"),
    (ChangeType.VEGETATION, "|dNDVI| > 0.1"),
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
    with np.errstate(invalid="ignore"):
        rules = [
            (ChangeType.WATER, (np.maximum(ib["mndwi"], ia["mndwi"]) > 0.1)
             & (np.abs(d["mndwi"]) > 0.2)),
            (ChangeType.CONSTRUCTION, (ia["bsi"] > 0) & (d["bsi"] > 0.05) & (ia["ndvi"] < 0.25)),
            (ChangeType.DEMOLITION, (ib["ndbi"] > 0.05) & (ib["ndvi"] < 0.2)
             & (ib["bsi"] < 0.05) & (d["ndvi"] > 0.2)),
            (ChangeType.ROOF, (d["brightness"] > 0.02) & (ia["ndvi"] < 0.25)
             & (ia["bsi"] < 0.05)),
            (ChangeType.PAVING, (d["brightness"] < -0.01) & (ia["ndvi"] < 0.25)
             & (ia["mndwi"] < 0)),
            (ChangeType.VEGETATION, np.abs(d["ndvi"]) > 0.1),
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
