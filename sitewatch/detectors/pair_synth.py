"""Semi-synthetic change pairs from one real pair: change regions of known area.

A real pair (two Sentinel-2 dates on one 10 m grid) carries real seasons,
atmosphere, noise and mis-registration, but no exact answer to "how many m²
changed here". This generator pastes new surfaces into the real *after* image,
in polygons whose area is known exactly, with the edges a real sensor would
record; ``benchmarks/bench_area.py`` and the area tests score a detector's
region areas against it. What it does, in order:

1. **Shapes.** Each region is a rotated rectangle (aspect 1-3) or ellipse of a
   target area drawn log-uniformly in ``area_range_m2``, centred at a random
   sub-pixel position where neither date's label marks change and no other
   region comes within ``margin_px``. Its exact area is the polygon's.
2. **Sub-pixel edges.** Each 10 m pixel's covered fraction ``f`` is measured
   on a ``supersample`` x ``supersample`` grid of points inside it.
3. **Real spectra.** A region takes the after-date spectrum of one random pixel
   of the pair's real change (``source`` mask, e.g. the OSCD label: new roofs,
   asphalt, bare soil), plus real texture: the after image's deviations from
   their local median at another random place, halved.
4. **Mixing as the sensor does.** 10 m bands: ``after' = (1 - f) after + f
   surface``. Bands coarser than 10 m (``coarse_bands``, e.g. the 20 m B05-B07,
   B8A, B11, B12 upsampled onto the 10 m grid): the change is mixed at the
   coarse pixel (the mean of ``f`` over each 2 x 2 block) and its difference is
   upsampled bilinearly, so their edges are as blurred as the real bands'.

Everything is seeded. OSCD labels, when used as ``source``/``avoid``, are
CC BY-NC-SA 4.0 (Daudt et al. 2018); the imagery contains modified Copernicus
Sentinel data.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> before = rng.uniform(0.05, 0.1, (3, 80, 80)).astype("float32")
>>> after = before + rng.normal(0, 0.002, before.shape).astype("float32")
>>> src = np.zeros((80, 80), bool); src[:5, :5] = True; after[:, src] = 0.4
>>> pair = semisynthetic_pair(before, after, ("B02", "B03", "B04"), source=src,
...                           avoid=src, n_regions=3, area_range_m2=(2000, 4000), seed=1)
>>> len(pair.regions), bool(np.allclose(pair.fraction.sum() * 100,
...                                      sum(r.area_m2 for r in pair.regions), rtol=0.01))
(3, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.measure import points_in_poly

from sitewatch.errors import DataError

__all__ = ["SyntheticRegion", "SyntheticPair", "semisynthetic_pair", "COARSE_BANDS"]

#: Sentinel-2 bands recorded at 20 m (upsampled onto the 10 m grid by the loaders).
COARSE_BANDS = ("B05", "B06", "B07", "B8A", "B11", "B12")


@dataclass(frozen=True)
class SyntheticRegion:
    """One pasted region: its exact polygon (pixel coordinates: col, row) and area."""

    index: int
    polygon: tuple[tuple[float, float], ...]
    area_m2: float
    centre: tuple[float, float]  # (row, col)
    bbox: tuple[int, int, int, int]  # row0, row1, col0, col1 (pixels touched)


@dataclass
class SyntheticPair:
    """The pasted pair and its truth.

    Attributes
    ----------
    before, after : (B, M, N) float32 ndarray
        ``before`` unchanged; ``after`` with the pasted regions.
    fraction : (M, N) float32 ndarray
        Share of each pixel inside a pasted region (0-1).
    region_id : (M, N) int32 ndarray
        Index of the region covering most of the pixel (-1: none).
    regions : list of SyntheticRegion
    """

    before: np.ndarray
    after: np.ndarray
    fraction: np.ndarray
    region_id: np.ndarray
    regions: list[SyntheticRegion]


def _shape(rng: np.random.Generator, area_px: float) -> np.ndarray:
    """Vertices (x, y) in pixel units around the origin of a random shape of that area."""
    theta = rng.uniform(0, np.pi)
    aspect = rng.uniform(1, 3)
    if rng.random() < 0.5:  # rectangle
        w = np.sqrt(area_px * aspect)
        h = area_px / w
        pts = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    else:  # ellipse as a 64-gon of the same area
        a = np.sqrt(area_px * aspect / np.pi)
        b = area_px / (np.pi * a)
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        pts = np.stack([a * np.cos(t), b * np.sin(t)], 1)
        pts *= np.sqrt(area_px / _area(pts))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return pts @ rot.T  # type: ignore[no-any-return]


def _area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _coverage(pts: np.ndarray, shape: tuple[int, int], ss: int
              ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Covered fraction of each pixel of the polygon's bounding box (pixel (r, c) spans
    x in [c, c+1), y in [r, r+1))."""
    c0, r0 = np.floor(pts.min(0)).astype(int)
    c1, r1 = np.ceil(pts.max(0)).astype(int)
    r0, c0 = max(r0, 0), max(c0, 0)
    r1, c1 = min(r1, shape[0]), min(c1, shape[1])
    off = (np.arange(ss) + 0.5) / ss
    ys = (np.arange(r0, r1)[:, None] + off[None]).ravel()
    xs = (np.arange(c0, c1)[:, None] + off[None]).ravel()
    gx, gy = np.meshgrid(xs, ys)
    inside = points_in_poly(np.stack([gx.ravel(), gy.ravel()], 1), pts)
    cov = inside.reshape(r1 - r0, ss, c1 - c0, ss).mean(axis=(1, 3))
    return cov.astype("float32"), (int(r0), int(r1), int(c0), int(c1))


