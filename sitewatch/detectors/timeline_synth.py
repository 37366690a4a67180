"""Semi-synthetic epoch series from one real change pair: a timeline with a known answer.

Real labelled change pairs (OSCD: two Sentinel-2 dates and a change label)
say *what* changed but not *when*. This generator turns one pair into a
series of ``epochs`` images between its two dates whose every change has a
known epoch, so that a timeline method can be scored on both questions. It
is the ground truth of ``benchmarks/bench_timeline.py``; everything it does is
listed here, in the order it is done.

1. **Change regions switch at a known epoch.** Each connected region of the
   change label (8-connectivity) draws its own switch epoch ``k`` uniformly
   from ``1 .. epochs - 1``: epochs ``< k`` show the pixels' date-1 spectrum,
   epochs ``>= k`` their date-2 spectrum. ``truth_epoch`` holds ``k`` (-1 off
   the label).
2. **The background switches too, in tiles.** Unlabelled pixels also move from
   their date-1 to their date-2 appearance, in square tiles of ``tile`` pixels
   (500 m by default) that each switch at their own random epoch. So every real
   difference between the two acquisitions that the label does not mark
   (seasons, atmosphere, real but unlabelled change) is in the series as a
   lasting step, exactly as a two-date detector sees it: the comparison with
   two-date detection stays fair.
3. **Seasonal drift.** Epochs are quarters: every band gets a gain
   ``1 + a sin(2 pi t / 4 + phi) + e`` (``a = seasonal_amplitude``, ``e`` a
   small per-epoch, per-band jitter, atmosphere and illumination); vegetated
   pixels (NDVI > 0.3 where B04 and B08 are present) also swing their
   red-edge/NIR bands up and visible/SWIR bands down with the season
   (phenology, ``phenology_amplitude``).
4. **Mis-registration jitter.** Each epoch is shifted by a random sub-pixel
   offset (normal, ``jitter_px`` standard deviation per axis, bilinear).
5. **Real pixel noise drawn from the pair.** Each pixel of each epoch gets the
   whole-spectrum residual ``(after - before) - median`` of a random unlabelled
   pixel of the same pair, divided by sqrt(2) (so two epochs differ by what two
   real acquisitions differ by, heavy tails and band correlations included).
6. **Clouds and their shadows, in the pixels.** Each epoch's cloud cover is
   drawn from a Beta distribution with mean ``cloud_share / 1.7`` (its
   shadows add most of that again, so that about ``cloud_share`` of the
   observations are cloud or shadow; drawn from their own random stream, so
   the ground is the same whatever the clouds); clouds are smooth blobs (a Gaussian-filtered random
   field cut at the cover's quantile) with soft edges: an opacity ``alpha``
   that ramps from 0 at the blob's edge to the blob's own maximum (thick
   clouds 0.6-1, a share ``missed_cloud_share`` of the blobs thin, 0.12-0.3).
   A cloud is drawn as ``(1 - alpha) ground + alpha cloud``, the cloud's
   top-of-atmosphere spectrum white in the visible and near infrared and
   darker in the short-wave infrared, of brightness 0.3-0.7. Its shadow is the
   cloud's displaced twin: the same opacity field shifted by one offset per
   epoch (the sun's azimuth and the clouds' height; 20-120 px towards the
   north-west), darkening the ground by up to 45 % in blue to 75 % in the
   short-wave infrared (a shadow keeps the bluish skylight). The scene images
   (``scenes``) hold all of it, as files without any cloud mask would.
   The *masked* series (``stack``) is what a good cloud mask leaves: NaN
   under every cloud and shadow except those of the thin blobs, which masks
   miss (the transients a timeline must not report as change).

The series is returned as ``(time, band, row, col)`` float32 scene images
(``scenes``) and masked stack (``stack``, NaN where clouds and shadows were
masked), the ``(time, row, col)`` valid mask and the truth.
Labels of OSCD are CC BY-NC-SA 4.0 (Daudt et al. 2018); the imagery contains
modified Copernicus Sentinel data.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> before = rng.uniform(0.05, 0.3, (4, 60, 60)).astype("float32")
>>> after = before + rng.normal(0, 0.01, before.shape).astype("float32")
>>> label = np.zeros((60, 60), bool); label[10:20, 10:20] = True
>>> after[:, label] += 0.2
>>> s = semisynthetic_series(before, after, label, epochs=8, seed=1)
>>> s.stack.shape, s.valid.shape
((8, 4, 60, 60), (8, 60, 60))
>>> k = int(s.truth_epoch[15, 15]); 1 <= k <= 7 and bool((s.truth_epoch[label] == k).all())
True
>>> bool(0.15 < 1 - s.valid.mean() < 0.45)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from sitewatch.errors import DataError

__all__ = ["SyntheticSeries", "semisynthetic_series", "cloud_masks"]

_VEG_UP = ("B05", "B06", "B07", "B08", "B8A")
_VEG_DOWN = ("B02", "B03", "B04", "B11", "B12")


@dataclass
class SyntheticSeries:
    """A semi-synthetic series and its ground truth.

    Attributes
    ----------
    scenes : (T, B, M, N) float32 ndarray
        Top-of-atmosphere reflectance per epoch as a file would hold it: clouds
        and shadows in the pixels; NaN only where the pair has no data.
    valid : (T, M, N) bool ndarray
        What a good cloud mask leaves: clear observations, and the thin clouds
        (with their faint shadows) that masks miss.
    truth_epoch : (M, N) int16 ndarray
        Epoch at which each labelled change pixel switched; -1 elsewhere.
    truth_changed : (M, N) bool ndarray
        The change label.
    cloudy : (T, M, N) bool ndarray
        Every cloudy observation (opacity above 0.02), masked or missed.
    missed_cloud : (T, M, N) bool ndarray
        Cloudy observations a good mask misses (the thin blobs).
    shadow : (T, M, N) bool ndarray
        Observations darkened by a cloud's shadow (by more than 2 %).
    background_epoch : (M, N) int16 ndarray
        Switch epoch of the unlabelled background tile of each pixel.
    params : dict
        Every generator parameter, for the record.
    """

    scenes: np.ndarray
    valid: np.ndarray
    truth_epoch: np.ndarray
    truth_changed: np.ndarray
    cloudy: np.ndarray
    missed_cloud: np.ndarray
    shadow: np.ndarray
    background_epoch: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def stack(self) -> np.ndarray:
        """(T, B, M, N) float32: the scenes with NaN where the mask is (a new array)."""
        return np.where(self.valid[:, None], self.scenes, np.float32(np.nan))


def _fields(t: int, rows: int, cols: int, rng: np.random.Generator,
            blob_px: float) -> list[np.ndarray]:
    """T smooth random fields of unit variance (periodic: clouds wrap around the edges)."""
    out = []
    for _ in range(t):
        f = ndimage.gaussian_filter(rng.standard_normal((rows, cols)), blob_px, mode="wrap")
        out.append((f - f.mean()) / max(float(f.std()), 1e-12))
    return out


def cloud_masks(shape: tuple[int, int, int], share: float, rng: np.random.Generator, *,
                blob_px: float = 12.0, concentration: float = 4.0) -> np.ndarray:
    """(T, M, N) bool cloud blobs whose per-epoch cover has mean ``share``.

    Cover of each epoch ~ Beta(share * c, (1 - share) * c), ``c = concentration``.

    Examples
    --------
    >>> m = cloud_masks((40, 50, 50), 0.3, np.random.default_rng(3))
    >>> bool(0.2 < m.mean() < 0.4)
    True
    """
    t, rows, cols = shape
    out = np.zeros(shape, bool)
    if share <= 0:
        return out
    covers = _covers(t, share, rng, concentration)
    for i, (cover, f) in enumerate(zip(covers, _fields(t, rows, cols, rng, blob_px),
                                       strict=True)):
        out[i] = f > np.quantile(f, 1 - cover)
    return out


def _covers(t: int, share: float, rng: np.random.Generator, concentration: float
            ) -> np.ndarray:
    covers = rng.beta(share * concentration, (1 - share) * concentration, t)
    return np.clip(covers * share / max(covers.mean(), 1e-9), 0, 0.95)


def _band_index(names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    return [i for i, n in enumerate(names) if n in wanted]


#: Cloud top-of-atmosphere spectrum relative to its blue reflectance, by band name.
_CLOUD_SPECTRUM = {"B01": 1.02, "B02": 1.0, "B03": 0.98, "B04": 0.97, "B05": 0.96,
                   "B06": 0.96, "B07": 0.95, "B08": 0.95, "B8A": 0.94, "B09": 0.5,
                   "B10": 0.4, "B11": 0.62, "B12": 0.45}
#: Darkening by a full shadow, by band name (a shadow keeps the bluish skylight).
_SHADOW_DEPTH = {"B01": 0.35, "B02": 0.45, "B03": 0.55, "B04": 0.6, "B05": 0.65,
                 "B06": 0.7, "B07": 0.7, "B08": 0.72, "B8A": 0.72, "B09": 0.7,
                 "B10": 0.0, "B11": 0.75, "B12": 0.75}


def _opacity(f: np.ndarray, cover: float, rng: np.random.Generator, thin_share: float,
             edge: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Opacity of the clouds of one epoch, the thin blobs, and each pixel's cloud brightness."""
    rows, cols = f.shape
    if cover <= 0:
        z = np.zeros((rows, cols), "float32")
        return z, np.zeros((rows, cols), bool), z
    cut = float(np.quantile(f, 1 - cover))
    ramp = np.clip((f - cut) / edge, 0, 1)
    blobs, n = ndimage.label(ramp > 0)
    sizes = np.bincount(blobs.ravel())[1:]
    peak = rng.uniform(0.6, 1.0, n + 1)
    thin = np.zeros(n + 1, bool)
    room = thin_share * sizes.sum()
    for i in rng.permutation(n):  # whole blobs, in random order, up to the share of cloud
        if sizes[i] <= room:
            thin[i + 1] = True
            room -= sizes[i]
    peak[thin] = rng.uniform(0.12, 0.3, int(thin.sum()))
    peak[0] = 0
    bright = rng.uniform(0.3, 0.7, n + 1)
    alpha = (ramp ** 0.7 * peak[blobs]).astype("float32")
    return alpha, thin[blobs] & (ramp > 0), bright[blobs].astype("float32")


