"""Spatial-context change statistics: what a pixel's neighbourhood says about its change.

A single pixel's spectral difference is noisy; real change (a new roof, a cleared
field) is a patch. These maps summarise the neighbourhood of each pixel, on
per-image standardised (robust-z) reflectance, so a per-band gain or offset
(Level-1C vs Level-2A, haze) leaves them unchanged:

- :func:`change_magnitude`: the root mean square robust-z difference over the
  visible, NIR and SWIR bands (red-edge bands add noise, not change);
- :func:`shift_tolerant_magnitude`: the same, but the after-date pixel may be
  explained by a blend of the before-date pixel and any of its 8 neighbours
  (a sub-pixel mis-registration or a shifted edge is not change);
- :func:`box_mean` and :func:`guided_filter`: neighbourhood means, the guided
  filter keeping the edges of the after image, so a smoothed patch ends where the
  new surface does.

All are pure array functions; the reach of each (pixels of context it reads on
every side) is stated, so a block runner gives them enough halo.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> zb = rng.normal(0, 1, (6, 30, 30)).astype("float32")
>>> za = zb.copy(); za[:, 10:20, 10:20] += 3
>>> m = change_magnitude(zb, za)
>>> float(m[15, 15]), float(m[0, 0])
(3.0, 0.0)
>>> s = shift_tolerant_magnitude(zb, np.roll(zb, 1, axis=2))  # a one-pixel shift
>>> bool(np.median(s[:, 1:]) < 0.01)
True
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["box_mean", "guided_filter", "change_magnitude", "shift_tolerant_magnitude",
           "guided_reach"]


def box_mean(x: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Mean over a ``size`` x ``size`` window (edges repeat the nearest pixel).

    Reach: ``size // 2`` pixels. ``out``: a float32 array of ``x``'s shape to write into
    (not ``x`` itself).

    Examples
    --------
    >>> box_mean(np.eye(3, dtype="float32"), 3)[1, 1]
    np.float32(0.33333334)
    """
    x = np.asarray(x, "float32")
    if out is None:
        return ndimage.uniform_filter(x, size, mode="nearest")
    ndimage.uniform_filter(x, size, mode="nearest", output=out)
    return out


def guided_reach(radius: int) -> int:
    """Pixels of context :func:`guided_filter` reads on each side (two box means)."""
    return 2 * radius


def guided_filter(guide: np.ndarray, x: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving mean of ``x`` guided by ``guide`` (He, Sun & Tang 2013).

    In each ``2 radius + 1`` window, ``x`` is fitted as a linear function of
    ``guide`` (ridge ``eps``); the fits of the windows covering a pixel are
    averaged. Where the guide has an edge, the smoothing stops at it.

    Examples
    --------
    >>> g = np.zeros((9, 9), "float32"); g[:, 5:] = 10
    >>> x = np.where(g > 0, 1.0, 0.0).astype("float32")
    >>> y = guided_filter(g, x, 2, 0.01)
    >>> round(float(y[4, 4]), 2), round(float(y[4, 5]), 2)
    (0.0, 1.0)
    """
    n = 2 * radius + 1
    g = np.asarray(guide, "float32")
    x = np.asarray(x, "float32")
    mi, mx = box_mean(g, n), box_mean(x, n)
    # the same float32 operations as the textbook form, on four reused maps
    t = np.multiply(g, x)
    cov = box_mean(t, n)
    cov -= np.multiply(mi, mx, out=t)                 # cov(g, x)
    var = box_mean(np.multiply(g, g, out=t), n)
    var -= np.multiply(mi, mi, out=t)                 # var(g)
    var += np.float32(eps)
    a = np.divide(cov, var, out=cov)
    b = np.subtract(mx, np.multiply(a, mi, out=t), out=mx)
    out = box_mean(a, n)
    out *= g
    out += box_mean(b, n, out=var)
    return out


def change_magnitude(zb: np.ndarray, za: np.ndarray) -> np.ndarray:
    """(M, N) root mean square of ``za - zb`` over the bands (standardised units).

    Examples
    --------
    >>> change_magnitude(np.zeros((2, 1, 1)), np.array([[[3.0]], [[4.0]]]))[0, 0]
    np.float32(3.535534)
    """
    d = np.asarray(za, "float32") - np.asarray(zb, "float32")
    return np.sqrt(np.einsum("bij,bij->ij", d, d) / d.shape[0])


def shift_tolerant_magnitude(zb: np.ndarray, za: np.ndarray, where: np.ndarray | None = None
                             ) -> np.ndarray:
    """(M, N) distance of each after-date pixel to the nearest blend of before-date pixels.

    For pixel ``i`` and each neighbour ``j`` (8-connected, and ``i`` itself), the
    distance from ``za[i]`` to the segment between ``zb[i]`` and ``zb[j]``, in
    root-mean-square standardised units; the least of the nine. A pair
    mis-registered by up to a pixel, or an edge that moved by a fraction of one,
    scores near zero; a new surface scores as :func:`change_magnitude` does.
    ``where``: compute only these pixels (0 elsewhere). Reach: 1 pixel.

    Examples
    --------
    >>> zb = np.zeros((1, 3, 3), "float32"); zb[0, :, 2] = 4
    >>> za = zb.copy(); za[0, 1, 1] = 2      # half a pixel of the bright column moved in
    >>> float(shift_tolerant_magnitude(zb, za)[1, 1]), float(change_magnitude(zb, za)[1, 1])
    (0.0, 2.0)
    >>> only = np.zeros((3, 3), bool); only[1, 1] = True
    >>> bool((shift_tolerant_magnitude(zb, za, only) == shift_tolerant_magnitude(zb, za)).all())
    True
    """
    zb = np.asarray(zb, "float32")
    za = np.asarray(za, "float32")
    nb, h, w = zb.shape
    if where is None:
        rows, cols = np.indices((h, w)).reshape(2, -1)
    else:
        rows, cols = np.nonzero(where)
    b0 = zb[:, rows, cols]
    d0 = za[:, rows, cols] - b0
    best = np.einsum("bi,bi->i", d0, d0)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di == 0 and dj == 0:
                continue
            # the image's edge repeats its last pixel
            e = zb[:, np.clip(rows + di, 0, h - 1), np.clip(cols + dj, 0, w - 1)] - b0
            ee = np.einsum("bi,bi->i", e, e)
            t = np.clip(np.einsum("bi,bi->i", d0, e) / np.maximum(ee, 1e-9), 0, 1)
            r = d0 - t * e
            np.minimum(best, np.einsum("bi,bi->i", r, r), out=best)
    out = np.zeros((h, w), "float32")
    out[rows, cols] = np.sqrt(best / nb)
    return out
