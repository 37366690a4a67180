"""The bundled offline sample: two epochs of Cupertino (Apple Park) from OSCD.

Serves ``sitewatch/data/sample/cupertino`` as two scenes (2015-09-18 and
2018-03-26, Sentinel-2 L1C, ten 10/20 m bands) plus the OSCD change label of
the crop. No network, no account. Its native grid is the files' own
EPSG:4326 grid, on which the label is exact.

Examples
--------
>>> src = SampleSource()
>>> scenes = src.search(src.site(), "2015-01-01", "2018-12-31")
>>> [s.date for s in scenes]
['2015-09-18', '2018-03-26']
>>> before = src.load(scenes[0], src.native_grid(src.site()), ["B04", "B08"])
>>> before.shape, before.band_names, before.dates
((384, 384), ('B04', 'B08'), ('2015-09-18',))
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import box, mapping

from sitewatch.aoi.catalogue import get_site
from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.errors import DataError, NoSceneError
from sitewatch.imagery.io import read_raster
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.imagery.warp import grid_of, raster_to_grid
from sitewatch.raster import Provenance, Raster

__all__ = ["SampleSource", "sample_dir", "SAMPLE_SITE_ID"]

SAMPLE_SITE_ID = "cupertino-apple-park"


def sample_dir(name: str = "cupertino") -> Path:
    """Folder of a bundled sample inside the installed package."""
    path = Path(str(resources.files("sitewatch").joinpath("data", "sample", name)))
    if not (path / "provenance.json").is_file():
        raise DataError(f"bundled sample {name!r} is missing from {path}: reinstall sitewatch")
    return path


@functools.lru_cache(maxsize=4)
def _provenance(name: str) -> dict[str, Any]:
    return json.loads((sample_dir(name) / "provenance.json").read_text())


class SampleSource(ImagerySource):
    """Offline source serving the bundled sample's two epochs."""

    name = "sample"
    description = "bundled offline sample: Apple Park, Cupertino, 2015-09-18 and 2018-03-26 (OSCD)"
    needs_network = False

    def __init__(self, sample: str = "cupertino") -> None:
        self.sample = sample
        self.folder = sample_dir(sample)
        self.info = _provenance(sample)

    def site(self) -> Site:
        """The catalogue site of the sample."""
        return get_site(SAMPLE_SITE_ID)

    def _scene(self, epoch: str) -> SceneRecord:
        date = self.info["date_1"] if epoch == "before" else self.info["date_2"]
        return SceneRecord(
            id=self.info["scene_ids"][epoch], datetime=f"{date}T00:00:00Z", source=self.name,
            platform="sentinel-2a", footprint=mapping(box(*self.info["bounds_wgs84"])),
            collection="oscd-l1c", assets={"all": str(self.folder / self.info["files"][epoch])},
            properties={"epoch": epoch, "level": "L1C", "city": self.info["city"]})

    def search(self, site: Site, start: str, end: str, **options: Any) -> list[SceneRecord]:
        if not site.geometry.intersects(box(*self.info["bounds_wgs84"])):
            raise NoSceneError(f"the bundled sample covers only {self.info['city']} "
                               f"({', '.join(f'{v:.3f}' for v in self.info['bounds_wgs84'])}); "
                               "use --source earth-search for other sites")
        scenes = [self._scene(e) for e in ("before", "after")]
        found = [s for s in scenes if start <= s.date <= end]
        if not found:
            raise NoSceneError(f"the sample has scenes on {scenes[0].date} and {scenes[1].date} "
                               f"only, none between {start} and {end}: widen the dates")
        return found

    def native_grid(self, site: Site | None = None) -> Grid:
        return grid_of(read_raster(self.folder / self.info["files"]["labels"]))

    def load(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> Raster:
        epoch = scene.properties.get("epoch")
        if epoch not in ("before", "after"):
            raise DataError(f"scene {scene.id} is not from the bundled sample")
        raw = read_raster(self.folder / self.info["files"][epoch], bands=list(bands))
        refl = np.where(raw.data == 0, np.float32(np.nan),
                        raw.data.astype("float32") * np.float32(1e-4))
        prov = Provenance(self.name, (scene.id,),
                          {"level": "L1C", "dataset": "OSCD", "city": self.info["city"],
                           "scale": "reflectance"})
        r = Raster(refl, raw.transform, raw.crs, band_names=raw.band_names, dates=(scene.date,),
                   provenance=prov, attrs={"sample": self.sample})
        return raster_to_grid(r, grid)

    def labels(self) -> Raster:
        """The OSCD change label of the crop (0/1 uint8), CC BY-NC-SA, Daudt et al. 2018."""
        return read_raster(self.folder / self.info["files"]["labels"])
