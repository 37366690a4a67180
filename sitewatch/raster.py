"""The georeferenced raster that travels between the layers of sitewatch.

A :class:`Raster` is an array in (band, row, col) order plus what is needed to
put it on Earth and to trace it back to its scenes: an :class:`affine.Affine`
transform, a CRS, band names, a no-data value / valid mask, acquisition dates
and a :class:`Provenance`. It holds no file handle; reading and writing
GeoTIFFs lives in :mod:`sitewatch.imagery.io`.

Optical rasters produced by sitewatch sources hold float32 reflectance
(0-1, Level-1C top-of-atmosphere or Level-2A surface) with NaN where there is
no valid observation.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> r = Raster(np.zeros((2, 3, 4), "float32"), Affine(10, 0, 500000, 0, -10, 4000000),
...            "EPSG:32651", band_names=("B04", "B08"), dates=("2020-05-01",))
>>> r.shape, r.count, r.bounds
((3, 4), 2, (500000.0, 3999970.0, 500040.0, 4000000.0))
>>> r.band("B08").shape
(3, 4)
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS, Geod, Transformer

from sitewatch.errors import DataError

__all__ = ["Raster", "Provenance", "normalize_crs", "pixel_area_m2", "iso_date"]

_GEOD = Geod(ellps="WGS84")
_DATE_RE = re.compile(r"(?P<y>\d{4})-?(?P<m>\d{2})-?(?P<d>\d{2})(?:$|[T ])")


def normalize_crs(crs: Any) -> str:
    """Return a canonical string for any CRS input ("EPSG:xxxx" where possible).

    Examples
    --------
    >>> normalize_crs(4326)
    'EPSG:4326'
    >>> normalize_crs("epsg:32651")
    'EPSG:32651'
    """
    if crs is None:
        raise DataError("raster has no CRS: give one, e.g. crs='EPSG:32651'")
    if hasattr(crs, "to_wkt") and not isinstance(crs, CRS):  # rasterio CRS
        crs = crs.to_wkt()
    try:
        parsed = CRS.from_user_input(crs)
    except Exception as err:  # pyproj raises CRSError, a subclass of Exception
        raise DataError(f"unknown CRS {crs!r}: use an EPSG code such as 'EPSG:4326'") from err
    epsg = parsed.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else parsed.to_wkt()


def iso_date(value: str | _dt.date | _dt.datetime) -> str:
    """Return an ISO 8601 date string (YYYY-MM-DD) for a date-like value.

    Examples
    --------
    >>> iso_date("20180326")
    '2018-03-26'
    >>> iso_date("2018-03-26T18:50:11Z")
    '2018-03-26'
    """
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    m = _DATE_RE.match(str(value).strip())
    if m:
        try:
            return _dt.date(int(m["y"]), int(m["m"]), int(m["d"])).isoformat()
        except ValueError:
            pass
    raise DataError(f"cannot read {value!r} as a date: use ISO 8601, e.g. 2020-05-01")


@dataclass(frozen=True)
class Provenance:
    """Where a raster came from.

    Parameters
    ----------
    source : str
        Name of the imagery source (``"sample"``, ``"earth-search"``...).
    scene_ids : tuple of str
        Every scene that contributed pixels.
    processing : dict
        Free-form facts (processing level, baselines, offsets applied, steps).
    """

    source: str = "unknown"
    scene_ids: tuple[str, ...] = ()
    processing: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "scene_ids": list(self.scene_ids),
                "processing": dict(self.processing)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Provenance:
        return cls(source=str(d.get("source", "unknown")),
                   scene_ids=tuple(d.get("scene_ids", ())),
                   processing=dict(d.get("processing", {})))

    def merged(self, *others: Provenance) -> Provenance:
        """Union of scene ids (order kept) and processing facts of several rasters."""
        ids = list(self.scene_ids)
        proc = dict(self.processing)
        sources = [self.source]
        for o in others:
            ids += [s for s in o.scene_ids if s not in ids]
            proc.update(o.processing)
            if o.source not in sources:
                sources.append(o.source)
        return Provenance("+".join(sources), tuple(ids), proc)


@dataclass(frozen=True)
class Raster:
    """A georeferenced (band, row, col) array with its provenance.

    Parameters
    ----------
    data : (B, M, N) ndarray
        Pixel values; a 2-D array is taken as one band.
    transform : affine.Affine
        Maps (col, row) to CRS coordinates of the pixel's upper-left corner.
    crs : str or CRS-like
        Normalised with :func:`normalize_crs`.
    band_names : sequence of str, optional
        One name per band (``"B04"``); default ``band1..bandB``.
    nodata : float, optional
        Value marking missing pixels (NaN is always missing for floats).
    valid : (M, N) bool ndarray, optional
        Explicit valid-pixel mask; otherwise derived from ``nodata``/NaN.
    dates : sequence of str
        ISO 8601 acquisition dates of the scenes behind the pixels.
    provenance : Provenance
    """

    data: np.ndarray
    transform: Affine
    crs: str
    band_names: tuple[str, ...] = ()
    nodata: float | None = None
    valid: np.ndarray | None = None
    dates: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim == 2:
            data = data[np.newaxis]
        if data.ndim != 3:
            raise DataError(f"raster data must be (band, row, col), got shape {data.shape}")
        object.__setattr__(self, "data", data)
        if not isinstance(self.transform, Affine):
            object.__setattr__(self, "transform", Affine(*tuple(self.transform)[:6]))
        object.__setattr__(self, "crs", normalize_crs(self.crs))
        names = tuple(self.band_names) or tuple(f"band{i + 1}" for i in range(data.shape[0]))
        if len(names) != data.shape[0]:
            raise DataError(f"{len(names)} band names for {data.shape[0]} bands: give one per band")
        if len(set(names)) != len(names):
            raise DataError(f"band names must be unique, got {names}")
        object.__setattr__(self, "band_names", names)
        object.__setattr__(self, "dates", tuple(iso_date(d) for d in self.dates))
        if self.valid is not None:
            valid = np.asarray(self.valid, dtype=bool)
            if valid.shape != data.shape[1:]:
                raise DataError(f"valid mask {valid.shape} does not match raster {data.shape[1:]}")
            object.__setattr__(self, "valid", valid)

    # -- shape and geometry -------------------------------------------------
    @property
    def count(self) -> int:
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.height, self.width)

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, both positive."""
        return (math.hypot(self.transform.a, self.transform.d),
                math.hypot(self.transform.b, self.transform.e))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in the raster's CRS."""
        xs, ys = [], []
        for c, r in ((0, 0), (self.width, 0), (0, self.height), (self.width, self.height)):
            x, y = self.transform @ (c, r)
            xs.append(x)
            ys.append(y)
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def is_geographic(self) -> bool:
        return CRS.from_user_input(self.crs).is_geographic

    def valid_mask(self) -> np.ndarray:
        """(M, N) bool: pixels valid in every band."""
        ok = np.ones(self.shape, dtype=bool)
        if self.valid is not None:
            ok &= self.valid
        if np.issubdtype(self.data.dtype, np.floating):
            ok &= np.isfinite(self.data).all(axis=0)
        if self.nodata is not None and not (isinstance(self.nodata, float)
                                            and math.isnan(self.nodata)):
            ok &= (self.data != self.nodata).all(axis=0)
        return ok

    def pixel_area_m2(self) -> np.ndarray:
        """(M, 1) or (M, N) array of pixel areas in m² (geodesic on WGS84)."""
        return pixel_area_m2(self.transform, self.crs, self.shape)

    # -- band access ---------------------------------------------------------
    def band_index(self, name: str) -> int:
        try:
            return self.band_names.index(name)
        except ValueError:
            raise DataError(
                f"band {name!r} not in raster (has {', '.join(self.band_names)}): "
                "load it from the source or pick another detector") from None

    def band(self, name: str) -> np.ndarray:
        """(M, N) view of one band by name."""
        return self.data[self.band_index(name)]

    def select(self, names: Iterable[str]) -> Raster:
        """A raster with only the named bands, in the given order."""
        names = tuple(names)
        idx = [self.band_index(n) for n in names]
        return replace(self, data=self.data[idx], band_names=names)

    def with_data(self, data: np.ndarray, band_names: Sequence[str] | None = None,
                  **changes: Any) -> Raster:
        """Same georeferencing and provenance, new pixels."""
        data = np.asarray(data)
        if data.ndim == 2:
            data = data[np.newaxis]
        if band_names is None:
            band_names = self.band_names if data.shape[0] == self.count else ()
        return replace(self, data=data, band_names=tuple(band_names), **changes)

    def window(self, row_off: int, col_off: int, height: int, width: int) -> Raster:
        """A sub-raster by pixel window (row/col offsets), georeferencing kept right."""
        if row_off < 0 or col_off < 0 or row_off + height > self.height \
                or col_off + width > self.width:
            raise DataError(f"window ({row_off}, {col_off}, {height}, {width}) "
                            f"is outside the raster of shape {self.shape}")
        sl = (slice(None), slice(row_off, row_off + height), slice(col_off, col_off + width))
        valid = None if self.valid is None else self.valid[sl[1:]]
        return replace(self, data=self.data[sl], valid=valid,
                       transform=self.transform @ Affine.translation(col_off, row_off))

    def years(self) -> tuple[int, ...]:
        """Sorted acquisition years, for the Copernicus attribution."""
        return tuple(sorted({int(d[:4]) for d in self.dates}))

    # -- xarray -----------------------------------------------------------------
    def to_xarray(self, *, name: str | None = None) -> Any:
        """This raster as a ``(band, y, x)`` xarray DataArray georeferenced for rioxarray.

        ``da.rio.crs``, ``da.rio.transform()`` and ``da.rio.nodata`` give the CRS,
        transform and no-data value; band names are the ``band`` coordinate; dates,
        scene ids and provenance are attributes. Needs ``pip install 'sitewatch[xarray]'``
        (:func:`sitewatch.interop.xarray_io.raster_to_xarray`).

        Examples
        --------
        >>> import numpy as np
        >>> from affine import Affine
        >>> r = Raster(np.ones((1, 2, 2), "float32"), Affine(10, 0, 0, 0, -10, 0),
        ...            "EPSG:32631", band_names=("B04",), dates=("2020-05-01",))
        >>> da = r.to_xarray()
        >>> da.sel(band="B04").shape, str(da.rio.crs)
        ((2, 2), 'EPSG:32631')
        """
        from sitewatch.interop.xarray_io import raster_to_xarray

        return raster_to_xarray(self, name=name)

    @classmethod
    def from_xarray(cls, obj: Any) -> Raster:
        """A raster from an xarray DataArray (or a Dataset of one variable per band).

        Reads the CRS, transform and no-data value through rioxarray, band names from
        the band coordinate, dates and provenance from the attributes
        :meth:`to_xarray` writes (:func:`sitewatch.interop.xarray_io.raster_from_xarray`).

        Examples
        --------
        >>> import numpy as np, xarray as xr, rioxarray
        >>> da = xr.DataArray(np.ones((1, 2, 3), "float32"), dims=("band", "y", "x"),
        ...                   coords={"band": ["B08"], "y": [15.0, 5.0], "x": [5.0, 15.0, 25.0]})
        >>> r = Raster.from_xarray(da.rio.write_crs("EPSG:32631"))
        >>> r.band_names, r.shape, r.transform.c, r.transform.f, r.crs
        (('B08',), (2, 3), 0.0, 20.0, 'EPSG:32631')
        """
        from sitewatch.interop.xarray_io import raster_from_xarray

        return raster_from_xarray(obj)

    def _repr_html_(self) -> str:
        """Notebook display: a thumbnail and a summary (drawn by sitewatch.annotate on demand)."""
        from sitewatch.annotate.display import raster_html

        return raster_html(self)

    def __repr__(self) -> str:
        return (f"Raster({self.count} bands {','.join(self.band_names)}; {self.height}x"
                f"{self.width} px; {self.crs}; res {self.res[0]:.6g}; dates "
                f"{','.join(self.dates) or '-'}; source {self.provenance.source})")


