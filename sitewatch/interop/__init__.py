"""Ways in and out of the Python geospatial stack: xarray/rioxarray and GeoPandas.

What Jupyter users already hold are xarray objects georeferenced the way
rioxarray and odc-stac write them (a ``spatial_ref`` coordinate with the CRS and
the GeoTransform, ``_FillValue`` for no-data) and GeoDataFrames with their CRS.
These modules convert sitewatch's objects at that edge; the methods on the
objects themselves (:meth:`sitewatch.Raster.to_xarray`,
:meth:`sitewatch.Raster.from_xarray`, ``TimelineResult.to_xarray``,
``ChangeResult.to_geopandas``) call them. The libraries are optional extras,
imported only here: ``pip install 'sitewatch[xarray]'`` (xarray + rioxarray) and
``pip install 'sitewatch[geo]'`` (GeoPandas).
"""

from __future__ import annotations

__all__: list[str] = []
