"""Imagery: sources, on-disk formats, warping, the OSCD reader.

rasterio I/O lives here (never in ``aoi`` or ``detectors``); client libraries
of remote sources are imported only by their own source modules.
"""

from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources import available_sources, get_source

__all__ = ["SceneRecord", "available_sources", "get_source", "read_raster", "write_cog"]
