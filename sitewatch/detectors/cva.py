"""Change vector analysis (CVA).

The change vector of a pixel is ``after - before`` across bands; its length
(magnitude) measures how much the spectrum moved, its angle to the before
spectrum (spectral angle) what kind of move it was.

References
----------
W. A. Malila, "Change vector analysis: an approach for detecting forest
changes with Landsat", LARS Symposia, 1980.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sitewatch.detectors.base import FitState, check_pair
from sitewatch.detectors.params import Param, with_params
from sitewatch.detectors.registry import register_detector
from sitewatch.detectors.statistic import StatisticDetector

__all__ = ["change_vector", "change_direction", "spectral_angle", "CVADetector", "check_pair"]


def change_vector(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
                  ) -> np.ndarray:
    """(M, N) magnitude of the change vector; NaN where either date is missing.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.zeros((2, 1, 2), "float32"); a = b.copy(); a[:, 0, 1] = [3, 4]
    >>> change_vector(b, a)
    array([[0., 5.]], dtype=float32)
    """
    b, a, ok = check_pair(before, after, valid)
    mag = np.sqrt(np.sum((a - b) ** 2, axis=0, dtype="float32"))
    mag[~ok] = np.nan
    return mag


def spectral_angle(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(M, N) angle in radians between the before and after spectra.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.array([1, 0], "float32").reshape(2, 1, 1)
    >>> a = np.array([0, 1], "float32").reshape(2, 1, 1)
    >>> round(float(spectral_angle(b, a)[0, 0]), 4)
    1.5708
    """
    b = np.asarray(before, dtype="float32")
    a = np.asarray(after, dtype="float32")
    dot = np.sum(a * b, axis=0)
    norm = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.arccos(np.clip(dot / norm, -1, 1)).astype("float32")


def change_direction(delta_x: np.ndarray, delta_y: np.ndarray) -> np.ndarray:
    """Direction of a 2-D change vector in degrees (0-360, counter-clockwise from +x).

    The classic CVA direction (Malila 1980): with ``delta_x`` the change of
    one feature (e.g. brightness) and ``delta_y`` of another (e.g. NDVI), the
    quadrant says the kind of change (brighter and less green: clearing).

    Examples
    --------
    >>> import numpy as np
    >>> change_direction(np.array([1.0, 0.0, -1.0]), np.array([0.0, 1.0, -1.0]))
    array([  0.,  90., 225.])
    """
    ang = np.degrees(np.arctan2(np.asarray(delta_y, "float64"), np.asarray(delta_x, "float64")))
    return np.mod(ang, 360.0)


@register_detector("cva", summary="Change vector analysis: length of the per-pixel spectral "
                   "difference, histogram or calibrated cut.")
class CVADetector(StatisticDetector):
    """Change vector analysis (Malila 1980): the Euclidean length of ``after - before``.

    The statistic is the magnitude of the change vector in reflectance units
    over the given bands, cut by default at the higher of Otsu's and
    Kittler-Illingworth's thresholds (``"bimodal"``: above the no-change bulk
    when little changed, where Otsu alone splits the bulk; pooled F1 on the
    9 OSCD cities, six bands: 0.27 against Otsu's 0.16, in
    ``benchmarks/results/timeline.md``), or
    by a calibrated false-alarm rate (``threshold="far"``, ``far``), Otsu,
    Kittler-Illingworth or a number. No fit pass beyond the
    threshold's histogram. Sensitive to radiometric differences between the
    dates (season, haze, L1C vs L2A): prefer ``irmad`` or the default detector
    for real pairs.

    Parameters
    ----------
    threshold, far, bulk, null_family
        See :class:`~sitewatch.detectors.statistic.StatisticDetector`.
    normalize : bool
        First map the after image onto the before image's radiometry from
        IR-MAD invariant pixels (:mod:`sitewatch.detectors.normalize`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> b = rng.normal(0.2, 0.01, (4, 20, 20)).astype("float32"); a = b.copy()
    >>> a[:, 5:10, 5:10] += 0.2
    >>> cm = CVADetector(threshold="otsu").run(b, a)
    >>> int(cm.mask.sum()), bool(cm.mask[5:10, 5:10].all())
    (25, True)
    """

    null_power = 2.0

    # the calibrated cut is -p threshold=far
    parameters = with_params(
        StatisticDetector.parameters,
        Param("normalize", False, "First map the after image onto the before image's "
              "radiometry from IR-MAD invariant pixels.", kind=bool),
        threshold="bimodal")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.params["normalize"]:
            from sitewatch.detectors.normalize import IMADNormalization

            self.norm = IMADNormalization()

    def statistic(self, state: FitState, before: np.ndarray, after: np.ndarray,
                  valid: np.ndarray) -> np.ndarray:
        return np.sqrt(np.sum((after - before) ** 2, axis=0, dtype="float32"))
