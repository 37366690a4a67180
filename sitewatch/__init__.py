"""sitewatch: watch places on Earth change in free Sentinel imagery.

Importing the package is light: it never imports matplotlib or sentinelhub
(figures and remote clients load on first use).

Examples
--------
>>> import sitewatch
>>> sitewatch.get_site("new-yalu-river-bridge").name
'New Yalu River Bridge'
"""

import logging

from sitewatch._version import __version__
from sitewatch.aoi import Grid, Site, get_site, list_sites, resolve_site
from sitewatch.raster import Provenance, Raster
from sitewatch.types import ChangeMap, ChangeType

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ChangeMap",
    "ChangeType",
    "Grid",
    "Provenance",
    "Raster",
    "Site",
    "__version__",
    "get_site",
    "list_sites",
    "resolve_site",
]