def semisynthetic_series(before: np.ndarray, after: np.ndarray, label: np.ndarray, *,
                         epochs: int = 12, band_names: Sequence[str] = (),
                         cloud_share: float = 0.3, missed_cloud_share: float = 0.1,
                         seasonal_amplitude: float = 0.04, phenology_amplitude: float = 0.08,
                         jitter_px: float = 0.3, noise_scale: float = 1 / np.sqrt(2),
                         tile: int = 50, shadow_px: tuple[float, float] = (20.0, 120.0),
                         blob_px: float = 12.0, seed: int = 0) -> SyntheticSeries:
    """Build a series of ``epochs`` images from a real (before, after, label) triple.

    Parameters
    ----------
    before, after : (B, M, N) ndarray
        The pair's reflectance on one grid (NaN = no data).
    label : (M, N) bool ndarray
        Change label of the pair.
    epochs : int
        Length of the series (quarters, for the seasonal cycle); at least 3.
    band_names : sequence of str
        Sentinel-2 names of the B bands (enables the phenology term and the
        band-wise cloud and shadow spectra; unnamed bands get those of B08).
    cloud_share : float
        Mean share of observations under a cloud or its shadow.
    missed_cloud_share : float
        Share of the cloud blobs that are thin (and left unmasked in ``stack``).
    seasonal_amplitude, phenology_amplitude : float
        Relative amplitudes of the global and the vegetation seasonal gains.
    jitter_px : float
        Standard deviation of the per-epoch shift, pixels per axis.
    noise_scale : float
        Multiplier of the pair's residuals drawn as noise.
    tile : int
        Side in pixels of the background tiles that switch together.
    shadow_px : (float, float)
        Range of the distance between a cloud and its shadow, pixels.
    blob_px : float
        Size of the cloud blobs (standard deviation of the smoothing, pixels).
    seed : int
        Seed of every random draw.

    Returns
    -------
    SyntheticSeries
    """
    b = np.asarray(before, dtype="float32")
    a = np.asarray(after, dtype="float32")
    lab = np.asarray(label, dtype=bool)
    if b.ndim != 3 or b.shape != a.shape or lab.shape != b.shape[1:]:
        raise DataError(f"before {b.shape}, after {a.shape} and label {lab.shape} must be "
                        "(band, row, col) / (row, col) of one grid")
    if epochs < 3:
        raise DataError(f"a series needs at least 3 epochs, got {epochs}")
    rng = np.random.default_rng(seed)
    nb, rows, cols = b.shape
    names = tuple(band_names) or tuple(f"band{i + 1}" for i in range(nb))
    ok = np.isfinite(b).all(axis=0) & np.isfinite(a).all(axis=0)
    b = np.where(ok, b, 0).astype("float32")
    a = np.where(ok, a, 0).astype("float32")

    # 1. switch epochs of the labelled regions
    regions, n_reg = ndimage.label(lab, structure=np.ones((3, 3)))
    k_reg = np.concatenate([[-1], rng.integers(1, epochs, n_reg)]).astype("int16")
    truth_epoch = k_reg[regions]
    # 2. background tiles
    tr, tc = -(-rows // tile), -(-cols // tile)
    k_tile = rng.integers(1, epochs, (tr, tc)).astype("int16")
    background_epoch = np.repeat(np.repeat(k_tile, tile, 0), tile, 1)[:rows, :cols]
    switch = np.where(lab, truth_epoch, background_epoch)

    # 5. noise pool: residual spectra of unlabelled valid pixels
    pool = (a - b)[:, ok & ~lab].T
    pool = (pool - np.median(pool, axis=0)) * np.float32(noise_scale)
    # 6. clouds and shadows
    sky = np.random.default_rng([seed, 1])   # clouds draw apart: the ground is the same
    covers = _covers(epochs, cloud_share / 1.7, sky, 4.0) if cloud_share > 0 \
        else np.zeros(epochs)
    fields = _fields(epochs, rows, cols, sky, blob_px)
    spec = np.array([_CLOUD_SPECTRUM.get(n, 0.95) for n in names], "float32")[:, None, None]
    depth = np.array([_SHADOW_DEPTH.get(n, 0.72) for n in names], "float32")[:, None, None]
    up, down = _band_index(names, _VEG_UP), _band_index(names, _VEG_DOWN)
    red, nir = (names.index("B04"), names.index("B08")) if {"B04", "B08"} <= set(names) \
        else (None, None)
    phase = rng.uniform(0, 2 * np.pi)
    scenes = np.empty((epochs, nb, rows, cols), "float32")
    cloudy = np.zeros((epochs, rows, cols), bool)
    missed = np.zeros_like(cloudy)
    shadow = np.zeros_like(cloudy)
    for t in range(epochs):
        img = np.where(switch[None] <= t, a, b)
        season = np.sin(2 * np.pi * t / 4 + phase)
        gain = 1 + seasonal_amplitude * season + rng.normal(0, seasonal_amplitude / 4, nb)
        img = img * gain[:, None, None].astype("float32")
        if red is not None and nir is not None and phenology_amplitude > 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                ndvi = (img[nir] - img[red]) / (img[nir] + img[red])
            veg = np.clip((np.nan_to_num(ndvi) - 0.3) / 0.3, 0, 1) * phenology_amplitude * season
            img[up] *= (1 + veg)[None]
            img[down] *= (1 - veg)[None]
        shift = rng.normal(0, jitter_px, 2)
        img = ndimage.shift(img, (0, *shift), order=1, mode="nearest")
        idx = rng.integers(0, pool.shape[0], rows * cols)
        img += pool[idx].T.reshape(nb, rows, cols)
        alpha, thin, bright = _opacity(fields[t], float(covers[t]), sky, missed_cloud_share)
        dist = sky.uniform(*shadow_px)
        angle = np.deg2rad(sky.uniform(30.0, 60.0))      # up and to the left: north-west
        off = (-int(round(dist * np.sin(angle))), -int(round(dist * np.cos(angle))))
        shade = np.roll(alpha, off, axis=(0, 1))
        shade_thin = np.roll(thin, off, axis=(0, 1))
        img *= 1 - depth * shade[None]
        img = (1 - alpha[None]) * img + alpha[None] * (bright[None] * spec)
        scenes[t] = img
        cloudy[t] = alpha > 0.02
        shadow[t] = (shade * float(depth.min()) > 0.02) & ~cloudy[t]
        masked = (cloudy[t] & ~thin) | (shadow[t] & ~shade_thin)
        missed[t] = (cloudy[t] | shadow[t]) & ~masked
    valid = ~((cloudy | shadow) & ~missed) & ok[None]
    scenes[:, :, ~ok] = np.nan
    params = {"epochs": epochs, "cloud_share": cloud_share,
              "missed_cloud_share": missed_cloud_share,
              "seasonal_amplitude": seasonal_amplitude,
              "phenology_amplitude": phenology_amplitude, "jitter_px": jitter_px,
              "noise_scale": float(noise_scale), "tile": tile, "shadow_px": list(shadow_px),
              "blob_px": blob_px, "seed": seed, "regions": int(n_reg)}
    return SyntheticSeries(scenes, valid, truth_epoch, lab, cloudy, missed, shadow,
                           background_epoch, params)
