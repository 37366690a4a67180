"""The :class:`Site` record: a named area of interest with its sources.

Examples
--------
>>> from shapely.geometry import box
>>> s = Site("demo", "Demo site", box(124.36, 40.03, 124.38, 40.04))
>>> s.grid().crs
'EPSG:32651'
>>> round(s.area_m2() / 1e6, 2)
1.9
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sitewatch.aoi.grid import DEFAULT_MAX_PIXELS, Grid, grid_for_geometry
from sitewatch.geometry import geodesic_area_m2

__all__ = ["Site"]

@dataclass(frozen=True)
class Site:
    """A place to watch.

    Parameters
    ----------
    id : str
        Slug (``new-yalu-river-bridge``).
    name : str
        Human name.
    geometry : shapely Polygon or MultiPolygon
        WGS84 longitude/latitude.
    country, description, watch : str
        Where it is, what it is, and what to look for there.
    sources : list of dict
        Where the coordinates come from: ``{"title", "url", "note"}``.
    accuracy_m : float, optional
        How far the outline may be from the true place, in metres.
    properties : dict
        Anything else (default dates, tags, the sample it belongs to).
    """

    id: str
    name: str
    geometry: BaseGeometry
    country: str = ""
    description: str = ""
    watch: str = ""
    sources: tuple[dict[str, str], ...] = ()
    accuracy_m: float | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def grid(self, *, res: float = 10.0, buffer_m: float = 0.0,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> Grid:
        """The site's UTM grid snapped to the Sentinel-2 lattice (see :func:`grid_for_geometry`)."""
        return grid_for_geometry(self.geometry, res=res, buffer_m=buffer_m,
                                 max_pixels=max_pixels)

    def area_m2(self) -> float:
        """Geodesic area of the outline in m²."""
        return geodesic_area_m2(self.geometry, "EPSG:4326")

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.geometry.bounds)  # type: ignore[return-value]

    def to_feature(self) -> dict[str, Any]:
        """GeoJSON Feature (RFC 7946) with every field in its properties."""
        props: dict[str, Any] = {"id": self.id, "name": self.name, "country": self.country,
                                 "description": self.description, "watch": self.watch,
                                 "sources": [dict(s) for s in self.sources],
                                 "accuracy_m": self.accuracy_m}
        props.update(self.properties)
        return {"type": "Feature", "id": self.id, "properties": props,
                "geometry": mapping(self.geometry)}
