"""Read the Onera Satellite Change Detection (OSCD) dataset exactly as distributed.

Layout (Daudt et al. 2018)::

    ROOT/Onera Satellite Change Detection dataset - Images/<city>/
        dates.txt                      date_1: YYYYMMDD / date_2: YYYYMMDD
        imgs_1/<prefix>_B01.tif ...    13 single-band uint16 files, first date
        imgs_2/<prefix>_B01.tif ...    second date
    ROOT/Onera Satellite Change Detection dataset - Train Labels/<city>/cm/<city>-cm.tif
                                       uint8, 1 = no change, 2 = change, no georeferencing

Every band of both dates is brought onto the 10 m grid of ``imgs_1``'s B02
from its georeferencing. Where ``imgs_2`` is a few pixels smaller than
``imgs_1`` over the same footprint (abudhabi), it is resampled, not padded:
the dataset authors' edge-padding shifts it by up to 7 px at the far corner.
``ROOT`` may also be the Images folder itself or one city folder.

Pixel values are Level-1C top-of-atmosphere reflectance x 10000; they are
returned as float32 reflectance with NaN where the file holds 0 (no data).
Labels are CC BY-NC-SA 4.0: credit Daudt et al. (2018).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from sitewatch.aoi.grid import Grid
from sitewatch.attribution import OSCD_CREDIT
from sitewatch.bands import S2_BANDS, S2_LAND_BANDS
from sitewatch.errors import CorruptFileError, DataError
from sitewatch.imagery.warp import read_file_on_grid
from sitewatch.raster import Provenance, Raster, iso_date

__all__ = ["OSCDCity", "find_oscd_cities", "open_oscd_city", "read_oscd_pair",
           "read_oscd_labels", "read_oscd_epoch", "IMAGES_DIR", "LABEL_DIRS"]

log = logging.getLogger(__name__)

IMAGES_DIR = "Onera Satellite Change Detection dataset - Images"
LABEL_DIRS = ("Onera Satellite Change Detection dataset - Train Labels",
              "Onera Satellite Change Detection dataset - Test Labels")
_BAND_RE = re.compile(r"^(?P<prefix>.+)_(?P<band>B\d[\dA])\.tif$", re.IGNORECASE)


@dataclass(frozen=True)
class OSCDCity:
    """One city folder of the dataset."""

    name: str
    folder: Path
    date_1: str
    date_2: str
    label_path: Path | None

    def band_files(self, epoch: int) -> dict[str, Path]:
        """{band name: path} of ``imgs_1`` (epoch 1) or ``imgs_2`` (epoch 2)."""
        sub = self.folder / f"imgs_{epoch}"
        files = {}
        if sub.is_dir():
            for p in sorted(sub.iterdir()):
                m = _BAND_RE.match(p.name)
                if m:
                    files[m["band"].upper()] = p
        return files

    def scene_id(self, epoch: int) -> str:
        files = self.band_files(epoch)
        if not files:
            return f"oscd-{self.name}-{epoch}"
        return _BAND_RE.match(next(iter(files.values())).name)["prefix"]  # type: ignore[index]

    def grid(self) -> Grid:
        """The 10 m grid of ``imgs_1`` B02 (the labels' grid)."""
        files = self.band_files(1)
        if "B02" not in files:
            raise DataError(f"{self.folder}/imgs_1 has no *_B02.tif: the OSCD layout needs it")
        try:
            with rasterio.open(files["B02"]) as src:
                if src.crs is None:
                    raise DataError(f"{files['B02']} is not georeferenced")
                return Grid(src.crs.to_string(), src.transform, src.width, src.height)
        except RasterioError as err:
            raise CorruptFileError(f"cannot read {files['B02']}: {err}") from err


def _images_dir(root: Path) -> Path:
    if (root / IMAGES_DIR).is_dir():
        return root / IMAGES_DIR
    return root


def _dataset_root(images_dir: Path) -> Path:
    return images_dir.parent if images_dir.name == IMAGES_DIR else images_dir


def _read_dates(path: Path) -> tuple[str, str]:
    try:
        text = path.read_text()
    except OSError as err:
        raise DataError(f"cannot read {path}: each OSCD city needs dates.txt") from err
    found = dict(re.findall(r"date_(\d)\s*:\s*(\d{8})", text))
    if "1" not in found or "2" not in found:
        raise DataError(f"{path} must hold 'date_1: YYYYMMDD' and 'date_2: YYYYMMDD'")
    return iso_date(found["1"]), iso_date(found["2"])


def _label_path(root: Path, city: str) -> Path | None:
    for d in LABEL_DIRS:
        p = root / d / city / "cm" / f"{city}-cm.tif"
        if p.is_file():
            return p
    return None


def find_oscd_cities(root: str | os.PathLike[str], *, labelled_only: bool = False) -> list[str]:
    """Names of the city folders under an OSCD root (sorted)."""
    root = Path(root)
    if (root / "dates.txt").is_file():
        return [root.name]
    images = _images_dir(root)
    if not images.is_dir():
        raise DataError(f"{root} is not an OSCD folder: expected '{IMAGES_DIR}/<city>/dates.txt'")
    cities = sorted(p.name for p in images.iterdir() if (p / "dates.txt").is_file())
    if not cities:
        raise DataError(f"no OSCD city folders (with dates.txt) under {images}")
    if labelled_only:
        base = _dataset_root(images)
        labelled = [c for c in cities if _label_path(base, c) is not None]
        if not labelled:
            raise DataError(
                f"none of the {len(cities)} OSCD cities under {images} ({', '.join(cities[:4])}"
                f"{', ...' if len(cities) > 4 else ''}) has a change label ('{LABEL_DIRS[0]}/"
                "<city>/cm/<city>-cm.tif' beside the Images folder): scoring needs labels; "
                "unlabelled cities still work with `sitewatch timeline SITE --source local "
                "--endpoint CITY_FOLDER`")
        cities = labelled
    return cities


def open_oscd_city(root: str | os.PathLike[str], city: str | None = None) -> OSCDCity:
    """Locate one city (``root`` may be the dataset root, the Images folder or the city)."""
    root = Path(root)
    if (root / "dates.txt").is_file():
        folder = root
        city = city or root.name
        base = root.parent.parent if root.parent.name == IMAGES_DIR else root.parent
    else:
        if city is None:
            names = ", ".join(find_oscd_cities(root))
            raise DataError(f"{root} holds several cities: name one ({names})")
        images = _images_dir(root)
        folder = images / city
        base = _dataset_root(images)
        if not (folder / "dates.txt").is_file():
            raise DataError(f"no OSCD city {city!r} under {images}: have "
                            f"{', '.join(find_oscd_cities(root))}")
    d1, d2 = _read_dates(folder / "dates.txt")
    return OSCDCity(city, folder, d1, d2, _label_path(base, city))


def read_oscd_epoch(root: str | os.PathLike[str], city: str | None = None, epoch: int = 1, *,
                    bands: Sequence[str] = S2_LAND_BANDS) -> Raster:
    """One date (``epoch`` 1 or 2) of a city on ``imgs_1``'s 10 m grid."""
    if epoch not in (1, 2):
        raise DataError(f"OSCD epochs are 1 and 2, not {epoch}")
    c = open_oscd_city(root, city)
    return _read_epoch(c, epoch, c.grid(), bands)


def _read_epoch(c: OSCDCity, epoch: int, grid: Grid, bands: Sequence[str]) -> Raster:
    files = c.band_files(epoch)
    missing = [b for b in bands if b not in files]
    if missing:
        raise DataError(f"{c.folder}/imgs_{epoch} lacks {', '.join(missing)}")
    layers = []
    for b in bands:
        # Upsampling 20/60 m bands and re-gridding imgs_2: bilinear from the georeferencing.
        method = "bilinear" if (S2_BANDS[b].resolution > 10 or epoch == 2) else "nearest"
        layers.append(read_file_on_grid(files[b], grid, resampling=method, nodata=0))
    data = np.stack(layers) / np.float32(10000)
    date = c.date_1 if epoch == 1 else c.date_2
    prov = Provenance("oscd", (c.scene_id(epoch),),
                      {"level": "L1C", "dataset": "OSCD", "city": c.name,
                       "scale": "reflectance (DN / 10000)"})
    return Raster(data.astype("float32"), grid.transform, grid.crs, band_names=tuple(bands),
                  dates=(date,), provenance=prov, attrs={"city": c.name})


def read_oscd_pair(root: str | os.PathLike[str], city: str | None = None, *,
                   bands: Sequence[str] = S2_LAND_BANDS) -> tuple[Raster, Raster]:
    """(before, after) rasters of one city on ``imgs_1``'s 10 m grid.

    Parameters
    ----------
    root : path-like
        Dataset root, Images folder, or city folder.
    city : str, optional
        City name (needed unless ``root`` is a city folder).
    bands : sequence of str
        Sentinel-2 band names (default the ten 10/20 m bands).
    """
    c = open_oscd_city(root, city)
    grid = c.grid()
    return _read_epoch(c, 1, grid, bands), _read_epoch(c, 2, grid, bands)


def read_oscd_labels(root: str | os.PathLike[str], city: str | None = None) -> Raster | None:
    """The change label of a city as a 0/1 uint8 raster on ``imgs_1``'s grid.

    The label files hold 1 = no change, 2 = change and no georeferencing; the
    grid of ``imgs_1`` B02 is attached. Returns None for unlabelled cities.
    """
    c = open_oscd_city(root, city)
    if c.label_path is None:
        return None
    grid = c.grid()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # labels carry no georef
            with rasterio.open(c.label_path) as src:
                cm = src.read(1)
    except RasterioError as err:
        raise CorruptFileError(f"cannot read label {c.label_path}: {err}") from err
    if cm.shape != grid.shape:
        raise DataError(f"label {c.label_path} is {cm.shape}, imgs_1 is {grid.shape}")
    values = set(np.unique(cm).tolist())
    if values <= {0, 1} and 2 not in values:
        change = cm == 1  # the original README's 0/1 convention
    else:
        change = cm == 2
    return Raster(change.astype("uint8")[np.newaxis], grid.transform, grid.crs,
                  band_names=("change",), dates=(c.date_1, c.date_2),
                  provenance=Provenance("oscd-labels", (f"oscd-{c.name}-cm",),
                                        {"licence": "CC BY-NC-SA 4.0", "credit": OSCD_CREDIT}),
                  attrs={"city": c.name})
