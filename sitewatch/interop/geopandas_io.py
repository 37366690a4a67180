"""Change regions as a GeoPandas GeoDataFrame.

One row per region, largest first, in the grid's CRS (the site's UTM zone for
sitewatch's sources) with every property of the GeoJSON output: ``id``,
``area_m2`` (m², the sum of its pixels' geodesic areas, not rounded, so the column
sums to the result's changed area), ``pixels``, ``centroid_lon``/``centroid_lat``,
``change_type``, its label and the region's ``name``, ``composition`` (as in
``changes.csv``: ``"roof:0.482;vegetation:0.310"``, so the frame writes to any GIS
format), ``mean_magnitude``, ``mean_probability``, the dates. ``gdf.attrs`` holds the
scene ids, detector and attribution.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from sitewatch.detectors.polygons import regions_from_mask
>>> m = np.zeros((6, 6), bool); m[1:4, 1:3] = True
>>> regs = regions_from_mask(m, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651")
>>> gdf = regions_to_geopandas(regs, "EPSG:32651")
>>> len(gdf), gdf.crs.to_epsg(), round(float(gdf.area_m2.sum()))
(1, 32651, 600)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sitewatch._optional import import_optional
from sitewatch.detectors.polygons import Region, composition_field
from sitewatch.raster import normalize_crs

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

__all__ = ["regions_to_geopandas", "REGION_COLUMNS"]

#: Columns every frame has, even an empty one (then the region statistics follow).
REGION_COLUMNS = ("id", "area_m2", "pixels", "centroid_lon", "centroid_lat", "change_type",
                  "change_type_label", "name", "composition")


def _row(r: Region) -> dict[str, Any]:
    """The region's GeoJSON properties, numbers unrounded, composition as in changes.csv."""
    return {**r.properties(), "area_m2": float(r.area_m2),
            "centroid_lon": float(r.centroid_lonlat[0]),
            "centroid_lat": float(r.centroid_lonlat[1]),
            "composition": composition_field(r.composition or {int(r.change_type): 1.0}),
            **r.stats}


def regions_to_geopandas(regions: Sequence[Region], crs: Any, *,
                         attrs: dict[str, Any] | None = None,
                         feature: str = "to_geopandas()") -> gpd.GeoDataFrame:
    """A GeoDataFrame of change regions in ``crs`` (the CRS of their ``geometry``).

    Parameters
    ----------
    regions : sequence of Region
    crs : CRS-like
        The CRS the regions' ``geometry`` is in (the grid's).
    attrs : dict, optional
        Stored in ``gdf.attrs`` (provenance).
    feature : str
        Named in the error when GeoPandas is missing.

    Raises
    ------
    MissingDependencyError
        GeoPandas is not installed (``pip install 'sitewatch[geo]'``).
    """
    gpd = import_optional("geopandas", extra="geo", feature=feature)
    rows = [_row(r) for r in regions]
    columns = list(REGION_COLUMNS) + [k for row in rows for k in row if k not in REGION_COLUMNS]
    columns = list(dict.fromkeys(columns))
    gdf = gpd.GeoDataFrame(rows, columns=columns or None,
                           geometry=[r.geometry for r in regions], crs=normalize_crs(crs))
    if not rows:  # keep the columns (and their meaning) on an empty frame
        for c in REGION_COLUMNS:
            if c not in gdf.columns:
                gdf[c] = []
    gdf.attrs.update(attrs or {})
    return gdf
