"""Post-processing of change masks: morphology and a minimum mapping unit.

Examples
--------
>>> import numpy as np
>>> m = np.zeros((8, 8), bool); m[1, 1] = True; m[4:7, 4:7] = True
>>> int(minimum_mapping_unit(m, 300.0, 100.0).sum())   # the lone pixel (100 m²) goes
9
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["minimum_mapping_unit"]


def minimum_mapping_unit(mask: np.ndarray, min_area_m2: float,
                         pixel_area_m2: float | np.ndarray, *, connectivity: int = 8
                         ) -> np.ndarray:
    """Drop connected regions smaller than ``min_area_m2``.

    Parameters
    ----------
    mask : (M, N) bool ndarray
    min_area_m2 : float
        Smallest region kept, in m².
    pixel_area_m2 : float or array broadcastable to (M, N)
        Ground area of each pixel (see :func:`sitewatch.raster.pixel_area_m2`).
    connectivity : {4, 8}
    """
    mask = np.asarray(mask, dtype=bool)
    if min_area_m2 <= 0 or not mask.any():
        return mask.copy()
    structure = np.ones((3, 3)) if connectivity == 8 else None
    labels, n = ndimage.label(mask, structure=structure)
    area = np.broadcast_to(np.asarray(pixel_area_m2, dtype="float64"), mask.shape)
    region_area = ndimage.sum_labels(area, labels, np.arange(1, n + 1))
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = region_area >= min_area_m2
    return keep[labels]