def semisynthetic_pair(before: np.ndarray, after: np.ndarray, band_names: Sequence[str], *,
                       source: np.ndarray, avoid: np.ndarray | None = None,
                       n_regions: int = 20, area_range_m2: tuple[float, float] = (1000, 30000),
                       pixel_size_m: float = 10.0, margin_px: int = 6, supersample: int = 8,
                       coarse_bands: Sequence[str] = COARSE_BANDS, min_contrast: float = 0.0,
                       seed: int = 0) -> SyntheticPair:
    """Paste ``n_regions`` new surfaces of known area into a real after image.

    Parameters
    ----------
    before, after : (B, M, N) ndarray
        A real pair on one 10 m grid (reflectance).
    band_names : sequence of str
        Names of the B bands (those in ``coarse_bands`` are mixed at 20 m).
    source : (M, N) bool ndarray
        Pixels whose after-date spectra are new surfaces (real change).
    avoid : (M, N) bool ndarray, optional
        Where regions must not be placed (real change; default ``source``).
    n_regions : int
        Regions to place (fewer when the image has no room; at least one).
    area_range_m2 : (float, float)
        Range of the regions' areas (log-uniform).
    pixel_size_m : float
    margin_px : int
        Least distance in pixels between a region and ``avoid`` or another region.
    supersample : int
        Sub-pixel points per pixel side for the covered fraction.
    coarse_bands : sequence of str
        Bands recorded at twice the pixel size.
    min_contrast : float
        Least difference between a region's new surface and the mean of what it
        covers, as the root mean square over bands of the difference in units of each
        band's interquartile range over the image (0: any). A new surface that looks
        like what it replaces is no visible change; areas are measured on visible ones.
    seed : int

    Returns
    -------
    SyntheticPair

    Raises
    ------
    DataError
        No source pixel, or no room for a single region.
    """
    rng = np.random.default_rng(seed)
    before = np.asarray(before, "float32")
    after = np.array(after, "float32", copy=True)
    nb, h, w = after.shape
    src = np.asarray(source, bool) & np.isfinite(after).all(0)
    if not src.any():
        raise DataError("semisynthetic_pair needs source pixels (real change) to take "
                        "spectra from")
    blocked = np.asarray(src if avoid is None else avoid, bool) | ~np.isfinite(before).all(0)
    blocked = ndimage.binary_dilation(blocked, iterations=margin_px)
    src_rc = np.argwhere(src)
    fraction = np.zeros((h, w), "float32")
    region_id = np.full((h, w), -1, "int32")
    coarse = [i for i, n in enumerate(band_names) if n in coarse_bands]
    fine = [i for i in range(nb) if i not in coarse]
    med = ndimage.median_filter(after, size=(1, 5, 5))
    texture = np.nan_to_num(after - med)
    q1, q3 = np.nanpercentile(after.reshape(nb, -1), [25, 75], axis=1)
    spread = np.maximum(q3 - q1, 1e-4)
    regions: list[SyntheticRegion] = []
    lo, hi = np.log(area_range_m2[0]), np.log(area_range_m2[1])
    for _ in range(n_regions * 30):
        if len(regions) == n_regions:
            break
        area_px = float(np.exp(rng.uniform(lo, hi))) / pixel_size_m ** 2
        pts = _shape(rng, area_px)
        ext = np.abs(pts).max(0)
        cx = rng.uniform(ext[0] + 2, w - ext[0] - 2) if w > 2 * ext[0] + 4 else -1.0
        cy = rng.uniform(ext[1] + 2, h - ext[1] - 2) if h > 2 * ext[1] + 4 else -1.0
        if cx < 0 or cy < 0:
            continue
        poly = pts + [cx, cy]
        cov, (r0, r1, c0, c1) = _coverage(poly, (h, w), supersample)
        touched = cov > 0
        if blocked[r0:r1, c0:c1][touched].any():
            continue
        # the surface: one real changed spectrum plus real texture from elsewhere
        sr, sc = src_rc[rng.integers(len(src_rc))]
        if min_contrast > 0:
            under = np.nanmean(after[:, r0:r1, c0:c1][:, touched], axis=1)
            if np.sqrt(np.mean(((after[:, sr, sc] - under) / spread) ** 2)) < min_contrast:
                continue
        tr = int(rng.integers(0, max(1, h - (r1 - r0))))
        tc = int(rng.integers(0, max(1, w - (c1 - c0))))
        tex = texture[:, tr:tr + (r1 - r0), tc:tc + (c1 - c0)]
        if tex.shape[1:] != cov.shape:
            continue
        surface = after[:, sr, sc][:, None, None] + 0.5 * tex
        win = (slice(None), slice(r0, r1), slice(c0, c1))
        delta = cov[None] * (surface - after[win])
        after[(fine, *win[1:])] += delta[fine]
        if coarse:
            after[(coarse, *win[1:])] += _coarse_delta(cov, surface[coarse] - after[(coarse,
                                                       *win[1:])], r0, c0)
        fraction[r0:r1, c0:c1] += cov
        region_id[r0:r1, c0:c1][cov >= 0.5] = len(regions)
        area_m2 = _area(poly) * pixel_size_m ** 2
        regions.append(SyntheticRegion(len(regions), tuple(map(tuple, poly.tolist())), area_m2,
                                       (float(cy), float(cx)), (r0, r1, c0, c1)))
        blocked[max(0, r0 - margin_px):r1 + margin_px, max(0, c0 - margin_px):c1 + margin_px] \
            = True
    if not regions:
        raise DataError("no room for a single synthetic region: use a larger image or "
                        "smaller areas")
    return SyntheticPair(before, after, np.clip(fraction, 0, 1), region_id, regions)


