"""The one interface every imagery source implements.

``search(site, start, end)`` returns :class:`~sitewatch.imagery.scene.SceneRecord`
objects; ``load(scene, grid, bands)`` returns a :class:`~sitewatch.raster.Raster`
on the site's grid, reading only what covers it. Sources that need a network
build their requests offline and execute them in a thin client.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.imagery.scene import SceneRecord
from sitewatch.raster import Raster

__all__ = ["ImagerySource"]


class ImagerySource(abc.ABC):
    """Base class of imagery sources (see :mod:`sitewatch.imagery.sources`)."""

    #: Registry name, used by ``--source``.
    name: ClassVar[str] = ""
    #: One line for ``--help`` and ``sitewatch sources``.
    description: ClassVar[str] = ""
    #: Whether it needs the network (the demo only uses offline sources).
    needs_network: ClassVar[bool] = False
    #: Band holding the Sentinel-2 scene classification (for cloud screening), if any.
    cloud_band: ClassVar[str | None] = None

    @abc.abstractmethod
    def search(self, site: Site, start: str, end: str, **options: Any) -> list[SceneRecord]:
        """Scenes over ``site`` between ``start`` and ``end`` (ISO dates, inclusive)."""

    @abc.abstractmethod
    def load(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> Raster:
        """Pixels of ``scene`` on ``grid`` for ``bands`` (float32 reflectance, NaN = none)."""

    def native_grid(self, site: Site) -> Grid:
        """The grid to load on when the user gives none (default: the site's UTM grid)."""
        return site.grid()

    def cache_identity(self) -> dict[str, Any]:
        """What, besides scene, grid and bands, decides this source's pixels (cache keys).

        Never holds credentials.
        """
        return {"source": self.name}

    def search_identity(self) -> dict[str, Any]:
        """What decides this source's search results (cache keys): e.g. endpoint, collections."""
        return self.cache_identity()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
