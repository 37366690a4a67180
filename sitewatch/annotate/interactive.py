"""Interactive before/after comparison in a notebook: a swipe slider (ipywidgets).

:func:`swipe` shows the after image left of a line and the before image right
of it; dragging the slider moves the line. Both dates go through one shared
stretch, the change outline is drawn in its type colours, and the caption
carries the dates and the attribution. Without ipywidgets (``pip install
'sitewatch[notebook]'``) it returns the static before/after figure instead.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> t = Affine(10, 0, 500000, 0, -10, 4000000)
>>> b = Raster(np.full((3, 20, 20), 0.1, "float32"), t, "EPSG:32651",
...            band_names=("B04", "B03", "B02"), dates=("2020-05-01",))
>>> a = b.with_data(b.data + 0.1, dates=("2025-05-01",))
>>> img = swipe_image(b, a, 0.5, width_px=40)
>>> img.shape, bool((img[:, 5] > img[:, 35]).all())   # after (brighter) on the left
((40, 40, 3), True)
"""

from __future__ import annotations

import html
import logging
from typing import Any

import numpy as np

from sitewatch.annotate.display import _display_shape, _png
from sitewatch.annotate.overlay import change_types
from sitewatch.annotate.style import change_colour
from sitewatch.annotate.views import prepare_view
from sitewatch.attribution import copernicus_attribution
from sitewatch.raster import Raster

__all__ = ["swipe", "swipe_image"]

log = logging.getLogger(__name__)


def _to_uint8(img: np.ndarray, pv: Any) -> np.ndarray:
    if img.ndim == 2:  # index view: colour map with the shared range
        from matplotlib import colormaps

        cmap = colormaps[pv.cmap or "cividis"].with_extremes(bad="#d9d9d9")
        norm = (img - pv.vmin) / max(pv.vmax - pv.vmin, 1e-12)
        img = cmap(np.ma.masked_invalid(norm))[..., :3]
    return (np.clip(img, 0, 1) * 255).astype("uint8")


def _resize(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = shape
    return np.asarray(Image.fromarray(arr).resize((w, h), Image.Resampling.NEAREST))


def _outline(types: np.ndarray) -> np.ndarray:
    """Pixels on the inner edge of each change type's area (0 elsewhere)."""
    from scipy import ndimage

    edge = np.zeros_like(types)
    for code in np.unique(types[types > 0]):
        m = types == code
        edge[m & ~ndimage.binary_erosion(m)] = code
    return edge


def swipe_image(before: Raster, after: Raster, position: float, *, view: str = "true",
                mask: np.ndarray | None = None, change_type: np.ndarray | None = None,
                width_px: int = 640, _cache: dict[str, Any] | None = None) -> np.ndarray:
    """(H, W, 3) uint8: after left of ``position`` (0-1 of the width), before right of it."""
    cache = _cache if _cache is not None else {}
    if "pair" not in cache:
        pv = prepare_view([before, after], view)
        shape = _display_shape(before, width_px)
        shape = (round(shape[0] * width_px / shape[1]), width_px)
        b, a = (_resize(_to_uint8(i, pv), shape) for i in pv.images)
        if mask is not None or change_type is not None:
            edge = _resize(_outline(change_types(mask=mask, change_type=change_type)), shape)
            for code in np.unique(edge[edge > 0]):
                rgb = [int(change_colour(int(code))[k:k + 2], 16) for k in (1, 3, 5)]
                a = a.copy()
                a[edge == code] = rgb
        cache["pair"] = (b, a)
    b, a = cache["pair"]
    col = int(round(np.clip(position, 0, 1) * a.shape[1]))
    out = b.copy()
    out[:, :col] = a[:, :col]
    if 0 < col < out.shape[1]:
        out[:, max(col - 1, 0):col + 1] = 255
    return out  # type: ignore[no-any-return]


def swipe(before: Raster, after: Raster, *, view: str = "true", mask: np.ndarray | None = None,
          change_type: np.ndarray | None = None, width_px: int = 640) -> Any:
    """An ipywidgets swipe comparison (or the static figure without ipywidgets).

    Parameters
    ----------
    before, after : Raster
        Same grid.
    view : str
        ``true``, ``false``, ``swir``, ``ndvi``... (one stretch for both).
    mask, change_type : (M, N) ndarray, optional
        Change drawn as outlines in the type colours.
    width_px : int
        Displayed width.

    Returns
    -------
    ipywidgets.VBox, or matplotlib Figure when ipywidgets is missing
    """
    try:
        import ipywidgets as widgets
    except ImportError:
        from sitewatch.annotate.figures import before_after

        log.info("ipywidgets not installed (pip install 'sitewatch[notebook]'): "
                 "showing the static before/after figure")
        return before_after(before, after, mask=mask, change_type=change_type, view=view,
                            preset="web")
    cache: dict[str, Any] = {}
    slider = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, readout=False,
                                 description="swipe", layout=widgets.Layout(width=f"{width_px}px"))
    image = widgets.Image(format="png", width=width_px)

    def update(_: Any = None) -> None:
        image.value = _png(swipe_image(before, after, slider.value, view=view, mask=mask,
                                       change_type=change_type, width_px=width_px,
                                       _cache=cache))

    slider.observe(update, names="value")
    update()
    d0, d1 = ", ".join(before.dates), ", ".join(after.dates)
    credit = copernicus_attribution(list(before.dates) + list(after.dates))
    caption = widgets.HTML(
        f"<b>after {html.escape(d1)}</b> ◀ line ▶ <b>before {html.escape(d0)}</b>"
        f"<br><span style='color:#777;font-size:11px'>{html.escape(credit)}; one stretch "
        f"for both dates ({html.escape(view)}).</span>")
    return widgets.VBox([caption, image, slider])
