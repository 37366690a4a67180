"""Bring rasters and files onto a target :class:`~sitewatch.aoi.Grid` with rasterio.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from sitewatch.aoi import Grid
>>> src = np.arange(16, dtype="float32").reshape(1, 4, 4)
>>> g = Grid("EPSG:32651", Affine(20, 0, 500000, 0, -20, 4000000), 2, 2)
>>> reproject_array(src, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651", g,
...                 resampling="average")[0]
array([[ 2.5,  4.5],
       [10.5, 12.5]], dtype=float32)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.warp import Resampling, reproject

from sitewatch.aoi.grid import Grid
from sitewatch.errors import CorruptFileError, DataError
from sitewatch.raster import Raster

__all__ = ["reproject_array", "raster_to_grid", "read_file_on_grid", "grid_of"]


def _resampling(name: str | Resampling) -> Resampling:
    if isinstance(name, Resampling):
        return name
    try:
        return Resampling[name]
    except KeyError:
        raise DataError(f"unknown resampling {name!r}: use nearest, bilinear, cubic or "
                        "average") from None


def grid_of(raster: Raster) -> Grid:
    """The :class:`Grid` a raster sits on."""
    return Grid(raster.crs, raster.transform, raster.width, raster.height)


def reproject_array(data: np.ndarray, transform: Affine, crs: Any, grid: Grid, *,
                    resampling: str | Resampling = "bilinear",
                    src_nodata: float | None = None) -> np.ndarray:
    """Warp a (B, M, N) array onto ``grid``; float output with NaN where no source.

    Integer inputs are converted to float32 first, so no-data never mixes with
    valid values during resampling.
    """
    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    src = arr.astype("float32", copy=False)
    if src_nodata is not None:
        src = np.where(src == src_nodata, np.float32(np.nan), src)
    out = np.full((src.shape[0], grid.height, grid.width), np.nan, dtype="float32")
    for i in range(src.shape[0]):
        reproject(source=src[i], destination=out[i], src_transform=transform, src_crs=crs,
                  dst_transform=grid.transform, dst_crs=grid.crs, src_nodata=np.nan,
                  dst_nodata=np.nan, resampling=_resampling(resampling))
    return out


def raster_to_grid(raster: Raster, grid: Grid, *,
                   resampling: str | Resampling = "bilinear") -> Raster:
    """The raster warped onto ``grid`` (float32, NaN outside the source)."""
    same = (raster.crs == grid.crs and raster.transform.almost_equals(grid.transform)
            and raster.shape == grid.shape)
    if same:
        return raster
    data = reproject_array(raster.data, raster.transform, raster.crs, grid,
                           resampling=resampling, src_nodata=raster.nodata)
    valid = None
    if raster.valid is not None:
        v = reproject_array(raster.valid.astype("float32"), raster.transform, raster.crs, grid,
                            resampling="nearest")[0]
        valid = v == 1
    return Raster(data, grid.transform, grid.crs, band_names=raster.band_names, nodata=None,
                  valid=valid, dates=raster.dates, provenance=raster.provenance,
                  attrs=dict(raster.attrs))


def read_file_on_grid(path: str | os.PathLike[str], grid: Grid, *, band: int = 1,
                      resampling: str | Resampling = "bilinear",
                      nodata: float | None = None) -> np.ndarray:
    """Read one band of a raster file warped onto ``grid``: (M, N) float32, NaN = none.

    Meant for local files of modest size (the whole band is decoded); remote
    COGs are read by window in their sources.
    """
    try:
        with rasterio.open(path) as src:
            src_nodata = src.nodata if nodata is None else nodata
            out = np.full((grid.height, grid.width), np.nan, dtype="float32")
            reproject(source=rasterio.band(src, band), destination=out,
                      src_nodata=src_nodata, dst_nodata=np.nan,
                      dst_transform=grid.transform, dst_crs=grid.crs,
                      resampling=_resampling(resampling))
            return out
    except RasterioIOError as err:
        raise CorruptFileError(f"cannot read {path} ({err}): check the path or replace "
                               "the damaged file") from err
    except RasterioError as err:
        raise CorruptFileError(f"{path} is damaged ({err}): replace it") from err