def _coarse_delta(cov: np.ndarray, diff: np.ndarray, r0: int, c0: int) -> np.ndarray:
    """The change of 20 m bands: mixed per 2 x 2 block of the 10 m grid, upsampled bilinearly.

    ``diff`` is (surface - after) per coarse band on the window; blocks follow the
    image's 20 m lattice (even rows/cols of the 10 m grid).
    """
    pr, pc = r0 % 2, c0 % 2
    hh, ww = cov.shape
    # pad the window onto whole 2 x 2 blocks of the image's lattice, with a block of margin
    top, left = pr + 2, pc + 2
    bottom = 2 + (-(hh + top) % 2)
    right = 2 + (-(ww + left) % 2)
    cp = np.pad(cov, ((top, bottom), (left, right)))
    dp = np.pad(diff, ((0, 0), (top, bottom), (left, right)), mode="edge")
    H, W = cp.shape
    f20 = cp.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))
    d20 = dp.reshape(len(diff), H // 2, 2, W // 2, 2).mean(axis=(2, 4))
    low = f20[None] * d20
    # bilinear upsampling by 2 with pixel centres as in rasterio's resampling
    up = ndimage.zoom(low, (1, 2, 2), order=1, grid_mode=True, mode="grid-constant")
    return up[:, top:top + hh, left:left + ww]  # type: ignore[no-any-return]
