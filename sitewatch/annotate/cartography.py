"""Scale bars and north arrows that are right for the raster's CRS and place.

Both are measured on the WGS84 ellipsoid instead of assumed:

* a **scale bar** of a round ground length (1, 2 or 5 x 10^n m) is drawn with
  the map length whose geodesic length is exactly that many metres at the
  bar's position. This covers the UTM scale factor (0.9996 at the central
  meridian, up to ~1.001 at a zone's edge) and geographic grids, where a
  degree of longitude shrinks with the cosine of the latitude and pixels are
  not square on the ground;
* a **north arrow** points to true north, which on a UTM grid differs from
  grid north ("up") by the meridian convergence: about (lon - lon0) sin(lat),
  2.1 degrees at 60 N and 2.4 degrees east of the central meridian. In a geographic
  (lon/lat) grid north is up.

Examples
--------
>>> round(ground_metres_per_unit("EPSG:32651", 500000, 4427757), 5)  # 1 / 0.9996
1.0004
>>> round(ground_metres_per_unit("EPSG:4326", -122.0, 37.33), -1)    # one degree of longitude
88630.0
>>> round(true_north_angle("EPSG:32651", 500000, 4427757), 6)         # on the central meridian
0.0
>>> round(true_north_angle("EPSG:32651", 633847, 6653839), 2)         # 125.4 E, 60 N: west of up
-2.08
>>> nice_length(3600 * 0.25), scale_label(2000)
(500.0, '2 km')
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from pyproj import CRS, Geod, Transformer

__all__ = ["ground_metres_per_unit", "map_length_for", "true_north_angle", "nice_length",
           "scale_label", "ScaleBar", "NorthArrow", "scale_bar", "north_arrow",
           "display_aspect"]

_GEOD = Geod(ellps="WGS84")


@functools.lru_cache(maxsize=32)
def _transformers(crs: str) -> tuple[Transformer, Transformer] | None:
    c = CRS.from_user_input(crs)
    if c.is_geographic and c.to_epsg() == 4326:
        return None
    return (Transformer.from_crs(c, "EPSG:4326", always_xy=True),
            Transformer.from_crs("EPSG:4326", c, always_xy=True))


def _to_ll(crs: str, x: float, y: float) -> tuple[float, float]:
    t = _transformers(crs)
    return (x, y) if t is None else t[0].transform(x, y)


def _from_ll(crs: str, lon: float, lat: float) -> tuple[float, float]:
    t = _transformers(crs)
    return (lon, lat) if t is None else t[1].transform(lon, lat)


def _geodesic_m(crs: str, x0: float, y0: float, x1: float, y1: float) -> float:
    lon0, lat0 = _to_ll(crs, x0, y0)
    lon1, lat1 = _to_ll(crs, x1, y1)
    return float(_GEOD.inv(lon0, lat0, lon1, lat1)[2])


def ground_metres_per_unit(crs: str, x: float, y: float, *, probe: float | None = None
                           ) -> float:
    """Ground metres per map unit along the grid's x axis at (x, y).

    Parameters
    ----------
    crs : str
        The grid's CRS.
    x, y : float
        Position in CRS coordinates.
    probe : float, optional
        Length of the measured segment in map units (default 1/1000 of a
        degree in geographic CRSs, 10 m otherwise).
    """
    if probe is None:
        probe = 1e-3 if CRS.from_user_input(crs).is_geographic else 10.0
    return _geodesic_m(crs, x, y, x + probe, y) / probe


def map_length_for(length_m: float, crs: str, x: float, y: float) -> float:
    """Map units along x, starting at (x, y), whose geodesic length is ``length_m``."""
    units = length_m / ground_metres_per_unit(crs, x, y)
    for _ in range(3):  # refine on the segment itself (curvature, changing scale)
        units *= length_m / _geodesic_m(crs, x, y, x + units, y)
    return units


def true_north_angle(crs: str, x: float, y: float) -> float:
    """Clockwise angle in degrees from grid up (+y) to true north at (x, y).

    Negative where true north lies west (left) of grid north, as east of a UTM
    zone's central meridian in the northern hemisphere. This is minus the
    meridian convergence as pyproj reports it.
    """
    lon, lat = _to_ll(crs, x, y)
    if lat > 89.999:
        return 0.0
    lon2, lat2, _ = _GEOD.fwd(lon, lat, 0.0, 50.0)
    x2, y2 = _from_ll(crs, lon2, lat2)
    return math.degrees(math.atan2(x2 - x, y2 - y))


def nice_length(max_m: float) -> float:
    """The largest 1, 2 or 5 x 10^n metres not above ``max_m``."""
    if max_m <= 0:
        raise ValueError("scale bar length must be positive")
    exp = math.floor(math.log10(max_m))
    for m in (5, 2, 1):
        if m * 10 ** exp <= max_m:
            return float(m * 10 ** exp)
    return float(10 ** exp)


def scale_label(length_m: float) -> str:
    """``"500 m"``, ``"2 km"``, ``"2.5 km"``."""
    if length_m >= 1000:
        km = length_m / 1000
        return f"{km:g} km"
    return f"{length_m:g} m"


def display_aspect(crs: str, lat: float) -> float:
    """Axes aspect (y unit / x unit on screen) showing the ground true to shape.

    1 for projected CRSs; 1/cos(lat) for longitude/latitude grids, whose
    degree of longitude is shorter on the ground than a degree of latitude.
    """
    if CRS.from_user_input(crs).is_geographic:
        return 1.0 / math.cos(math.radians(lat))
    return 1.0


@dataclass
class ScaleBar:
    """A drawn scale bar: its ground length, map length and artists."""

    length_m: float
    map_length: float
    label: str
    artist: Any
    bar: Any


@dataclass
class NorthArrow:
    """A drawn north arrow: its clockwise angle from up and artists."""

    angle_deg: float
    artist: Any
    arrow: Any


def _axes_centre(ax: Any) -> tuple[float, float]:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    return (x0 + x1) / 2, (y0 + y1) / 2


def _anchor_in_white_box(ax: Any, child: Any, loc: str, *, pad: float, gid: str) -> Any:
    """Anchor ``child`` in a corner of ``ax`` on a rounded, translucent white box."""
    from matplotlib.offsetbox import AnchoredOffsetbox

    anchored = AnchoredOffsetbox(loc=loc, child=child, pad=pad, borderpad=0.5, frameon=True)
    anchored.patch.set_boxstyle("round,pad=0.15,rounding_size=0.2")
    anchored.patch.set_facecolor("#FFFFFF")
    anchored.patch.set_alpha(0.82)
    anchored.patch.set_edgecolor("none")
    anchored.set_gid(gid)
    ax.add_artist(anchored)
    return anchored


def scale_bar(ax: Any, crs: str, *, length_m: float | None = None, max_fraction: float = 0.28,
              loc: str = "lower left", fontsize: float | None = None,
              segments: int = 2) -> ScaleBar:
    """Draw a metric scale bar of a round length on ``ax`` (data in ``crs`` units).

    Parameters
    ----------
    ax : matplotlib Axes
        Showing a raster in its CRS coordinates (``imshow(extent=...)``).
    crs : str
    length_m : float, optional
        Ground length; default the largest round length not above
        ``max_fraction`` of the panel width.
    loc : str
        Anchor location (matplotlib legend codes).
    segments : int
        Alternating black/white segments.

    Returns
    -------
    ScaleBar
    """
    from matplotlib.offsetbox import AuxTransformBox, TextArea, VPacker
    from matplotlib.patches import Rectangle

    from sitewatch.annotate.style import TEXT_COLOUR

    x0, x1 = sorted(ax.get_xlim())
    y0, y1 = sorted(ax.get_ylim())
    # measure along the bar's own row: near the bottom of the panel
    xb, yb = x0 + 0.05 * (x1 - x0), y0 + 0.06 * (y1 - y0)
    if length_m is None:
        panel_m = _geodesic_m(crs, x0, yb, x1, yb)
        length_m = nice_length(max_fraction * panel_m)
    units = map_length_for(length_m, crs, xb, yb)
    height = 0.014 * (y1 - y0)
    box = AuxTransformBox(ax.transData)
    seg = units / segments
    for i in range(segments):
        box.add_artist(Rectangle((i * seg, 0), seg, height, facecolor=("#000000", "#FFFFFF")[i % 2],
                                 edgecolor="none", lw=0))
    frame = Rectangle((0, 0), units, height, facecolor="none", edgecolor="#000000", lw=0.6,
                      gid="scalebar")
    box.add_artist(frame)
    label = scale_label(length_m)
    props: dict[str, Any] = {"color": TEXT_COLOUR, "gid": "scalebar-label"}
    if fontsize:
        props["fontsize"] = fontsize
    text = TextArea(label, textprops=props)
    pack = VPacker(children=[text, box], align="center", pad=0, sep=1.5)
    anchored = _anchor_in_white_box(ax, pack, loc, pad=0.35, gid="scalebar-box")
    return ScaleBar(length_m, units, label, anchored, frame)


def north_arrow(ax: Any, crs: str, *, loc: str = "upper right", size_pt: float = 16.0,
                aspect: float | None = None, fontsize: float | None = None) -> NorthArrow:
    """Draw a north arrow pointing to true north at the panel's centre.

    Parameters
    ----------
    ax : matplotlib Axes
        Showing a raster in ``crs`` coordinates.
    crs : str
    loc : str
        Anchor location.
    size_pt : float
        Arrow length in points.
    aspect : float, optional
        The axes' y/x display aspect (default: read from ``ax``).

    Returns
    -------
    NorthArrow
        ``angle_deg`` is the clockwise angle of the drawn arrow from up.
    """
    from matplotlib.offsetbox import DrawingArea
    from matplotlib.patches import Polygon
    from matplotlib.text import Text

    from sitewatch.annotate.style import TEXT_COLOUR

    cx, cy = _axes_centre(ax)
    angle = true_north_angle(crs, cx, cy)
    if aspect is None:
        a = ax.get_aspect()
        aspect = 1.0 if a == "auto" else float(a)
    # a unit vector towards true north in data coords -> display direction
    th = math.radians(angle)
    dx, dy = math.sin(th), math.cos(th)
    disp = math.degrees(math.atan2(dx, dy * aspect))
    w = size_pt * 1.2
    h = size_pt * 1.9
    area = DrawingArea(w, h, 0, 0, clip=False)
    cxp, cyp = w / 2, size_pt * 0.75
    rot = math.radians(-disp)  # matplotlib rotates counter-clockwise

    def rotate(px: float, py: float) -> tuple[float, float]:
        return (cxp + px * math.cos(rot) - py * math.sin(rot),
                cyp + px * math.sin(rot) + py * math.cos(rot))

    half, hw = size_pt / 2, size_pt * 0.28
    tip, tail = rotate(0, half), rotate(0, -half * 0.45)
    left, right = rotate(-hw, -half), rotate(hw, -half)
    arrow = Polygon([tip, right, tail, left], closed=True, facecolor="#FFFFFF",
                    edgecolor="#000000", lw=0.6, gid="northarrow")
    dark = Polygon([tip, tail, left], closed=True, facecolor="#000000", edgecolor="#000000",
                   lw=0.6)
    area.add_artist(arrow)
    area.add_artist(dark)
    nx, ny = rotate(0, half + size_pt * 0.42)
    area.add_artist(Text(nx, ny, "N", ha="center", va="center", fontweight="bold",
                         fontsize=fontsize or size_pt * 0.55, color=TEXT_COLOUR))
    anchored = _anchor_in_white_box(ax, area, loc, pad=0.2, gid="northarrow-box")
    return NorthArrow(disp, anchored, arrow)
