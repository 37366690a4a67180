"""Sites: the built-in catalogue, user geometries, and metric grids.

Imports numpy, shapely and pyproj only (no rasterio, no matplotlib).
"""

from sitewatch.aoi.catalogue import get_site, list_sites, resolve_site, site_from_feature
from sitewatch.aoi.grid import DEFAULT_MAX_PIXELS, Grid, grid_for_geometry, utm_crs_for
from sitewatch.aoi.parse import parse_geometry, parse_site, validate_geometry
from sitewatch.aoi.site import Site

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Grid",
    "Site",
    "get_site",
    "grid_for_geometry",
    "list_sites",
    "parse_geometry",
    "parse_site",
    "resolve_site",
    "site_from_feature",
    "utm_crs_for",
    "validate_geometry",
]
