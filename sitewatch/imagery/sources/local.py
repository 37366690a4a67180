"""Local imagery: an OSCD city folder as distributed, or a folder of dated GeoTIFFs.

- **OSCD**: ``path`` is a city folder (with ``dates.txt``, ``imgs_1``, ``imgs_2``)
  or a dataset root plus ``city=``; its two dates are the two scenes, every band
  brought onto ``imgs_1``'s 10 m grid (see :mod:`sitewatch.imagery.oscd`).
- **Dated GeoTIFFs**: every ``*.tif`` in ``path`` is one scene. Its date comes
  from sitewatch's own tags, else ``TIFFTAG_DATETIME``, else the file name
  (``2020-05-01`` or ``20200501`` anywhere in it). Band names come from the tags
  or band descriptions (``B04``...). Integer pixels are taken as reflectance x
  10000 unless the file says otherwise (tag ``SITEWATCH_ATTRS`` ``{"scale": ...}``).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> from sitewatch.imagery.io import write_cog
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for day in ("2020-05-01", "2021-05-01"):
...     write_cog(Raster(np.full((2, 4, 4), 1000, "uint16"), Affine(10, 0, 500000, 0, -10,
...               4000000), "EPSG:32651", band_names=("B04", "B08")), d / f"site_{day}.tif")
>>> src = LocalSource(d)
>>> [s.date for s in src.search(None, "2019-01-01", "2022-01-01")]
['2020-05-01', '2021-05-01']
>>> float(src.load(src.scenes[0], src.native_grid(), ["B08"]).data.max())
0.1
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.errors import RasterioError
from shapely.geometry import box, mapping, shape

from sitewatch.aoi.grid import Grid
from sitewatch.aoi.site import Site
from sitewatch.bands import S2_BANDS, S2_LAND_BANDS
from sitewatch.errors import CorruptFileError, DataError, NoSceneError
from sitewatch.imagery.io import read_raster
from sitewatch.imagery.oscd import find_oscd_cities, open_oscd_city, read_oscd_epoch
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.base import ImagerySource
from sitewatch.imagery.warp import raster_to_grid
from sitewatch.raster import Provenance, Raster, iso_date

__all__ = ["LocalSource"]

_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


def _file_date(path: Path, tags: dict[str, str]) -> str | None:
    if tags.get("SITEWATCH_DATES"):
        dates = json.loads(tags["SITEWATCH_DATES"])
        if dates:
            return iso_date(dates[0])
    if tags.get("TIFFTAG_DATETIME"):
        return iso_date(tags["TIFFTAG_DATETIME"].replace(":", "-", 2))
    for m in _NAME_DATE.finditer(path.stem):
        try:
            return iso_date("".join(m.groups()))
        except DataError:
            continue
    return None


def _band_names(tags: dict[str, str], descriptions: list[str]) -> list[str]:
    """Band names as :func:`~sitewatch.imagery.io.read_raster` reads them: tags, else
    descriptions."""
    raw = tags.get("SITEWATCH_BAND_NAMES")
    if raw:
        try:
            names = json.loads(raw)
        except json.JSONDecodeError:
            names = None
        if names:
            return [str(n) for n in names]
    return descriptions


def _footprint(src: Any) -> dict[str, Any]:
    b = src.bounds
    if src.crs and not src.crs.is_geographic:
        t = Transformer.from_crs(src.crs.to_string(), "EPSG:4326", always_xy=True)
        xs, ys = t.transform([b.left, b.right, b.right, b.left], [b.bottom, b.bottom, b.top, b.top])
        return mapping(box(min(xs), min(ys), max(xs), max(ys)))
    return mapping(box(b.left, b.bottom, b.right, b.top))


class LocalSource(ImagerySource):
    """Scenes from a local OSCD city folder or a folder of dated GeoTIFFs."""

    name = "local"
    description = "local files: an OSCD city folder as distributed, or a folder of dated GeoTIFFs"
    needs_network = False

    def __init__(self, path: str | os.PathLike[str], city: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"no such folder: {self.path}")
        self.city = None
        try:
            cities = find_oscd_cities(self.path)
        except DataError:
            cities = []
        if cities:
            if city is None and len(cities) > 1:
                raise DataError(f"{self.path} holds several OSCD cities: pick one with city= "
                                f"({', '.join(cities)})")
            self.city = open_oscd_city(self.path, city)
        self.scenes = self._oscd_scenes() if self.city else self._tif_scenes()

    # -- discovery -----------------------------------------------------------
    def _oscd_scenes(self) -> list[SceneRecord]:
        c = self.city
        assert c is not None
        with rasterio.open(c.band_files(1)["B02"]) as src:
            fp = _footprint(src)
        return [SceneRecord(c.scene_id(e), f"{d}T00:00:00Z", source=self.name,
                            platform="sentinel-2", footprint=fp, collection="oscd-l1c",
                            properties={"oscd_epoch": e, "city": c.name, "level": "L1C"})
                for e, d in ((1, c.date_1), (2, c.date_2))]

    def _tif_scenes(self) -> list[SceneRecord]:
        files = sorted(p for p in self.path.iterdir()
                       if p.suffix.lower() in (".tif", ".tiff") and not p.name.startswith("."))
        if not files:
            raise DataError(f"{self.path} holds no GeoTIFF (*.tif) and is not an OSCD folder")
        scenes = []
        for p in files:
            try:
                with rasterio.open(p) as src:
                    tags = src.tags()
                    fp = _footprint(src)
                    src_names = [d or f"band{i + 1}" for i, d in enumerate(src.descriptions)]
            except RasterioError as err:
                raise CorruptFileError(f"cannot read {p} ({err}): replace or remove it") from err
            date = _file_date(p, tags)
            if date is None:
                raise DataError(f"cannot tell the date of {p.name}: put it in the file name "
                                "(e.g. site_2020-05-01.tif) or in the TIFFTAG_DATETIME tag")
            names = _band_names(tags, src_names)
            prov = json.loads(tags.get("SITEWATCH_PROVENANCE", "{}") or "{}")
            ids = prov.get("scene_ids") or [p.stem]
            scenes.append(SceneRecord(str(ids[0]) if len(ids) == 1 else p.stem,
                                      f"{date}T00:00:00Z", source=self.name, footprint=fp,
                                      assets={"all": str(p)},
                                      properties={"file": str(p), "scene_ids": list(ids),
                                                  "bands": names}))
        return sorted(scenes, key=lambda s: (s.datetime, s.id))

    @property
    def band_names(self) -> tuple[str, ...]:
        """Bands every scene holds (an OSCD city: its 13 bands), in the first file's order."""
        if self.city is not None:
            return tuple(S2_BANDS)
        common = [b for b in self.scenes[0].properties["bands"]
                  if all(b in s.properties["bands"] for s in self.scenes)]
        return tuple(common)

    @property
    def default_bands(self) -> tuple[str, ...]:
        """What is read when no bands are named: the bands the files hold (an OSCD city:
        the ten 10/20 m land bands)."""
        if self.city is not None:
            return S2_LAND_BANDS
        if not self.band_names:
            raise DataError(f"the GeoTIFFs in {self.path} share no band name: name the bands "
                            "in the files (band descriptions B02, B03...) or pick with --bands")
        return self.band_names

    # -- interface -----------------------------------------------------------
    def search(self, site: Site | None, start: str, end: str, **options: Any) -> list[SceneRecord]:
        found = [s for s in self.scenes if start <= s.date <= end]
        if site is not None:
            found = [s for s in found if s.footprint is None
                     or site.geometry.intersects(shape(s.footprint))]
        if not found:
            have = ", ".join(s.date for s in self.scenes)
            raise NoSceneError(f"no local scene over the site between {start} and {end} "
                               f"(have {have}): widen the dates or check the folder")
        return found

    def native_grid(self, site: Site | None = None) -> Grid:
        if self.city is not None:
            return self.city.grid()
        with rasterio.open(self.scenes[0].assets["all"]) as src:
            return Grid(src.crs.to_string(), src.transform, src.width, src.height)

    def load(self, scene: SceneRecord, grid: Grid, bands: Sequence[str]) -> Raster:
        if self.city is not None:
            r = read_oscd_epoch(self.city.folder, self.city.name,
                                int(scene.properties["oscd_epoch"]), bands=bands)
            return raster_to_grid(r, grid)
        raw = read_raster(scene.assets["all"], bands=list(bands))
        data = raw.data
        if np.issubdtype(data.dtype, np.integer):
            scale = float(raw.attrs.get("scale", 1e-4))
            invalid = ~raw.valid_mask()
            data = data.astype("float32") * np.float32(scale)
            data[:, invalid] = np.nan
        prov = Provenance(self.name, tuple(scene.properties.get("scene_ids", [scene.id])),
                          {"file": scene.assets["all"], **raw.provenance.processing})
        r = Raster(data.astype("float32", copy=False), raw.transform, raw.crs,
                   band_names=raw.band_names, dates=(scene.date,), provenance=prov)
        return raster_to_grid(r, grid)
