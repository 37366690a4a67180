"""What a panel shows: a band composite (true or false colour) or a spectral index.

A :class:`View` names the bands and how to turn them into an image. Every
panel of a figure or frame of an animation goes through one shared stretch
(:func:`prepare_view`), so a brighter panel is brighter on the ground.

=========  ====================  ==================================================
name       bands                 shows
=========  ====================  ==================================================
true       B04, B03, B02         what the eye sees
false      B08, B04, B03         colour infrared: vegetation red, paving grey-blue
swir       B12, B11, B04         bare soil and fresh earthworks bright, water black
ndvi       (B08-B04)/(B08+B04)   vegetation (green) against bare ground (brown)
ndbi       (B11-B08)/(B11+B08)   built-up surfaces
bsi        see indices module    bare soil (Rikimaru et al. 2002)
ndwi       (B03-B08)/(B03+B08)   open water (McFeeters 1996)
mndwi      (B03-B11)/(B03+B11)   open water, also in built-up areas (Xu 2006)
=========  ====================  ==================================================

Examples
--------
>>> import numpy as np
>>> v = get_view("ndvi")
>>> v.bands, v.kind
(('B08', 'B04'), 'index')
>>> nir_red = np.array([[[0.4]], [[0.1]]], "float32")
>>> round(float(v.compute(nir_red)[0, 0]), 2)
0.6
>>> get_view(("B11", "B08", "B04")).label
'B11, B08, B04'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitewatch.annotate.stretch import Stretch, shared_stretch, to_rgb
from sitewatch.errors import ConfigError, DataError
from sitewatch.raster import Raster

__all__ = ["View", "VIEWS", "get_view", "PreparedView", "prepare_view"]


@dataclass(frozen=True)
class View:
    """A named way to show bands: ``rgb`` (3 bands) or ``index`` (normalised difference)."""

    name: str
    label: str
    bands: tuple[str, ...]
    kind: str = "rgb"

    def compute(self, data: np.ndarray) -> np.ndarray:
        """(B, M, N) bands in :attr:`bands` order -> (3, M, N) or (M, N) index.

        Indices are the detectors' own (:mod:`sitewatch.detectors.indices`), so a
        figure shows exactly what a detector measured.
        """
        if self.kind == "rgb":
            return np.asarray(data, "float32")
        from sitewatch.detectors import indices

        fn = getattr(indices, self.name, None)
        if fn is not None and self.name in indices.__all__:
            out = fn(np.asarray(data, "float32"), self.bands)
        else:  # a plain normalised difference of the two bands
            out = indices.normalized_difference(data[0], data[1])
        return np.where(np.isfinite(out), out, np.nan).astype("float32")


VIEWS: dict[str, View] = {v.name: v for v in [
    View("true", "true colour (B04, B03, B02)", ("B04", "B03", "B02")),
    View("false", "false colour infrared (B08, B04, B03)", ("B08", "B04", "B03")),
    View("swir", "short-wave infrared (B12, B11, B04)", ("B12", "B11", "B04")),
    View("ndvi", "NDVI (B08-B04)/(B08+B04)", ("B08", "B04"), "index"),
    View("ndbi", "NDBI (B11-B08)/(B11+B08)", ("B11", "B08"), "index"),
    View("bsi", "BSI ((B11+B04)-(B08+B02))/((B11+B04)+(B08+B02))", ("B11", "B04", "B08", "B02"),
         "index"),
    View("ndwi", "NDWI (B03-B08)/(B03+B08)", ("B03", "B08"), "index"),
    View("mndwi", "MNDWI (B03-B11)/(B03+B11)", ("B03", "B11"), "index"),
]}


def get_view(view: str | View | Sequence[str]) -> View:
    """A view by name, a :class:`View`, or three band names for a custom composite."""
    if isinstance(view, View):
        return view
    if isinstance(view, str):
        try:
            return VIEWS[view.lower()]
        except KeyError:
            raise ConfigError(f"unknown view {view!r}: use one of {', '.join(VIEWS)} or three "
                              "band names like B12,B08,B04") from None
    bands = tuple(view)
    if len(bands) != 3:
        raise ConfigError(f"a custom view needs three band names (red, green, blue), got {bands}")
    return View("custom", ", ".join(bands), bands)


@dataclass
class PreparedView:
    """Panels ready to draw: RGB images in [0, 1] or index arrays with one shared range."""

    view: View
    images: list[np.ndarray]
    stretch: Stretch | None = None
    vmin: float | None = None
    vmax: float | None = None

    @property
    def cmap(self) -> str | None:
        from sitewatch.annotate.style import INDEX_CMAPS

        return INDEX_CMAPS.get(self.view.name, "cividis") if self.view.kind == "index" else None


def _index_range(arrays: Sequence[np.ndarray], low: float, high: float) -> tuple[float, float]:
    vals = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    if vals.size == 0:
        return -1.0, 1.0
    lo, hi = (float(v) for v in np.percentile(vals, [low, high]))
    if lo < 0 < hi:  # diverging map centred on zero
        m = max(-lo, hi)
        return -m, m
    return lo, hi


def prepare_view(rasters: Sequence[Raster | None], view: str | View | Sequence[str] = "true", *,
                 stretch: Stretch | None = None, low: float = 2.0, high: float = 98.0,
                 gamma: float = 1.4, index_range: tuple[float, float] | None = None
                 ) -> PreparedView:
    """Images of several rasters under one shared stretch (or one index range).

    Parameters
    ----------
    rasters : sequence of Raster or None
        ``None`` (a gap epoch) gives an all-NaN image of the others' shape.
    view : str, View or three band names
    stretch : Stretch, optional
        Use this RGB stretch instead of computing one.
    low, high : float
        Percentiles of the shared robust stretch, over every panel together.
    gamma : float
        Display gamma of RGB views.
    index_range : (float, float), optional
        Fixed colour range for index views.
    """
    v = get_view(view)
    present = [r for r in rasters if r is not None]
    if not present:
        raise DataError("nothing to draw: every epoch is a gap (no clear observation)")
    missing = [b for b in v.bands if b not in present[0].band_names]
    if missing:
        raise DataError(f"the {v.name} view needs bands {', '.join(v.bands)}; the raster has "
                        f"{', '.join(present[0].band_names)}: load {', '.join(missing)} or "
                        "choose another view")
    shape = present[0].shape
    data = [None if r is None else v.compute(r.select(v.bands).data) for r in rasters]
    if v.kind == "rgb":
        st = stretch or shared_stretch([d for d in data if d is not None], low=low, high=high,
                                       gamma=gamma)
        imgs = [to_rgb(np.full((3, *shape), np.nan, "float32") if d is None else d, st)
                for d in data]
        return PreparedView(v, imgs, stretch=st)
    vmin, vmax = index_range or _index_range([d for d in data if d is not None], low, high)
    imgs = [np.full(shape, np.nan, "float32") if d is None else d for d in data]
    return PreparedView(v, imgs, vmin=vmin, vmax=vmax)
