"""Rasters and timelines as xarray objects georeferenced for rioxarray (and back).

A :class:`~sitewatch.raster.Raster` becomes a ``(band, y, x)`` DataArray: ``band``
holds the band names, ``x``/``y`` the pixel centres, and rioxarray's
``spatial_ref`` coordinate the CRS and the exact GeoTransform, so ``da.rio.crs``,
``da.rio.transform()`` and ``da.rio.nodata`` answer as for any raster opened with
rioxarray. The acquisition dates, scene ids, source and the Copernicus attribution
are attributes (plain strings and lists, so ``to_netcdf`` and ``rio.to_raster`` keep
them); the full provenance travels as JSON in ``provenance``. An explicit valid mask
becomes a boolean ``valid`` coordinate on ``(y, x)``.

:func:`raster_from_xarray` reads any such DataArray (or a Dataset with one
variable per band, as ``odc.stac.load`` returns), including one opened from a
sitewatch GeoTIFF with ``rioxarray.open_rasterio``.

:func:`timeline_to_xarray` turns a timeline into a Dataset in odc-stac's layout:
one ``(time, y, x)`` variable per band holding the epoch composites (NaN where an
epoch saw nothing clear), ``clear`` per epoch, and the per-pixel results
(``first_change`` and ``last_unchanged`` dates, ``first_change_epoch``,
``change_type``, ``confidence``, ``changed``, ``site``) decoded from the very raster
written as ``first_change_date.tif``, so the two agree by construction.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> from sitewatch.raster import Raster
>>> r = Raster(np.zeros((2, 3, 4), "float32"), Affine(10, 0, 500000, 0, -10, 4000000),
...            "EPSG:32651", band_names=("B04", "B08"), dates=("2020-05-01",))
>>> da = raster_to_xarray(r)
>>> da.dims, da.band.values.tolist(), da.rio.crs.to_epsg(), da.attrs["dates"]
(('band', 'y', 'x'), ['B04', 'B08'], 32651, ['2020-05-01'])
>>> raster_from_xarray(da).transform == r.transform
True
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine

from sitewatch._optional import import_optional
from sitewatch.attribution import copernicus_attribution
from sitewatch.errors import DataError
from sitewatch.raster import Provenance, Raster

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from sitewatch.imagery.epochs import Epoch
    from sitewatch.pipeline.timeline import TimelineResult

__all__ = ["raster_to_xarray", "raster_from_xarray", "timeline_to_xarray"]

#: Tags sitewatch writes into its GeoTIFFs (sitewatch.imagery.io); rioxarray's
#: ``open_rasterio`` turns them into attributes, which :func:`raster_from_xarray` reads.
_TAG_DATES = "SITEWATCH_DATES"
_TAG_PROV = "SITEWATCH_PROVENANCE"
_TAG_ATTRS = "SITEWATCH_ATTRS"
_TAG_BANDS = "SITEWATCH_BAND_NAMES"


def _xarray(feature: str) -> Any:
    """xarray with rioxarray's ``.rio`` accessor registered, or a clear error."""
    xr = import_optional("xarray", extra="xarray", feature=feature)
    import_optional("rioxarray", extra="xarray", feature=feature)
    return xr


