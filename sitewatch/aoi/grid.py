"""Metric pixel grids for sites: UTM zone choice and Sentinel-2 grid snapping.

Sentinel-2 tiles are laid out on UTM grids whose corners sit on multiples of
60 m, so a grid whose edges are multiples of 10 m shares its pixel lattice
with every 10 m band of every tile in that zone (and 20/60 m grids snapped to
multiples of 20/60 m with the coarser bands). Fetching on such a grid needs no
resampling between scenes of the same zone.

Examples
--------
>>> from shapely.geometry import box
>>> g = grid_for_geometry(box(124.36, 40.03, 124.38, 40.04))
>>> g.crs, g.res, g.transform.c % 10, g.transform.f % 10
('EPSG:32651', 10.0, 0.0, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from affine import Affine
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from sitewatch.errors import AOIError
from sitewatch.geometry import reproject_geometry

__all__ = ["Grid", "utm_crs_for", "grid_for_geometry", "DEFAULT_MAX_PIXELS"]

#: Default pixel budget of a site grid: 25 million pixels is a 50 km x 50 km
#: square at 10 m, about 100 MB per float32 band.
DEFAULT_MAX_PIXELS = 25_000_000


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS, affine transform and shape.

    Examples
    --------
    >>> g = Grid.from_bounds((500000, 3999900, 500200, 4000000), 10, "EPSG:32651")
    >>> g.shape, g.bounds
    ((10, 20), (500000.0, 3999900.0, 500200.0, 4000000.0))
    """

    crs: str
    transform: Affine
    width: int
    height: int

    @classmethod
    def from_bounds(cls, bounds: tuple[float, float, float, float], res: float,
                    crs: Any) -> Grid:
        minx, miny, maxx, maxy = bounds
        width = int(round((maxx - minx) / res))
        height = int(round((maxy - miny) / res))
        from sitewatch.raster import normalize_crs

        return cls(normalize_crs(crs), Affine(res, 0, minx, 0, -res, maxy), width, height)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.height, self.width)

    @property
    def res(self) -> float:
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)

    @property
    def size(self) -> int:
        return self.width * self.height

    def to_dict(self) -> dict[str, Any]:
        return {"crs": self.crs, "transform": list(self.transform)[:6],
                "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grid:
        return cls(d["crs"], Affine(*d["transform"][:6]), int(d["width"]), int(d["height"]))

    def key(self) -> str:
        """Short stable text naming the grid (for cache keys)."""
        t = self.transform
        return f"{self.crs}:{t.c:.3f}:{t.f:.3f}:{t.a:g}:{self.width}x{self.height}"


def utm_crs_for(lon: float, lat: float) -> str:
    """EPSG code of the UTM zone that Sentinel-2 (MGRS) uses at a point.

    Includes the MGRS exceptions for south-west Norway (32V) and Svalbard.

    Examples
    --------
    >>> utm_crs_for(124.3694, 40.0356)
    'EPSG:32651'
    >>> utm_crs_for(-122.01, 37.33)
    'EPSG:32610'
    >>> utm_crs_for(5.3, 60.4)  # Bergen: zone 32V, not 31V
    'EPSG:32632'
    """
    if not (-180 <= lon <= 180 and -80 <= lat <= 84):
        raise AOIError(f"the site's centre ({lon:.4f}, {lat:.4f}) is outside the "
                       "UTM/Sentinel-2 range (latitudes -80 to 84): pick a site within it")
    zone = int((lon + 180) // 6) + 1
    zone = min(zone, 60)
    if 56 <= lat < 64 and 3 <= lon < 12:
        zone = 32
    if 72 <= lat < 84:
        for lo, hi, z in ((0, 9, 31), (9, 21, 33), (21, 33, 35), (33, 42, 37)):
            if lo <= lon < hi:
                zone = z
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def grid_for_geometry(geometry: BaseGeometry, *, res: float = 10.0, crs: Any = None,
                      buffer_m: float = 0.0, max_pixels: int = DEFAULT_MAX_PIXELS) -> Grid:
    """The grid that covers a WGS84 geometry, snapped to the Sentinel-2 lattice.

    Parameters
    ----------
    geometry : shapely geometry
        In WGS84 longitude/latitude.
    res : float
        Pixel size in metres (10, 20 or 60 keep the Sentinel-2 lattice).
    crs : CRS-like, optional
        A projected CRS in metres; default the site's UTM zone.
    buffer_m : float
        Margin added around the geometry, in metres.
    max_pixels : int
        Pixel budget; a larger grid raises :class:`~sitewatch.errors.AOIError`.

    Returns
    -------
    Grid
    """
    if geometry.is_empty:
        raise AOIError("empty geometry: give a polygon or bbox with an area")
    c = geometry.centroid
    crs_s = utm_crs_for(c.x, c.y) if crs is None else crs
    target = CRS.from_user_input(crs_s)
    if target.is_geographic:
        raise AOIError(f"grid CRS {crs_s} is geographic: give a projected CRS in metres "
                       "(default: the site's UTM zone)")
    projected = reproject_geometry(geometry.segmentize(0.001), "EPSG:4326", target)
    minx, miny, maxx, maxy = projected.buffer(buffer_m).bounds if buffer_m else projected.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise AOIError(f"the site cannot be drawn on the {target.to_string()} grid (it reaches "
                       "too far from the zone): draw a smaller area")
    snap = res
    minx, miny = math.floor(minx / snap) * snap, math.floor(miny / snap) * snap
    maxx, maxy = math.ceil(maxx / snap) * snap, math.ceil(maxy / snap) * snap
    grid = Grid.from_bounds((minx, miny, maxx, maxy), res, target.to_string())
    if grid.size > max_pixels:
        area_km2 = (maxx - minx) * (maxy - miny) / 1e6
        raise AOIError(
            f"site too large: {area_km2:,.0f} km² is {grid.size:,} pixels at {res:g} m, above the "
            f"budget of {max_pixels:,}; draw a smaller area, use a coarser resolution, or raise "
            "max_pixels")
    return grid
