"""Region edges where the new surface ends: unmixing the boundary pixels of a change mask.

A detector that looks at a neighbourhood (a network, a smoothed statistic)
flags a halo around every changed patch, and one that looks at single pixels
misses edge pixels that are only partly covered: either way the area is biased.
This module re-decides the pixels near the edge of each region from their own
spectra. For each pixel ``i`` within ``band`` pixels of a mask edge, its
changed fraction is the linear unmixing

    f_i = <a_i - b_i, s - b_i> / |s - b_i|^2

of its after-date spectrum ``a_i`` between its own before-date spectrum
``b_i`` (nothing changed) and ``s``, the mean after-date spectrum of the
region's *core* nearby (pixels of the mask whose change is at least
``core_share`` of the strongest within the window: fully covered by the new
surface). The edge pixel belongs to the region when ``f_i >= 0.5``, so the
region's pixel count is an unbiased estimate of its area: pixels more than half
covered are in, the others out. Pixels deeper than ``band`` inside the mask
stay in. Spectra are the 10 m bands (B02, B03, B04, B08), per-image
standardised (robust z), so the result does not depend on the radiometric
level.

Examples
--------
>>> import numpy as np
>>> zb = np.zeros((4, 40, 40), "float32")
>>> truth = np.zeros((40, 40)); truth[10:30, 10:30] = 1; truth[10:30, 30] = 0.3  # an edge 0.3 px in
>>> za = zb + 4 * truth[None].astype("float32")
>>> halo = np.zeros((40, 40), bool); halo[8:32, 8:33] = True  # a mask with a 2-pixel halo
>>> m = refine_mask(zb, za, halo)
>>> int(halo.sum()), int(m.sum()), int((truth >= 0.5).sum())
(600, 400, 400)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["refine_mask", "changed_fraction", "REFINE_REACH"]

#: Defaults: edge band (pixels), window of the core spectrum (pixels), core share.
BAND, WINDOW, CORE_SHARE = 3, 9, 0.6
#: Pixels of context :func:`refine_mask` reads on each side with the defaults.
REFINE_REACH = BAND + WINDOW


def changed_fraction(zb: np.ndarray, za: np.ndarray, mask: np.ndarray, *,
                     window: int = WINDOW, core_share: float = CORE_SHARE) -> np.ndarray:
    """(M, N) changed fraction of each pixel against the nearby core of the mask (0 where no
    core is within ``window``).

    Examples
    --------
    >>> zb = np.zeros((2, 9, 9), "float32"); za = zb.copy()
    >>> za[:, 2:7, 2:6] = 2.0; za[:, 2:7, 6] = 0.5       # a column a quarter covered
    >>> m = np.zeros((9, 9), bool); m[2:7, 2:7] = True
    >>> f = changed_fraction(zb, za, m)
    >>> round(float(f[4, 4]), 2), round(float(f[4, 6]), 2)
    (1.0, 0.25)
    """
    zb = np.asarray(zb, "float32")
    za = np.asarray(za, "float32")
    # band by band: a few (M, N) planes, never a (B, M, N) temporary (full-width blocks)
    strength = np.zeros(mask.shape, "float32")
    for b in range(zb.shape[0]):
        db = za[b] - zb[b]
        strength += db * db
    np.sqrt(strength, out=strength)
    strongest = ndimage.maximum_filter(np.where(mask, strength, np.float32(0)), size=window)
    core = (mask & (strength >= core_share * strongest)).astype("float32")
    del strength, strongest
    n = ndimage.uniform_filter(core, window, mode="constant")
    inv = 1 / np.maximum(n, np.float32(1e-6))
    num = np.zeros(mask.shape, "float32")
    den = np.zeros(mask.shape, "float32")
    for b in range(zb.shape[0]):
        v = ndimage.uniform_filter(za[b] * core, window, mode="constant")
        v *= inv
        v -= zb[b]  # the core's mean spectrum minus this pixel's before spectrum
        num += (za[b] - zb[b]) * v
        den += v * v
    f = num / np.maximum(den, np.float32(1e-6))
    f[n <= 0] = 0
    return np.clip(f, 0, 1).astype("float32")


def refine_mask(zb: np.ndarray, za: np.ndarray, mask: np.ndarray, *, band: int = BAND,
                window: int = WINDOW, core_share: float = CORE_SHARE,
                valid: np.ndarray | None = None, grow: bool = True) -> np.ndarray:
    """The mask with the pixels within ``band`` of its edges re-decided by their changed
    fraction (``>= 0.5``: in). Reach: ``band + window`` pixels.

    Examples
    --------
    >>> zb = np.zeros((2, 12, 12), "float32"); za = zb.copy(); za[:, 3:9, 3:9] = 3
    >>> m = np.zeros((12, 12), bool); m[4:8, 4:8] = True   # missed the outer ring
    >>> int(refine_mask(zb, za, m).sum())
    36
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask.copy()
    st = np.ones((3, 3), bool)
    inner = ndimage.binary_erosion(mask, st, iterations=band, border_value=1)
    ring = ndimage.binary_dilation(mask, st, iterations=band) & ~inner
    f = changed_fraction(zb, za, mask, window=window, core_share=core_share)
    out = inner | (ring & (f >= 0.5))
    if not grow:
        out &= mask
    if valid is not None:
        out &= valid
    return out