def _centres(transform: Affine, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    if transform.b != 0 or transform.d != 0:
        raise DataError("the raster's grid is rotated: xarray coordinates need a north-up "
                        "grid; warp it first (sitewatch.imagery.warp.raster_to_grid)")
    x = transform.c + transform.a * (np.arange(width) + 0.5)
    y = transform.f + transform.e * (np.arange(height) + 0.5)
    return x, y


def _georeference(obj: Any, crs: str, transform: Affine) -> Any:
    """Write the CRS and the exact GeoTransform the way rioxarray reads them."""
    obj = obj.rio.write_crs(crs)
    return obj.rio.write_transform(transform)


def raster_to_xarray(raster: Raster, *, name: str | None = None) -> xr.DataArray:
    """A ``(band, y, x)`` DataArray of a raster, georeferenced for rioxarray.

    Parameters
    ----------
    raster : Raster
    name : str, optional
        Name of the DataArray.

    Returns
    -------
    xarray.DataArray
        The raster's array (not a copy), ``band`` coordinate of band names, ``x``/``y``
        pixel centres, ``spatial_ref`` with CRS and GeoTransform, ``_FillValue`` for
        the no-data value, a ``valid`` coordinate when the raster has an explicit mask,
        attributes ``dates``, ``scene_ids``, ``source``, ``provenance`` (JSON),
        ``attribution`` and ``long_name`` (band names, rioxarray's band descriptions).

    Raises
    ------
    MissingDependencyError
        xarray or rioxarray is not installed (``pip install 'sitewatch[xarray]'``).
    DataError
        The grid is rotated.
    """
    xr = _xarray("Raster.to_xarray()")
    x, y = _centres(raster.transform, raster.width, raster.height)
    coords: dict[str, Any] = {"band": list(raster.band_names), "y": y, "x": x}
    if raster.valid is not None:
        coords["valid"] = (("y", "x"), raster.valid)
    prov = raster.provenance
    attrs: dict[str, Any] = {
        "long_name": tuple(raster.band_names), "dates": list(raster.dates),
        "scene_ids": list(prov.scene_ids), "source": prov.source,
        "provenance": json.dumps(prov.to_dict(), default=str),
    }
    if raster.attrs:
        attrs["sitewatch_attrs"] = json.dumps(raster.attrs, default=str)
    if raster.dates:
        attrs["attribution"] = copernicus_attribution(raster.dates)
    da = xr.DataArray(raster.data, dims=("band", "y", "x"), coords=coords, attrs=attrs,
                      name=name)
    da = _georeference(da, raster.crs, raster.transform)
    if raster.nodata is not None:
        da = da.rio.write_nodata(raster.nodata, encoded=False)
    return da


def _json_attr(attrs: dict[str, Any], key: str) -> Any:
    value = attrs.get(key)
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise DataError(f"attribute {key!r} is not valid JSON ({err.msg}): drop it or "
                        "rewrite it") from err


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in np.atleast_1d(np.asarray(value, dtype=object))]


def _band_names(da: Any, band_dim: str | None, count: int) -> tuple[str, ...]:
    if band_dim is not None and band_dim in da.coords:
        values = [v.item() if hasattr(v, "item") else v for v in da.coords[band_dim].values]
        if all(isinstance(v, str) for v in values):
            return tuple(values)
    for key in ("long_name", _TAG_BANDS):
        names = _json_attr(da.attrs, key) if key == _TAG_BANDS else da.attrs.get(key)
        names = _as_list(names)
        if len(names) == count and len(set(names)) == count and all(names):
            return tuple(names)
    return ()


def _dates(da: Any) -> tuple[str, ...]:
    dates = da.attrs.get("dates")
    if dates is None and _TAG_DATES in da.attrs:
        dates = _json_attr(da.attrs, _TAG_DATES)
    if dates is None and "time" in da.coords and da.coords["time"].size == 1:
        dates = [str(np.datetime_as_string(np.asarray(da.coords["time"].values).ravel()[0],
                                           unit="D"))]
    return tuple(_as_list(dates))


def _provenance(da: Any) -> Provenance:
    d = _json_attr(da.attrs, "provenance") or _json_attr(da.attrs, _TAG_PROV)
    if isinstance(d, dict):
        return Provenance.from_dict(d)
    return Provenance(str(da.attrs.get("source", "xarray")),
                      tuple(_as_list(da.attrs.get("scene_ids"))))


