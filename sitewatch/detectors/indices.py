"""Spectral indices of Sentinel-2 reflectance and their before/after differences.

=========  ===========================================  ==========================
index      formula (Sentinel-2 bands)                   reference
=========  ===========================================  ==========================
NDVI       (B08 - B04) / (B08 + B04)                    Rouse et al. 1974
NDBI       (B11 - B08) / (B11 + B08)                    Zha, Gao, Ni 2003
BSI        ((B11 + B04) - (B08 + B02)) /                Rikimaru, Roy, Miyatake 2002
           ((B11 + B04) + (B08 + B02))
MNDWI      (B03 - B11) / (B03 + B11)                    Xu 2006
brightness mean of B02, B03, B04, B08 (reflectance)     -
=========  ===========================================  ==========================

Normalised differences are bounded in [-1, 1] and insensitive to a common
gain on both bands; they are NaN where both bands are zero or missing.

Examples
--------
>>> import numpy as np
>>> names = ("B02", "B03", "B04", "B08", "B11")
>>> x = np.array([0.05, 0.08, 0.06, 0.40, 0.20], "float32").reshape(5, 1, 1)  # vegetation
>>> {k: round(float(v[0, 0]), 3) for k, v in spectral_indices(x, names).items()}
{'ndvi': 0.739, 'ndbi': -0.333, 'bsi': -0.268, 'mndwi': -0.429, 'brightness': 0.148}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sitewatch.detectors.base import FitState
from sitewatch.detectors.registry import register_detector
from sitewatch.detectors.statistic import StatisticDetector
from sitewatch.errors import DetectorError

__all__ = ["normalized_difference", "ndvi", "ndbi", "bsi", "mndwi", "brightness",
           "spectral_indices", "index_differences", "INDEX_BANDS", "IndexDetector"]

#: The bands the indices need.
INDEX_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08", "B11")


def normalized_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x - y) / (x + y)``, NaN where the sum is zero.

    Examples
    --------
    >>> normalized_difference(np.array([3.0, 0.0]), np.array([1.0, 0.0]))
    array([0.5, nan], dtype=float32)
    """
    x = np.asarray(x, "float32")
    y = np.asarray(y, "float32")
    s = x + y
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s != 0, (x - y) / s, np.nan).astype("float32")


def _band(x: np.ndarray, names: Sequence[str], name: str) -> np.ndarray:
    try:
        return np.asarray(x[list(names).index(name)], "float32")
    except ValueError:
        raise DetectorError(f"spectral indices need band {name}; have "
                            f"{', '.join(names) or 'none'}: load it from the source") from None


def ndvi(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Normalised difference vegetation index of a (B, M, N) stack.

    Examples
    --------
    >>> float(ndvi(np.array([[[0.1]], [[0.3]]]), ("B04", "B08"))[0, 0])
    0.5
    """
    return normalized_difference(_band(x, names, "B08"), _band(x, names, "B04"))


def ndbi(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Normalised difference built-up index (Zha et al. 2003).

    Examples
    --------
    >>> float(ndbi(np.array([[[0.2]], [[0.3]]]), ("B08", "B11"))[0, 0])
    0.2
    """
    return normalized_difference(_band(x, names, "B11"), _band(x, names, "B08"))


def bsi(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Bare soil index (Rikimaru et al. 2002).

    Examples
    --------
    >>> x = np.array([0.1, 0.2, 0.2, 0.3]).reshape(4, 1, 1)
    >>> round(float(bsi(x, ("B02", "B04", "B08", "B11"))[0, 0]), 3)
    0.25
    """
    s = _band(x, names, "B11") + _band(x, names, "B04")
    v = _band(x, names, "B08") + _band(x, names, "B02")
    return normalized_difference(s, v)


def mndwi(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Modified normalised difference water index (Xu 2006).

    Examples
    --------
    >>> float(mndwi(np.array([[[0.3]], [[0.1]]]), ("B03", "B11"))[0, 0])
    0.5
    """
    return normalized_difference(_band(x, names, "B03"), _band(x, names, "B11"))


def brightness(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Mean reflectance of the four 10 m bands (B02, B03, B04, B08).

    Examples
    --------
    >>> float(brightness(np.full((4, 1, 1), 0.2), ("B02", "B03", "B04", "B08"))[0, 0])
    0.2
    """
    return np.mean([_band(x, names, b) for b in ("B02", "B03", "B04", "B08")], axis=0,
                   dtype="float32")


def spectral_indices(x: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Every index of one (B, M, N) reflectance stack, by name.

    Examples
    --------
    >>> sorted(spectral_indices(np.full((5, 1, 1), 0.1), INDEX_BANDS))
    ['brightness', 'bsi', 'mndwi', 'ndbi', 'ndvi']
    """
    return {"ndvi": ndvi(x, names), "ndbi": ndbi(x, names), "bsi": bsi(x, names),
            "mndwi": mndwi(x, names), "brightness": brightness(x, names)}


def index_differences(before: np.ndarray, after: np.ndarray, names: Sequence[str]
                      ) -> dict[str, np.ndarray]:
    """``after - before`` of every index (keys ``d_ndvi``, ``d_ndbi``...).

    Examples
    --------
    >>> b = np.full((5, 1, 1), 0.1); a = b.copy(); a[3] = 0.3   # NIR up: greener
    >>> round(float(index_differences(b, a, INDEX_BANDS)["d_ndvi"][0, 0]), 3)
    0.5
    """
    ib, ia = spectral_indices(before, names), spectral_indices(after, names)
    return {f"d_{k}": ia[k] - ib[k] for k in ib}


@register_detector("indices", summary="Differences of NDVI, NDBI, BSI and MNDWI: length of "
                   "the index change vector, calibrated threshold.", bands=INDEX_BANDS)
class IndexDetector(StatisticDetector):
    """Index differencing: ``sqrt(dNDVI^2 + dNDBI^2 + dBSI^2 + dMNDWI^2)``.

    Normalised-difference indices cancel a common gain on their bands, so this
    statistic is less sensitive to illumination than raw CVA; it responds to
    changes in vegetation, built-up, bare-soil and water signatures. Thresholds
    as :class:`~sitewatch.detectors.statistic.StatisticDetector`; each changed
    pixel is typed with :func:`sitewatch.detectors.changetype.classify_change`.

    Parameters
    ----------
    threshold, far, bulk, null_family
        See :class:`~sitewatch.detectors.statistic.StatisticDetector`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> b = rng.uniform(0.05, 0.3, (5, 30, 30)).astype("float32")
    >>> a = b * 1.05                     # a common gain: indices do not move
    >>> a[3, 5:10, 5:10] *= 2.5          # NIR up in a patch
    >>> cm = IndexDetector(band_names=INDEX_BANDS, threshold=0.1).run(b, a)
    >>> int(cm.mask.sum())
    25
    """

    null_power = 2.0

    def statistic(self, state: FitState, before: np.ndarray, after: np.ndarray,
                  valid: np.ndarray) -> np.ndarray:
        d = index_differences(before, after, self.band_names)
        s = sum(d[k] ** 2 for k in ("d_ndvi", "d_ndbi", "d_bsi", "d_mndwi"))
        return np.sqrt(np.asarray(s, "float32"))

    def extra_outputs(self, state: FitState, before: np.ndarray, after: np.ndarray,
                      valid: np.ndarray, stat: np.ndarray) -> dict[str, Any]:
        from sitewatch.detectors.changetype import classify_change

        mask = valid & (stat > float(state["cut"]))
        return {"change_type": classify_change(before, after, self.band_names, mask)}
