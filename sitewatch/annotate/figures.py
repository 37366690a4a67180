"""Before/after figures with change outlines, dates and attribution.

Every plotting function takes ``ax=`` (or ``axes=``) and returns the Figure;
none calls ``plt.show()``. Figures use matplotlib's object API (no pyplot
state), so they work headless and in notebooks alike.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> t = Affine(10, 0, 500000, 0, -10, 4000000)
>>> b = Raster(np.full((3, 20, 20), 0.1, "float32"), t, "EPSG:32651",
...            band_names=("B04", "B03", "B02"), dates=("2020-05-01",))
>>> a = b.with_data(b.data + 0.05, dates=("2025-05-01",))
>>> m = np.zeros((20, 20), bool); m[5:9, 5:9] = True
>>> fig = before_after(b, a, mask=m, title="Test")
>>> len(fig.axes)
2
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from pyproj import CRS

from sitewatch.annotate.stretch import Stretch, shared_stretch, to_rgb
from sitewatch.atomic import atomic_write_bytes
from sitewatch.attribution import SITEWATCH_CREDIT, copernicus_attribution
from sitewatch.bands import S2_RGB
from sitewatch.raster import Raster

__all__ = ["before_after", "raster_extent", "data_aspect", "save_figure", "OUTLINE_COLOUR"]

#: Change outline colour: a yellow that stays visible on dark and vegetated
#: ground and is distinguishable under the common colour-vision deficiencies.
OUTLINE_COLOUR = "#ffd400"


def raster_extent(r: Raster) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) for ``imshow(extent=...)``."""
    minx, miny, maxx, maxy = r.bounds
    return (minx, maxx, miny, maxy)


def data_aspect(r: Raster) -> float:
    """Axes aspect that shows the ground true to shape (1 for metric CRSs)."""
    if CRS.from_user_input(r.crs).is_geographic:
        lat = (r.bounds[1] + r.bounds[3]) / 2
        return 1.0 / math.cos(math.radians(lat))
    return 1.0


def _draw_panel(ax: Axes, r: Raster, bands: Sequence[str], stretch: Stretch,
                mask: np.ndarray | None, caption: str) -> None:
    img = to_rgb(r.select(bands).data, stretch)
    ax.imshow(img, extent=raster_extent(r), interpolation="nearest", origin="upper")
    if mask is not None and mask.any():
        left, right, bottom, top = raster_extent(r)
        xs = np.linspace(left, right, r.width + 1)
        ys = np.linspace(top, bottom, r.height + 1)
        xc = (xs[:-1] + xs[1:]) / 2
        yc = (ys[:-1] + ys[1:]) / 2
        ax.contour(xc, yc, mask.astype(float), levels=[0.5], colors=[OUTLINE_COLOUR],
                   linewidths=0.9)
    ax.set_aspect(data_aspect(r))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(caption, fontsize=10, loc="left")


def before_after(before: Raster, after: Raster, *, mask: np.ndarray | None = None,
                 bands: Sequence[str] = S2_RGB, title: str = "", subtitle: str = "",
                 axes: Sequence[Axes] | None = None, stretch: Stretch | None = None,
                 figsize: tuple[float, float] = (10, 5.6), dpi: int = 150,
                 outline_both: bool = False, extra_credit: str = "") -> Figure:
    """Two true-colour panels with one shared stretch and change outlines.

    Parameters
    ----------
    before, after : Raster
        Same grid; must hold ``bands``.
    mask : (M, N) bool ndarray, optional
        Changed pixels, outlined on the after panel (on both with ``outline_both``).
    bands : three band names
        Red, green, blue (default true colour B04, B03, B02).
    title, subtitle : str
    axes : two Axes, optional
        Draw into these instead of a new figure.
    stretch : Stretch, optional
        Default: 2-98 % over both panels together, gamma 1.4.
    extra_credit : str
        An extra attribution line (e.g. the OSCD label credit).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if stretch is None:
        stretch = shared_stretch([before.select(bands).data, after.select(bands).data],
                                 gamma=1.4)
    if axes is None:
        fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        axes = fig.subplots(1, 2)
    else:
        fig = axes[0].figure  # type: ignore[assignment]
    d0 = ", ".join(before.dates) or "before"
    d1 = ", ".join(after.dates) or "after"
    _draw_panel(axes[0], before, bands, stretch, mask if outline_both else None, f"Before: {d0}")
    _draw_panel(axes[1], after, bands, stretch, mask, f"After: {d1}")
    if title:
        fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=12,
                     x=0.01, ha="left")
    if mask is not None:
        from matplotlib.lines import Line2D

        axes[1].legend(handles=[Line2D([], [], color=OUTLINE_COLOUR, lw=1.5,
                                       label="detected change")],
                       loc="lower right", fontsize=8, framealpha=0.85)
    credit = copernicus_attribution(list(before.dates) + list(after.dates))
    lines = [credit + ". " + SITEWATCH_CREDIT + "."]
    if extra_credit:
        lines.append(extra_credit)
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=7, color="#333333", ha="left", va="bottom")
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):  # leave room for the credit lines
        engine.set(rect=(0, 0.04 * len(lines), 1, 1 - 0.04 * len(lines)))
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int | None = None) -> Path:
    """Save a figure atomically (format from the suffix: png, pdf, svg) without pyplot."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".").lower() or "png", dpi=dpi or fig.dpi)
    atomic_write_bytes(buf.getvalue(), path)
    return path