def raster_from_xarray(obj: xr.DataArray | xr.Dataset) -> Raster:
    """A :class:`~sitewatch.raster.Raster` from a georeferenced DataArray or Dataset.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        ``(band, y, x)`` or ``(y, x)`` with a CRS rioxarray can read (``da.rio.crs``);
        any dimension names rioxarray recognises as x and y. A Dataset is read as one
        band per data variable (odc-stac's layout). A ``time`` dimension of length 1
        is dropped and its value becomes the date.

    Returns
    -------
    Raster
        Band names from the band coordinate (strings) or ``long_name``; transform from
        ``da.rio.transform()``; nodata from ``da.rio.nodata``; dates, provenance and
        attrs from the attributes :func:`raster_to_xarray` writes (or the tags of a
        sitewatch GeoTIFF opened with ``rioxarray.open_rasterio``).

    Raises
    ------
    MissingDependencyError
        xarray or rioxarray is not installed.
    DataError
        No CRS, no x/y dimensions, several times or extra dimensions.
    """
    xr = _xarray("Raster.from_xarray()")
    from rioxarray.exceptions import RioXarrayError

    da = obj
    if isinstance(obj, xr.Dataset):
        attrs = dict(obj.attrs)
        to_da = getattr(obj, "to_dataarray", None) or obj.to_array
        da = to_da(dim="band")
        da.attrs = attrs | {k: v for k, v in da.attrs.items() if k not in attrs}
    if not isinstance(da, xr.DataArray):
        raise DataError(f"Raster.from_xarray takes an xarray DataArray or Dataset, not "
                        f"{type(obj).__name__}")
    if "time" in da.dims:
        if da.sizes["time"] != 1:
            raise DataError(f"the array has {da.sizes['time']} times: pick one first, e.g. "
                            "da.isel(time=0) or da.sel(time='2020-05-01')")
        da = da.isel(time=0)
    try:
        y_dim, x_dim = da.rio.y_dim, da.rio.x_dim
    except RioXarrayError as err:
        raise DataError(f"no x/y dimensions rioxarray recognises in {tuple(da.dims)}: name "
                        "them x and y, or call da.rio.set_spatial_dims(x_dim=..., y_dim=...)"
                        ) from err
    others = [d for d in da.dims if d not in (y_dim, x_dim)]
    if len(others) > 1:
        raise DataError(f"dimensions {tuple(da.dims)}: a raster has one band dimension "
                        f"besides {y_dim} and {x_dim}; select or stack the others first")
    band_dim = others[0] if others else None
    da = da.transpose(*(others + [y_dim, x_dim]))
    crs = da.rio.crs
    if crs is None:
        raise DataError("the array has no CRS: set one with da.rio.write_crs('EPSG:32651') "
                        "(import rioxarray first)")
    with warnings.catch_warnings():  # rioxarray builds it with affine's deprecated `*`
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        transform = da.rio.transform()
    data = np.asarray(da.values)
    if data.ndim == 2:
        data = data[np.newaxis]
    nodata = None if da.rio.nodata is None else float(da.rio.nodata)
    valid = None
    if "valid" in da.coords and set(da.coords["valid"].dims) == {y_dim, x_dim}:
        valid = np.asarray(da.coords["valid"].transpose(y_dim, x_dim).values, dtype=bool)
    attrs = _json_attr(da.attrs, "sitewatch_attrs") or _json_attr(da.attrs, _TAG_ATTRS) or {}
    return Raster(data, transform, crs, band_names=_band_names(da, band_dim, data.shape[0]),
                  nodata=nodata, valid=valid, dates=_dates(da), provenance=_provenance(da),
                  attrs=dict(attrs))


def _epoch_time(epochs: Sequence[Any]) -> np.ndarray:
    return np.array([np.datetime64(e.start, "ns") for e in epochs])


