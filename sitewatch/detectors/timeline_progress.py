"""Site progress: changed area per epoch and change type, with bounds from the clear observations.

Each changed pixel is dated to one epoch (:func:`~sitewatch.detectors.timeline_events.refine_dates`)
but is only *known* to have changed after its last clear observation of the
old state and by its first clear observation of the new one. The tables carry
that honestly, per epoch ``e`` and change type:

``new``
    area dated to ``e``;
``new_low`` / ``new_high``
    area that certainly changed in ``e`` (seen unchanged in ``e - 1`` and
    changed in ``e``) / that may have (``e`` inside its interval);
``cumulative``
    area dated to ``e`` or earlier;
``cumulative_low`` / ``cumulative_high``
    area seen changed by ``e`` / area not seen unchanged since before ``e``.

Cloudy epochs widen the bounds; a run of clear epochs closes them. Areas are in
m² (``pixel_area_m2`` gives each pixel's ground area).

Examples
--------
>>> import numpy as np
>>> date = np.array([[1, 1, -1, 3]]); first = np.array([[1, 2, -1, 3]])
>>> last = np.array([[0, 0, -1, 1]]); ctype = np.array([[1, 1, 0, 2]])
>>> t = progress_arrays(date, first, last, ctype, 100.0, 4)
>>> t["new"][:, 1].tolist(), t["new_high"][:, 1].tolist()      # paving
([0.0, 200.0, 0.0, 0.0], [0.0, 200.0, 100.0, 0.0])
>>> t["cumulative_low"][:, 2].tolist()                         # construction
[0.0, 0.0, 0.0, 100.0]
"""

from __future__ import annotations

import numpy as np

from sitewatch.errors import DataError
from sitewatch.types import ChangeType

__all__ = ["progress_arrays", "PROGRESS_FIELDS"]

#: The per-(epoch, type) quantities of :func:`progress_arrays`, all in m².
PROGRESS_FIELDS = ("new", "new_low", "new_high", "cumulative", "cumulative_low",
                   "cumulative_high")


def progress_arrays(date: np.ndarray, first_epoch: np.ndarray, last_unchanged: np.ndarray,
                    change_type: np.ndarray, pixel_area_m2: float | np.ndarray,
                    n_epochs: int) -> dict[str, np.ndarray]:
    """Changed area per epoch and type (see the module docs for the six quantities).

    Parameters
    ----------
    date : (M, N) int
        Agreed epoch of each changed pixel, -1 where unchanged.
    first_epoch, last_unchanged : (M, N) int
        Each changed pixel's interval.
    change_type : (M, N) int
        :class:`~sitewatch.types.ChangeType` codes.
    pixel_area_m2 : float or array broadcastable to (M, N)
    n_epochs : int

    Returns
    -------
    dict of (n_epochs, n_types) float64 arrays
        Columns are indexed by the ``ChangeType`` code (column 0, NONE, holds
        nothing); ``"all"`` sums are the row sums.
    """
    date = np.asarray(date)
    changed = date >= 0
    nt = int(max(ChangeType)) + 1
    area = np.broadcast_to(np.asarray(pixel_area_m2, "float64"), date.shape)[changed]
    ct = np.asarray(change_type).astype("int64")[changed]
    if ((ct < 0) | (ct >= nt)).any():
        raise DataError(f"change types must be ChangeType codes 0..{nt - 1}")
    d = date[changed].astype("int64")
    b = np.asarray(first_epoch).astype("int64")[changed]
    a = np.asarray(last_unchanged).astype("int64")[changed]
    if d.size and (d.max() >= n_epochs or b.max() >= n_epochs):
        raise DataError(f"epochs beyond the {n_epochs} of the series")

    def hist(epoch: np.ndarray, weight: np.ndarray) -> np.ndarray:
        ok = (epoch >= 0) & (epoch < n_epochs)
        flat = np.bincount(epoch[ok] * nt + ct[ok], weights=weight[ok],
                           minlength=n_epochs * nt)
        return flat.reshape(n_epochs, nt)

    new = hist(d, area)
    certain = a == b - 1
    new_low = hist(np.where(certain, b, -1), area)
    # possible in e: a < e <= b, a difference array over epochs
    diff = hist(a + 1, area) - np.vstack([np.zeros((1, nt)), hist(b, area)[:-1]])
    new_high = np.cumsum(diff, axis=0)
    return {
        "new": new, "new_low": new_low, "new_high": np.maximum(new_high, 0),
        "cumulative": np.cumsum(new, axis=0),
        "cumulative_low": np.cumsum(hist(b, area), axis=0),
        "cumulative_high": np.cumsum(hist(a + 1, area), axis=0),
    }
