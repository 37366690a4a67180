"""Where a detector's fit looks: every pixel of a small raster, a spatial sample of a large one.

The fit passes of a detector (:mod:`sitewatch.detectors.base`) gather scene
statistics: normalisation quantiles, covariances, the histogram a threshold is
read from. On a large raster these are estimated as well from a deterministic
spatial sample, and reading the sample costs a small share of reading the whole
raster. :func:`fit_windows` says which pixels the fit sees:

- a raster of at most :data:`SAMPLE_ABOVE` pixels (8192 x 8192): all of it
  (``None``), so smaller rasters fit on every pixel exactly as before;
- a larger one: a regular grid of :data:`WINDOW` x :data:`WINDOW` windows
  spread over the whole raster, at least :data:`FIT_SAMPLE_PIXELS` pixels in
  all (64 windows of 512 x 512 on a Sentinel-2 tile: 16.8 of its 120.6 Mpx).

Why 64 windows: the statistics of a scene vary between places more than within
one, so what counts is how many places the sample sees. On the benchmark tile
(``benchmarks/tiledata.py``, a patchwork of OSCD cities) 16 windows (4 Mpx) put a
band's interquartile range off by up to 37% and the ``cnn``'s changed area off by
-32%; 64 windows put the changed area within 0.6% of the fit on every pixel
(``benchmarks/results/full_tile.md``). A window costs one COG tile per band to
decode, so the whole 512 x 512 of it is used.
  Window offsets are multiples of :data:`WINDOW` (the internal tiles of
  Cloud-Optimized GeoTIFFs, so a window decodes one tile per band) rounded down
  to the detector's ``block_align``.

The windows depend on the raster's shape alone (not on block sizes or files),
so the in-memory path (:meth:`~sitewatch.detectors.base.Detector.run`) and the
block runner fit on the same pixels and get the same state. A sample whose
windows hold fewer than :data:`MIN_VALID_SHARE` of its pixels valid (a mostly
cloudy or no-data scene) is not trusted: the fit then reads every pixel
(:func:`sample_is_usable`). :func:`sample_record` is what outputs state about it.

Examples
--------
>>> fit_windows(1000, 1000) is None
True
>>> w = fit_windows(10980, 10980)
>>> len(w), sum(x.pixels for x in w), (w[0].row0, w[0].col0), (w[-1].row0, w[-1].col0)
(64, 16777216, (0, 0), (9728, 9728))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["FitWindow", "fit_windows", "sample_is_usable", "sample_record", "FIT_SAMPLE_PIXELS",
           "SAMPLE_ABOVE", "WINDOW", "MIN_VALID_SHARE"]

#: Pixels the fit sample of a large raster covers at least (64 windows).
FIT_SAMPLE_PIXELS = 1 << 24
#: Rasters with more pixels than this fit on a sample (the sample is then at most a quarter).
SAMPLE_ABOVE = 4 * FIT_SAMPLE_PIXELS
#: Side of a sample window (and the grid its offsets snap to: COG internal tiles).
WINDOW = 512
#: Valid share of the sample below which the fit reads every pixel instead.
MIN_VALID_SHARE = 0.25


@dataclass(frozen=True)
class FitWindow:
    """Rows ``row0:row1`` and cols ``col0:col1`` counted by the fit, read with context.

    ``read0:read1`` and ``cread0:cread1`` add up to ``ctx`` rows/cols of context on each
    side (clipped at the raster's edges), which the statistics may look at but never count.
    """

    row0: int
    row1: int
    col0: int
    col1: int
    read0: int
    read1: int
    cread0: int
    cread1: int

    @property
    def pixels(self) -> int:
        """Pixels counted (without the context)."""
        return (self.row1 - self.row0) * (self.col1 - self.col0)

    @property
    def core(self) -> tuple[slice, slice]:
        """The counted pixels inside the array read for the window."""
        return (slice(self.row0 - self.read0, self.row1 - self.read0),
                slice(self.col0 - self.cread0, self.col1 - self.cread0))


def _starts(n: int, size: int, k: int, align: int) -> list[int]:
    """``k`` window offsets along an axis of ``n``: one per equal strip, at its centre,
    snapped down to the :data:`WINDOW` grid and to ``align`` (strips are >= ``size``
    wide, so the windows never overlap)."""
    out = []
    for i in range(k):
        centre = (i + 0.5) * n / k
        s = max(0, int(centre - size / 2)) // WINDOW * WINDOW
        out.append(min(s, n - size) // align * align)
    return out


def fit_windows(rows: int, cols: int, *, ctx: int = 0, align: int = 1
                ) -> list[FitWindow] | None:
    """The windows a fit reads on a ``rows`` x ``cols`` raster; None: every pixel.

    Parameters
    ----------
    rows, cols : int
        The raster's shape.
    ctx : int
        Rows/cols of context the detector's statistics need around each window
        (its ``stats_halo``, else its ``halo``).
    align : int
        Window offsets are multiples of this (the detector's ``block_align``).

    Returns
    -------
    list of FitWindow or None
        In row-major order; None when the raster has at most :data:`SAMPLE_ABOVE`
        pixels (or is too narrow for a spread-out sample).

    Examples
    --------
    >>> w = fit_windows(600, 140000, ctx=8)
    >>> len(w), w[0].row0, (w[0].read0, w[0].read1), (w[1].col0, w[1].cread0)
    (64, 0, (0, 520), (2560, 2552))
    """
    if rows * cols <= SAMPLE_ABOVE:
        return None
    align = max(1, int(align))
    wh, ww = min(WINDOW, rows), min(WINDOW, cols)
    n = -(-FIT_SAMPLE_PIXELS // (wh * ww))
    max_r, max_c = rows // wh, cols // ww
    nr = min(max_r, max(1, round(math.sqrt(n * max_r / max_c))))
    nc = -(-n // nr)
    if nc > max_c:
        nr, nc = min(max_r, -(-n // max_c)), max_c
    if nr * nc < n or (wh < WINDOW and ww < WINDOW):  # no room for a spread-out sample
        return None
    out = []
    for r0 in _starts(rows, wh, nr, align):
        for c0 in _starts(cols, ww, nc, align):
            r1, c1 = r0 + wh, c0 + ww
            out.append(FitWindow(r0, r1, c0, c1, max(0, r0 - ctx), min(rows, r1 + ctx),
                                 max(0, c0 - ctx), min(cols, c1 + ctx)))
    return out


def sample_is_usable(valid_pixels: int, windows: list[FitWindow]) -> bool:
    """Whether a sample holds enough valid pixels to stand for the raster.

    Examples
    --------
    >>> w = fit_windows(10980, 10980)
    >>> sample_is_usable(12_000_000, w), sample_is_usable(3_000_000, w)
    (True, False)
    """
    return valid_pixels >= MIN_VALID_SHARE * sum(w.pixels for w in windows)


def sample_record(windows: list[FitWindow] | None, valid_pixels: int, rows: int, cols: int
                  ) -> dict[str, Any]:
    """What outputs state about the pixels a fit saw (JSON-able).

    Examples
    --------
    >>> sample_record(None, 90, 10, 10)["sampled"]
    False
    >>> r = sample_record(fit_windows(10980, 10980), 16_000_000, 10980, 10980)
    >>> r["windows"], r["pixels"], r["valid_pixels"], r["share"]
    (64, 16777216, 16000000, 0.1392)
    """
    total = rows * cols
    if windows is None:
        return {"sampled": False, "pixels": total, "valid_pixels": int(valid_pixels),
                "share": 1.0}
    px = sum(w.pixels for w in windows)
    return {"sampled": True, "windows": len(windows), "window_size": WINDOW, "pixels": px,
            "valid_pixels": int(valid_pixels), "share": round(px / total, 4)}