def _yyyymmdd_to_datetime(values: np.ndarray) -> np.ndarray:
    """int YYYYMMDD (<= 0: none) to datetime64[ns] with NaT."""
    out = np.full(values.shape, np.datetime64("NaT"), "datetime64[ns]")
    ok = values > 0
    v = values[ok].astype("int64")
    iso = np.char.add(np.char.add(np.char.add((v // 10000).astype(str), "-"),
                                  np.char.add(np.char.zfill(((v // 100) % 100).astype(str), 2),
                                              "-")),
                      np.char.zfill((v % 100).astype(str), 2))
    out[ok] = iso.astype("datetime64[D]").astype("datetime64[ns]")
    return out


def timeline_to_xarray(result: TimelineResult, epochs: Sequence[Epoch] | None = None
                       ) -> xr.Dataset:
    """A timeline as a Dataset: the epoch stack over time and the per-pixel results.

    Parameters
    ----------
    result : TimelineResult
    epochs : sequence of Epoch, optional
        The epochs the timeline ran on (default: those it keeps, see
        ``TimelineResult.source_epochs``).

    Returns
    -------
    xarray.Dataset
        Dimensions ``time`` (the first day of each epoch; ``epoch`` label, ``epoch_end``
        and ``scene_ids`` as coordinates on it), ``y``, ``x``. Variables: one
        ``(time, y, x)`` float32 per band (the composites, NaN where nothing clear was
        seen), ``clear`` ``(time, y, x)`` bool, and on ``(y, x)``: ``first_change`` and
        ``last_unchanged`` (datetime64, the first day of the epoch; NaT where no
        change), ``first_change_epoch`` (index into ``time``, -1 none), ``change_type``
        (codes with CF ``flag_values``/``flag_meanings``), ``confidence`` (0-1),
        ``changed`` and ``site`` (bool). Every variable is NaN/-1/False outside the
        site, as in ``first_change_date.tif``. Attributes: parameters and notes (JSON),
        provenance, attribution.

    Raises
    ------
    MissingDependencyError
        xarray or rioxarray is not installed.
    DataError
        The epochs are not those of the result.
    """
    xr = _xarray("TimelineResult.to_xarray()")
    from sitewatch.pipeline.timeline_outputs import first_change_raster
    from sitewatch.types import ChangeType

    if epochs is None:
        epochs = result.stack_epochs()
    if len(epochs) != len(result.epochs):
        raise DataError(f"{len(epochs)} epochs for a timeline of {len(result.epochs)}: pass "
                        "the epochs it ran on")
    m, n = result.shape
    x, y = _centres(result.transform, n, m)
    present = [e.raster for e in epochs if e.raster is not None]
    for r in present:
        if r.shape != (m, n) or r.crs != result.crs:
            raise DataError("the epochs are on another grid than the timeline: pass the "
                            "epochs it ran on")
    bands = [b for b in (present[0].band_names if present else ())
             if all(b in r.band_names for r in present)]
    t = len(epochs)
    data_vars: dict[str, Any] = {}
    for b in bands:
        stack = np.full((t, m, n), np.nan, "float32")
        for i, e in enumerate(epochs):
            if e.raster is not None:
                stack[i] = e.raster.band(b)
        data_vars[b] = (("time", "y", "x"), stack, {"long_name": f"{b} composite",
                                                    "units": "1"})
    clear = np.zeros((t, m, n), bool)
    for i, e in enumerate(epochs):
        if e.raster is not None:
            ok = e.raster.valid_mask()
            if e.clear_count.shape == (m, n):
                ok &= e.clear_count > 0
            clear[i] = ok
    data_vars["clear"] = (("time", "y", "x"), clear,
                          {"long_name": "a clear observation in the epoch's composite"})
    # the per-pixel results, decoded from the raster written as first_change_date.tif
    fc = first_change_raster(result)
    outside = ~result.site_mask
    epoch = np.where(fc.band("epoch") > 0, fc.band("epoch") - 1, -1).astype("int16")
    conf = np.where(result.changed, result.history.confidence, 0).astype("float32")
    conf[outside] = np.nan
    codes = [int(c) for c in ChangeType]
    data_vars.update({
        "first_change": (("y", "x"), _yyyymmdd_to_datetime(fc.band("first_change")),
                         {"long_name": "first day of the epoch of the first lasting change"}),
        "last_unchanged": (("y", "x"), _yyyymmdd_to_datetime(fc.band("last_unchanged")),
                           {"long_name": "first day of the last epoch seen unchanged"}),
        "first_change_epoch": (("y", "x"), epoch,
                               {"long_name": "index into time of the first lasting change "
                                             "(-1: none, or outside the site)"}),
        "change_type": (("y", "x"), np.where(outside, 0, result.change_type).astype("uint8"),
                        {"long_name": "type of change",
                         "flag_values": np.array(codes, "uint8"),
                         "flag_meanings": " ".join(ChangeType(c).slug for c in codes)}),
        "confidence": (("y", "x"), conf,
                       {"long_name": "confidence of the first lasting change", "units": "1"}),
        "changed": (("y", "x"), result.changed & result.site_mask,
                    {"long_name": "a lasting change inside the site"}),
        "site": (("y", "x"), result.site_mask,
                 {"long_name": "inside the site and seen clear at least once"}),
    })
    coords = {"time": _epoch_time(result.epochs), "y": y, "x": x,
              "epoch": ("time", [e.label for e in result.epochs]),
              "epoch_end": ("time", [np.datetime64(e.end, "ns") for e in result.epochs]),
              "scene_ids": ("time", [";".join(e.scene_ids) for e in result.epochs])}
    attrs = {"title": f"sitewatch timeline of {result.site.name}" if result.site
             else "sitewatch timeline",
             "bands_used": list(result.band_names),
             "params": json.dumps(result.params, default=str),
             "notes": json.dumps(result.notes), "source": result.provenance.source,
             "provenance": json.dumps(result.provenance.to_dict(), default=str),
             "attribution": result.attribution,
             "changed_area_m2": round(result.changed_area_m2, 1),
             "site_area_m2": round(result.site_area_m2, 1)}
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    return _georeference(ds, result.crs, result.transform)