def pixel_area_m2(transform: Affine, crs: Any, shape: tuple[int, int]) -> np.ndarray:
    """Area of every pixel in m², geodesic on the WGS84 ellipsoid.

    Projected grids use the ground area of each row's first pixel corner-polygon,
    so areas are right in any CRS (UTM, Web Mercator, geographic).

    Parameters
    ----------
    transform : affine.Affine
    crs : CRS-like
    shape : (M, N)

    Returns
    -------
    (M, 1) ndarray
        Broadcastable against an (M, N) mask. Rotated grids get (M, N).

    Examples
    --------
    >>> from affine import Affine
    >>> a = pixel_area_m2(Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651", (2, 3))
    >>> a.shape, bool(abs(a[0, 0] - 100) < 0.2)
    ((2, 1), True)
    """
    rows, cols = shape
    crs_s = normalize_crs(crs)
    rotated = transform.b != 0 or transform.d != 0
    sample_cols = np.arange(cols) if rotated else np.array([cols // 2])
    to_ll = None
    if not CRS.from_user_input(crs_s).is_geographic:
        to_ll = Transformer.from_crs(crs_s, "EPSG:4326", always_xy=True)
    out = np.empty((rows, sample_cols.size), dtype="float64")
    for j, c in enumerate(sample_cols):
        r = np.arange(rows)
        corners = [(c, r), (c + 1, r), (c + 1, r + 1), (c, r + 1)]
        xs = np.stack([transform.a * cc + transform.b * rr + transform.c for cc, rr in corners])
        ys = np.stack([transform.d * cc + transform.e * rr + transform.f for cc, rr in corners])
        if to_ll is not None:
            xs, ys = to_ll.transform(xs, ys)
        for i in range(rows):
            area, _ = _GEOD.polygon_area_perimeter(xs[:, i], ys[:, i])
            out[i, j] = abs(area)
    return out
