"""Read and write :class:`~sitewatch.raster.Raster` as Cloud-Optimized GeoTIFF.

Everything a Raster carries survives the round trip: pixels and dtype,
transform, CRS, nodata, an explicit valid mask (as the GeoTIFF's internal
mask band), band names (band descriptions and a tag), acquisition dates and
provenance (JSON tags). Writes are atomic: a temporary file in the target
folder is renamed over the destination only once it is complete.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from affine import Affine
>>> from sitewatch.raster import Raster, Provenance
>>> r = Raster(np.arange(12, dtype="uint16").reshape(1, 3, 4),
...            Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651", band_names=("B04",),
...            nodata=0, dates=("2020-05-01",), provenance=Provenance("test", ("S2A_X",)))
>>> path = os.path.join(tempfile.mkdtemp(), "r.tif")
>>> write_cog(r, path)
>>> back = read_raster(path)
>>> back.band_names, back.dates, back.provenance.scene_ids, back.nodata
(('B04',), ('2020-05-01',), ('S2A_X',), 0.0)
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.io import MemoryFile
from rasterio.windows import Window

from sitewatch.atomic import atomic_write_bytes, atomic_write_text, publish, temp_path_beside
from sitewatch.attribution import copernicus_attribution
from sitewatch.errors import CorruptFileError, DataError
from sitewatch.raster import Provenance, Raster

__all__ = ["write_cog", "read_raster", "atomic_write_bytes", "atomic_write_text"]

log = logging.getLogger(__name__)

_TAG_BANDS = "SITEWATCH_BAND_NAMES"
_TAG_DATES = "SITEWATCH_DATES"
_TAG_PROV = "SITEWATCH_PROVENANCE"
_TAG_ATTRS = "SITEWATCH_ATTRS"


def _predictor(dtype: np.dtype) -> int:
    return 3 if np.issubdtype(dtype, np.floating) else 2


def write_cog(raster: Raster, path: str | os.PathLike[str], *, compress: str = "DEFLATE",
              blocksize: int = 512, overviews: bool = True) -> None:
    """Write a raster as a Cloud-Optimized GeoTIFF, atomically.

    Parameters
    ----------
    raster : Raster
    path : path-like
        Destination; its folder is created.
    compress : str
        GDAL compression (DEFLATE default, lossless).
    blocksize : int
        Internal tile size in pixels.
    overviews : bool
        Build internal overviews (for quick previews of large rasters).
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    data = raster.data
    if data.dtype == bool:
        data = data.astype("uint8")
    if data.dtype == np.float64:
        data = data.astype("float32")
    nodata = raster.nodata
    if nodata is None and np.issubdtype(data.dtype, np.floating):
        nodata = float("nan")
    profile: dict[str, Any] = {
        "driver": "GTiff", "width": raster.width, "height": raster.height,
        "count": raster.count, "dtype": data.dtype.name, "crs": raster.crs,
        "transform": raster.transform, "nodata": nodata,
    }
    tags = {
        _TAG_BANDS: json.dumps(list(raster.band_names)),
        _TAG_DATES: json.dumps(list(raster.dates)),
        _TAG_PROV: json.dumps(raster.provenance.to_dict(), default=str),
        _TAG_ATTRS: json.dumps(raster.attrs, default=str),
        "TIFFTAG_SOFTWARE": "sitewatch",
    }
    if raster.dates:
        tags["TIFFTAG_COPYRIGHT"] = copernicus_attribution(raster.dates)
    tmp = temp_path_beside(dest)
    try:
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(data)
                ds.update_tags(**tags)
                for i, name in enumerate(raster.band_names, start=1):
                    ds.set_band_description(i, name)
                if raster.valid is not None:
                    ds.write_mask(np.where(raster.valid, 255, 0).astype("uint8"))
            with mem.open() as src:
                opts: dict[str, Any] = {"compress": compress, "blocksize": blocksize,
                                        "predictor": _predictor(data.dtype),
                                        "overviews": "AUTO" if overviews else "NONE",
                                        "BIGTIFF": "IF_SAFER"}
                if compress.upper() == "DEFLATE":
                    opts["level"] = 6
                rasterio.shutil.copy(src, tmp, driver="COG", **opts)
        publish(tmp, dest)
    except RasterioError as err:
        raise DataError(f"cannot write {dest}: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)
    log.debug("wrote %s (%s, %dx%d, %d bands)", dest, data.dtype, raster.width,
              raster.height, raster.count)


def _json_tag(tags: dict[str, str], key: str, default: Any, path: Any) -> Any:
    if key not in tags:
        return default
    try:
        return json.loads(tags[key])
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"{path}: tag {key} is not valid JSON ({err.msg}); "
                               "rewrite the file with sitewatch") from err


def read_raster(path: str | os.PathLike[str], *, bands: Sequence[str] | None = None,
                window: Window | None = None) -> Raster:
    """Read a GeoTIFF written by sitewatch (or any GeoTIFF) into a Raster.

    Parameters
    ----------
    path : path-like
    bands : sequence of str, optional
        Band names to read (default all).
    window : rasterio.windows.Window, optional
        Read only this window; the transform follows it.

    Raises
    ------
    CorruptFileError
        The file is missing, truncated or not a raster.
    """
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            names = _json_tag(tags, _TAG_BANDS, None, path)
            if not names:
                names = [d or f"band{i + 1}" for i, d in enumerate(src.descriptions)]
            indexes = list(range(1, src.count + 1))
            if bands is not None:
                missing = [b for b in bands if b not in names]
                if missing:
                    raise DataError(f"{path} has no band {', '.join(missing)} "
                                    f"(has {', '.join(names)})")
                indexes = [names.index(b) + 1 for b in bands]
                names = list(bands)
            data = src.read(indexes, window=window)
            transform = src.window_transform(window) if window is not None else src.transform
            valid = None
            if MaskFlags.per_dataset in src.mask_flag_enums[0]:
                valid = src.dataset_mask(window=window) > 0
            nodata = src.nodata
            crs = src.crs
    except RasterioIOError as err:
        raise CorruptFileError(f"cannot read {path} as a raster ({err}); check the path, or "
                               "delete and fetch the file again if it is truncated") from err
    except RasterioError as err:
        raise CorruptFileError(f"{path} is damaged ({err}); delete it and fetch it again") from err
    if crs is None:
        raise DataError(f"{path} has no CRS: it is not georeferenced")
    prov = Provenance.from_dict(_json_tag(tags, _TAG_PROV, {}, path))
    dates = _json_tag(tags, _TAG_DATES, [], path)
    attrs = _json_tag(tags, _TAG_ATTRS, {}, path)
    if nodata is not None and isinstance(nodata, float) and math.isnan(nodata):
        nodata = None  # NaN is always no-data for floats
    return Raster(data, transform, crs, band_names=tuple(names), nodata=nodata, valid=valid,
                  dates=tuple(dates), provenance=prov, attrs=attrs)
