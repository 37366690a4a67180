"""Geometry helpers shared by every layer (shapely + pyproj only).

Examples
--------
>>> from shapely.geometry import Point
>>> p = reproject_geometry(Point(123.0, 40.0), "EPSG:4326", "EPSG:32651")
>>> round(p.x), round(p.y)
(500000, 4427757)
>>> from shapely.geometry import box
>>> round(geodesic_area_m2(box(0, 0, 0.01, 0.01), "EPSG:4326"), -2)  # 1113.2 m x 1105.7 m
1230900.0
"""

from __future__ import annotations

from typing import Any

import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry.base import BaseGeometry

__all__ = ["reproject_geometry", "geodesic_area_m2", "to_wgs84"]

_GEOD = Geod(ellps="WGS84")


def reproject_geometry(geom: BaseGeometry, src_crs: Any, dst_crs: Any) -> BaseGeometry:
    """The geometry with its coordinates transformed from ``src_crs`` to ``dst_crs``."""
    t = Transformer.from_crs(CRS.from_user_input(src_crs), CRS.from_user_input(dst_crs),
                             always_xy=True)
    return shapely.transform(geom, lambda x, y: t.transform(x, y), interleaved=False)


def to_wgs84(geom: BaseGeometry, crs: Any) -> BaseGeometry:
    """The geometry in WGS84 lon/lat (unchanged if ``crs`` is already geographic WGS84)."""
    c = CRS.from_user_input(crs)
    if c.to_epsg() == 4326:
        return geom
    return reproject_geometry(geom, c, "EPSG:4326")


def geodesic_area_m2(geom: BaseGeometry, crs: Any) -> float:
    """Area on the WGS84 ellipsoid in m², whatever the geometry's CRS."""
    return abs(_GEOD.geometry_area_perimeter(to_wgs84(geom, crs))[0])
