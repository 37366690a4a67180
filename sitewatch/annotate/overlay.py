"""Change and site overlays drawn as vectors on a raster panel.

Changed pixels are traced into polygons along pixel edges (so the outline is
exactly the detected area, and SVG/PDF stay vector), one compound path per
:class:`~sitewatch.types.ChangeType`, coloured with the house colours.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> t = np.zeros((6, 6), "uint8"); t[1:3, 1:3] = 1; t[4:6, 4:6] = 3
>>> polys = type_polygons(t, Affine(10, 0, 0, 0, -10, 60))
>>> sorted(polys), polys[1][0].area
([1, 3], 400.0)
>>> change_types(mask=np.eye(2, dtype=bool)).tolist()
[[7, 0], [0, 7]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from affine import Affine
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from sitewatch.annotate.style import MINOR_FILL, SITE_COLOUR, change_colour, halo
from sitewatch.errors import DataError
from sitewatch.geometry import reproject_geometry
from sitewatch.types import ChangeType

__all__ = ["change_types", "type_polygons", "region_polygons", "draw_changes", "draw_minor",
           "draw_site", "change_label", "legend_handles", "minor_label"]


def change_types(*, mask: np.ndarray | None = None, change_type: np.ndarray | None = None
                 ) -> np.ndarray:
    """(M, N) uint8 type codes: ``change_type`` where set, else OTHER where ``mask``."""
    if change_type is None and mask is None:
        raise DataError("give a change mask or a change-type array to draw")
    if change_type is not None:
        out = np.asarray(change_type).astype("uint8", copy=True)
        if mask is not None:
            m = np.asarray(mask, bool)
            out[~m] = 0
            out[m & (out == 0)] = int(ChangeType.OTHER)
        return out
    return np.where(np.asarray(mask, bool), int(ChangeType.OTHER), 0).astype("uint8")


def type_polygons(types: np.ndarray, transform: Affine) -> dict[int, list[Polygon]]:
    """Polygons (in the grid's CRS) of each change type's pixels, traced along pixel edges.

    The tracer of the regions (:func:`~sitewatch.detectors.polygons.trace_polygons`),
    so what is drawn is what is written.
    """
    from sitewatch.detectors.polygons import trace_polygons

    traced = trace_polygons(np.asarray(types).astype("int32"), transform)
    return {code: list(getattr(g, "geoms", [g])) for code, g in sorted(traced.items())}


def region_polygons(regions: Sequence[Any]) -> dict[int, list[Polygon]]:
    """The polygons of regions (grid CRS), grouped by each region's class.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from sitewatch.detectors.polygons import Region
    >>> rs = [Region(1, box(0, 0, 1, 1), box(0, 0, 1, 1), 1.0, 1, (0, 0), 8),
    ...       Region(2, box(2, 0, 3, 1), box(2, 0, 3, 1), 1.0, 1, (0, 0), 3)]
    >>> {k: len(v) for k, v in region_polygons(rs).items()}
    {3: 1, 8: 1}
    """
    out: dict[int, list[Polygon]] = {}
    for r in regions:
        out.setdefault(int(r.change_type), []).extend(getattr(r.geometry, "geoms",
                                                              [r.geometry]))
    return dict(sorted(out.items()))


def _path_of(polys: Sequence[BaseGeometry]) -> Any:
    from matplotlib.path import Path

    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for poly in polys:
        parts = list(getattr(poly, "geoms", [poly]))
        for p in parts:
            if p.is_empty or p.geom_type != "Polygon":
                continue
            p = orient(p, 1.0)  # exterior CCW, holes CW: nonzero fill leaves holes open
            for ring in (p.exterior, *p.interiors):
                xy = np.asarray(ring.coords, dtype="float64")[:, :2]
                c = np.full(len(xy), Path.LINETO, dtype=np.uint8)
                c[0], c[-1] = Path.MOVETO, Path.CLOSEPOLY
                verts.append(xy)
                codes.append(c)
    if not verts:
        return None
    return Path(np.concatenate(verts), np.concatenate(codes))


def draw_changes(ax: Any, types: np.ndarray | None, transform: Affine, *,
                 mode: str = "outline",
                 linewidth: float = 0.8, alpha: float = 0.55, halo_width: float | None = None,
                 polygons: dict[int, list[Polygon]] | None = None) -> list[Any]:
    """Draw change polygons coloured by type on ``ax`` (in the grid's CRS coordinates).

    Parameters
    ----------
    ax : matplotlib Axes
    types : (M, N) uint8 ndarray or None
        :class:`ChangeType` codes, 0 = unchanged (see :func:`change_types`); None when
        ``polygons`` are given.
    transform : Affine
        The grid's transform.
    mode : {"outline", "fill"}
        Outlines (with a dark halo) or translucent fill with a solid edge.
    alpha : float
        Fill opacity (``mode="fill"``).
    polygons : dict, optional
        Pre-traced :func:`type_polygons` (reused across panels).

    Returns
    -------
    list of PathPatch
        One per change type present, ``gid`` = ``change-<slug>``.
    """
    from matplotlib.patches import PathPatch

    if mode not in ("outline", "fill"):
        raise DataError(f"unknown overlay {mode!r}: use outline or fill")
    if polygons is None and types is None:
        raise DataError("draw_changes needs a change-type array or polygons")
    polys = type_polygons(types, transform) if polygons is None else polygons  # type: ignore[arg-type]
    patches = []
    for code, plist in polys.items():
        path = _path_of(plist)
        if path is None:
            continue
        colour = change_colour(code)
        slug = ChangeType(code).slug if code in ChangeType._value2member_map_ else str(code)
        if mode == "outline":
            patch = PathPatch(path, facecolor="none", edgecolor=colour, lw=linewidth,
                              joinstyle="miter", gid=f"change-{slug}",
                              path_effects=halo(halo_width or linewidth * 2.4))
        else:
            patch = PathPatch(path, facecolor=colour, alpha=None, edgecolor=colour,
                              lw=linewidth * 0.6, gid=f"change-{slug}")
            patch.set_facecolor((*_rgb(colour), alpha))
        ax.add_patch(patch)
        patches.append(patch)
    return patches


def draw_minor(ax: Any, polygons: Sequence[BaseGeometry], *, linewidth: float = 0.4
               ) -> Any:
    """The smaller regions of a figure as a light fill (``gid="change-minor"``), no outline."""
    from matplotlib.patches import PathPatch

    path = _path_of(polygons)
    if path is None:
        return None
    colour, alpha = MINOR_FILL
    patch = PathPatch(path, facecolor=(*_rgb(colour), alpha), edgecolor=(*_rgb(colour), alpha),
                      lw=linewidth * 0.5, gid="change-minor")
    ax.add_patch(patch)
    return patch


def _rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def draw_site(ax: Any, geometry: BaseGeometry, crs: str, *, geometry_crs: str = "EPSG:4326",
              linewidth: float = 0.9) -> Any:
    """Draw a site outline: black dashes on a white line (geometry in WGS84 by default)."""
    from matplotlib.patches import PathPatch

    g = reproject_geometry(geometry, geometry_crs, crs)
    path = _path_of([g] if g.geom_type != "MultiPolygon" else list(g.geoms))  # type: ignore
    if path is None:
        return None
    ax.add_patch(PathPatch(path, facecolor="none", edgecolor="#FFFFFF", lw=linewidth * 1.6,
                           gid="site-outline-base"))
    patch = PathPatch(path, facecolor="none", edgecolor=SITE_COLOUR, lw=linewidth,
                      linestyle=(0, (4, 3)), gid="site-outline")
    ax.add_patch(patch)
    return patch


def change_label(code: int) -> str:
    """Legend/callout wording of a change type: its one name (:data:`CHANGE_TYPE_NAMES`).

    Examples
    --------
    >>> change_label(1), change_label(7), change_label(8)
    ('new paving', 'other change', 'mixed change')
    """
    try:
        return ChangeType(int(code)).label
    except ValueError:
        return f"change type {code}"


def minor_label(count: int) -> str:
    """Legend wording of the regions a figure fills instead of outlining.

    Examples
    --------
    >>> minor_label(68)
    'smaller changes (68 regions), not outlined'
    """
    return f"smaller changes ({count} region{'s' if count != 1 else ''}), not outlined"


def legend_handles(codes: Sequence[int], *, mode: str = "outline", site: bool = False,
                   linewidth: float = 1.2, minor: int = 0) -> tuple[list[Any], list[str]]:
    """Legend handles and labels for the drawn change types (and the site outline).

    ``minor`` regions drawn as a light fill get an entry of their own.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    labels: list[str] = []
    codes = sorted(set(int(c) for c in codes))
    for code in codes:
        colour = change_colour(code)
        if mode == "fill":
            handles.append(Patch(facecolor=colour, edgecolor="#555555", lw=0.4))
        else:
            handles.append(Line2D([], [], color=colour, lw=linewidth,
                                  path_effects=halo(linewidth * 2.4)))
        labels.append(change_label(code))
    if minor:
        colour, alpha = MINOR_FILL
        handles.append(Patch(facecolor=(*_rgb(colour), alpha), edgecolor="#555555", lw=0.4))
        labels.append(minor_label(minor))
    if site:
        handles.append((Line2D([], [], color="#FFFFFF", lw=linewidth * 1.6),
                        Line2D([], [], color=SITE_COLOUR, lw=linewidth, ls=(0, (4, 3)))))
        labels.append("site outline")
    return handles, labels
