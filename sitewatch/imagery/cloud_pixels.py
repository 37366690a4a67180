"""Cloud and shadow screening from the pixels, for scenes that carry no classification (SCL).

Files exported from EO Browser, Copernicus Browser or a user's own processing
hold reflectance bands only. Their clouds and shadows are found from the
pixels with a spectral and temporal test, after the multi-temporal masks of
Landsat time-series methods (Tmask, Zhu & Woodcock 2014; MACCS, Hagolle et al.
2010): a cloud is **bright in blue and transient in time**, a shadow is **dark
in the near and short-wave infrared and transient in time**. Each
observation is compared with the pixel's own clear state just before and just
after it:

1. **References.** For every scene, each pixel's reference before it is the
   median of its last three earlier observations not flagged so far (fewer at
   the start of the series), and its reference after it the same of the next
   three; a missed cloud among three is outvoted.
2. **Cloud**: blue above both references by ``cloud_delta`` (0.04 in
   reflectance, Tmask's threshold on the blue band), or above ``bright_blue``
   in a scene with no other scene to compare with. A new bright roof is
   brighter than the scenes before it but not than those after it: it is
   kept. With a reference on one side only (the first and last scenes), the
   pixel must also be brighter than ``bright_blue`` in blue.
3. **Shadow**: near infrared and short-wave infrared (those of B08/B8A and
   B11/B12 present) both below both references by ``shadow_delta`` (0.04,
   Tmask's), and the darkening at least ``shadow_share`` of the reference
   (shadows dim the ground by a share; a little darker is not a shadow); with
   a reference on one side only, twice both. New dark asphalt is darker than
   the scenes before it, not than those after it: it is kept.
4. The test is run twice, the second time with the first pass's clouds and
   shadows left out of the references; clouds and shadows are then grown by
   ``buffer_px`` pixels (their thin edges).

Why not `s2cloudless <https://github.com/sentinel-hub/sentinel2-cloud-detector>`_:
its model needs ten Level-1C bands (B01, B02, B04, B05, B08, B8A, B09, B10,
B11, B12), and B01, B09 and B10 are missing from Level-2A products and from
most exports; it finds no shadows; its code and model are under CC BY-SA 4.0
(share-alike) and bring LightGBM and OpenCV. The test here needs blue, and the
near and short-wave infrared for shadows, of any processing level.

Known limits: a bright surface seen in the last scene only (or a dark one)
cannot be told from a cloud (a shadow) until a later scene shows it again;
snow is masked as cloud (as the SCL screening masks it); a cloud present in
the same place in all three scenes on both sides is not transient and is
missed.

References
----------
Z. Zhu, C. E. Woodcock, "Automated cloud, cloud shadow, and snow detection in
multitemporal Landsat data: an algorithm designed specifically for monitoring
land cover change", Remote Sensing of Environment 152, 2014 (Tmask).
O. Hagolle, M. Huc, D. Villa Pascual, G. Dedieu, "A multi-temporal method for
cloud detection, applied to FORMOSAT-2, VENuS, LANDSAT and SENTINEL-2 images",
Remote Sensing of Environment 114(8), 2010.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> field = np.array([0.05, 0.08, 0.06, 0.30, 0.20])[:, None, None]
>>> scenes = [np.broadcast_to(field, (5, 8, 8)) + rng.normal(0, 0.003, (5, 8, 8))
...           for _ in range(6)]
>>> scenes[3] = scenes[3].copy(); scenes[3][:, :3, :3] += 0.3          # a cloud
>>> scenes[2] = scenes[2].copy(); scenes[2][3:, 5:, 5:] *= 0.4          # a shadow (NIR, SWIR)
>>> res = screen_pixels(scenes, ("B02", "B03", "B04", "B08", "B11"),
...                     policy=PixelScreen(buffer_px=0))
>>> [round(r.clear_fraction, 3) for r in res]
[1.0, 1.0, 0.859, 0.859, 1.0, 1.0]
>>> res[3].fractions["cloud"], res[2].fractions["shadow"]
(0.140625, 0.140625)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from sitewatch.errors import DataError
from sitewatch.imagery.cloud import SceneScreen

__all__ = ["PixelScreen", "screen_pixels", "screening_bands", "BLUE_BANDS", "NIR_BANDS",
           "SWIR_BANDS"]

log = logging.getLogger(__name__)

#: Bands tried, in order, for each role.
BLUE_BANDS = ("B02", "B01")
NIR_BANDS = ("B08", "B8A")
SWIR_BANDS = ("B11", "B12")


@dataclass(frozen=True)
class PixelScreen:
    """The policy of :func:`screen_pixels` (defaults are the recommended ones).

    Parameters
    ----------
    cloud_delta : float
        Rise of the blue reflectance over the pixel's references that makes a cloud.
    shadow_delta : float
        Drop of the near and short-wave infrared reflectance that makes a shadow.
    shadow_share : float
        ... and the drop must be at least this share of the reference.
    bright_blue : float
        Blue reflectance taken as cloud when a scene has no other to compare with.
    neighbours : int
        Observations on each side whose median is a pixel's reference (1 or 3).
    min_object_px : int
        Clouds and shadows smaller than this (8-connected pixels) are noise, not
        clouds: they are dropped before the buffer.
    buffer_px : int
        Clouds and shadows are grown by this many pixels.
    """

    cloud_delta: float = 0.04
    shadow_delta: float = 0.04
    shadow_share: float = 0.25
    bright_blue: float = 0.25
    neighbours: int = 3
    min_object_px: int = 4
    buffer_px: int = 1

    def __post_init__(self) -> None:
        if self.neighbours not in (1, 3):
            raise DataError(f"neighbours must be 1 or 3, got {self.neighbours}")
        if min(self.cloud_delta, self.shadow_delta) <= 0 or self.buffer_px < 0:
            raise DataError("cloud_delta and shadow_delta must be > 0 and buffer_px >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {"method": "spectral-temporal (pixels)", "cloud_delta": self.cloud_delta,
                "shadow_delta": self.shadow_delta, "shadow_share": self.shadow_share,
                "bright_blue": self.bright_blue, "neighbours": self.neighbours,
                "min_object_px": self.min_object_px, "buffer_px": self.buffer_px}


def screening_bands(band_names: Sequence[str]) -> dict[str, list[str]]:
    """The bands the screening reads, by role (``blue`` empty: it cannot screen).

    Examples
    --------
    >>> screening_bands(["B02", "B03", "B04", "B08", "B11", "B12"])
    {'blue': ['B02'], 'nir': ['B08'], 'swir': ['B11']}
    >>> screening_bands(["NDVI"])["blue"]
    []
    """
    names = list(band_names)

    def first(options: Sequence[str]) -> list[str]:
        return [b for b in options if b in names][:1]

    return {"blue": first(BLUE_BANDS), "nir": first(NIR_BANDS), "swir": first(SWIR_BANDS)}


def _references(feats: np.ndarray, usable: np.ndarray, k: int, reverse: bool
                ) -> np.ndarray:
    """(T, F, P) reference of each observation: the median of the ``k`` usable
    observations before it (after it with ``reverse``), NaN where there is none."""
    t, f, p = feats.shape
    out = np.full((t, f, p), np.nan, "float32")
    hist = np.full((k, f, p), np.nan, "float32")
    seen = np.zeros(p, "int32")
    order = range(t - 1, -1, -1) if reverse else range(t)
    for i in order:
        ref = out[i]
        if k == 1:
            np.copyto(ref, hist[0])
        else:
            h1, h2, h3 = hist[0], hist[1], hist[2]
            np.maximum(np.minimum(h1, h2), np.minimum(np.maximum(h1, h2), h3), out=ref)
            np.copyto(ref, 0.5 * (h1 + h2), where=(seen == 2)[None])
            np.copyto(ref, h1, where=(seen < 2)[None])
        u = usable[i]
        if u.any():
            for j in range(k - 1, 0, -1):
                np.copyto(hist[j], hist[j - 1], where=u[None])
            np.copyto(hist[0], feats[i], where=u[None])
            seen += u
    return out


def _test(feats: np.ndarray, valid: np.ndarray, usable: np.ndarray, policy: PixelScreen,
          has_shadow_bands: bool) -> tuple[np.ndarray, np.ndarray]:
    """(T, P) cloud and shadow flags of one pass."""
    before = _references(feats, usable, policy.neighbours, reverse=False)
    after = _references(feats, usable, policy.neighbours, reverse=True)
    t = feats.shape[0]
    cloud = np.zeros(valid.shape, bool)
    shadow = np.zeros(valid.shape, bool)
    for i in range(t):
        x, rb, ra = feats[i], before[i], after[i]
        with np.errstate(invalid="ignore"):
            # both sides must agree; with one side only (the ends of the series) the
            # pixel must also be bright in absolute terms, and a shadow twice as dark:
            # a new bright roof in the last scene is otherwise a cloud
            up_b, up_a = x[0] - rb[0], x[0] - ra[0]
            none_b, none_a = np.isnan(rb[0]), np.isnan(ra[0])
            one_side = none_b ^ none_a
            c = (((up_b >= policy.cloud_delta) | none_b)
                 & ((up_a >= policy.cloud_delta) | none_a))
            c &= ~(none_b | none_a) | (x[0] >= policy.bright_blue)
            cloud[i] = c & valid[i]
            if has_shadow_bands:
                s = np.ones(x.shape[1], bool)
                strict = np.where(one_side, 2.0, 1.0)
                for ref, none in ((rb, none_b), (ra, none_a)):
                    drop = ref[1:] - x[1:]
                    dark = ((drop >= policy.shadow_delta * strict)
                            & (drop >= policy.shadow_share * strict * ref[1:])).all(axis=0)
                    s &= dark | none
                shadow[i] = s & ~(none_b & none_a) & valid[i] & ~cloud[i]
    return cloud, shadow


def _objects(mask: np.ndarray, min_px: int) -> np.ndarray:
    """``mask`` without its 8-connected objects smaller than ``min_px`` pixels."""
    if not mask.any():
        return mask
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_px
    keep[0] = False
    return keep[labels]


def screen_pixels(scenes: Sequence[np.ndarray], band_names: Sequence[str], *,
                  policy: PixelScreen | None = None, valid: Sequence[np.ndarray] | None = None,
                  site_mask: np.ndarray | None = None, scene_ids: Sequence[str] | None = None,
                  dates: Sequence[str] | None = None) -> list[SceneScreen]:
    """Screen a time series of scenes of one site for clouds and shadows (module docs).

    Parameters
    ----------
    scenes : sequence of (B, M, N) ndarray
        Reflectance of each scene on one grid, in time order (NaN = no data).
    band_names : sequence of str
        Names of the B bands; a blue band is needed (B02, or B01), the near
        and short-wave infrared (B08/B8A, B11/B12) for shadows.
    policy : PixelScreen, optional
    valid : sequence of (M, N) bool ndarray, optional
        Usable pixels of each scene (default: finite in the screening bands).
    site_mask : (M, N) bool ndarray, optional
        Pixels inside the site, for the clear fractions (default: all).
    scene_ids, dates : sequence of str, optional
        Stored in the results.

    Returns
    -------
    list of SceneScreen
        One per scene: clear mask and fraction, ``fractions`` of the site under
        ``cloud``, ``shadow`` and ``no_data``.

    Raises
    ------
    DataError
        No blue band, or scenes on different grids.
    """
    policy = policy or PixelScreen()
    roles = screening_bands(band_names)
    if not roles["blue"]:
        raise DataError(f"cloud screening from the pixels needs a blue band (B02): the scenes "
                        f"hold {', '.join(band_names)}; add B02, or give a cloud mask")
    if not scenes:
        return []
    shape = np.shape(scenes[0])[1:]
    if any(np.shape(s)[1:] != shape for s in scenes):
        raise DataError("scenes to screen are on different grids: load them on the site grid")
    names = list(band_names)
    use = roles["blue"] + ([*roles["nir"], *roles["swir"]] if roles["nir"] else [])
    idx = [names.index(b) for b in use]
    t, p = len(scenes), int(np.prod(shape))
    feats = np.empty((t, len(idx), p), "float32")
    ok = np.empty((t, p), bool)
    for i, s in enumerate(scenes):
        x = feats[i]
        x[:] = np.asarray(s)[idx].reshape(len(idx), -1)
        good = np.isfinite(x).all(axis=0)
        if valid is not None:
            good &= np.asarray(valid[i], bool).reshape(-1)
        ok[i] = good
    cloud, shadow = _test(feats, ok, ok, policy, len(idx) > 1)
    cloud, shadow = _test(feats, ok, ok & ~cloud & ~shadow, policy, len(idx) > 1)
    site = np.ones(shape, bool) if site_mask is None else np.asarray(site_mask, bool)
    n_site = int(site.sum())
    if n_site == 0:
        raise DataError("the site covers no pixel of the grid: check the site and grid")
    out = []
    grow = np.ones((3, 3), bool)
    for i in range(t):
        c = cloud[i].reshape(shape)
        s = shadow[i].reshape(shape)
        if policy.min_object_px > 1:
            c = _objects(c, policy.min_object_px)
            s = _objects(s, policy.min_object_px)
        if policy.buffer_px and (c.any() or s.any()):
            c = ndimage.binary_dilation(c, grow, iterations=policy.buffer_px)
            s = ndimage.binary_dilation(s, grow, iterations=policy.buffer_px) & ~c
        good = ok[i].reshape(shape)
        clear = good & ~c & ~s
        fractions = {"no_data": float((~good & site).sum()) / n_site,
                     "cloud": float((c & good & site).sum()) / n_site,
                     "shadow": float((s & good & site).sum()) / n_site}
        out.append(SceneScreen(clear, float((clear & site).sum()) / n_site, fractions,
                               scene_id=scene_ids[i] if scene_ids is not None else "",
                               date=(dates[i][:10] if dates is not None else "")))
    log.info("pixel screening of %d scenes: %.0f%% cloud, %.0f%% shadow on average", t,
             100 * np.mean([o.fractions["cloud"] for o in out]),
             100 * np.mean([o.fractions["shadow"] for o in out]))
    return out
