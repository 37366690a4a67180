"""Turn what a user types into a validated WGS84 site geometry.

Accepted forms: a GeoJSON file path, a GeoJSON string (Geometry, Feature or
FeatureCollection), ``minx,miny,maxx,maxy`` in WGS84 degrees, or WKT. Every
rejection says what is wrong and how to fix it.

Examples
--------
>>> site = parse_site("124.36,40.03,124.38,40.04")
>>> site.id, [round(v, 2) for v in site.bounds]
('bbox-124.3600-40.0300-124.3800-40.0400', [124.36, 40.03, 124.38, 40.04])
>>> parse_site("40.03,124.36,40.04,124.38")
Traceback (most recent call last):
...
sitewatch.errors.AOIError: latitude 124.36 is outside -90..90: the coordinates look like ...
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from sitewatch.aoi.grid import DEFAULT_MAX_PIXELS, grid_for_geometry
from sitewatch.aoi.site import Site
from sitewatch.errors import AOIError

__all__ = ["parse_geometry", "parse_site", "validate_geometry", "MIN_SITE_PIXELS"]

#: A site's grid must be at least this many pixels across, each way.
MIN_SITE_PIXELS = 3

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BBOX_RE = re.compile(rf"^\s*({_NUM})\s*[, ]\s*({_NUM})\s*[, ]\s*({_NUM})\s*[, ]\s*({_NUM})\s*$")
_WKT_RE = re.compile(r"^\s*(SRID=\d+;)?\s*(MULTI)?(POLYGON|POINT|LINESTRING|GEOMETRYCOLLECTION)",
                     re.IGNORECASE)
_ACCEPTED = ("a site id (see `sitewatch aoi list`), a GeoJSON file or string, "
             "'minx,miny,maxx,maxy' in WGS84 degrees, or WKT")


def _bbox_geometry(values: list[float]) -> Polygon:
    if not all(math.isfinite(v) for v in values):
        raise AOIError("a bbox needs four finite numbers minx,miny,maxx,maxy in degrees")
    minx, miny, maxx, maxy = values
    for lat in (miny, maxy):
        if abs(lat) > 90:
            raise AOIError(f"latitude {lat:g} is outside -90..90: the coordinates look like "
                           "lat,lon; give lon,lat (x first), as GeoJSON and bbox do")
    for lon in (minx, maxx):
        if abs(lon) > 180:
            raise AOIError(f"longitude {lon:g} is outside -180..180: bbox takes WGS84 degrees "
                           "minx,miny,maxx,maxy (reproject projected coordinates first)")
    if miny >= maxy:
        raise AOIError(f"bbox miny {miny:g} is not below maxy {maxy:g}: the order is "
                       "minx,miny,maxx,maxy")
    if minx > maxx:
        raise AOIError(f"bbox minx {minx:g} > maxx {maxx:g}: either the numbers are out of "
                       "order (minx,miny,maxx,maxy) or the box crosses the antimeridian (split "
                       "it at 180° into two sites)")
    if maxx - minx > 180 or maxy - miny > 90:
        raise AOIError(_too_large(maxx - minx, maxy - miny))
    if minx == maxx:
        raise AOIError("bbox has zero width: minx equals maxx")
    return Polygon([(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)])


def _too_large(width_deg: float, height_deg: float) -> str:
    return (f"the area spans {width_deg:g}° x {height_deg:g}°: far too large for a site "
            "(sitewatch watches places up to about 50 km across); draw the place you want "
            "to watch")


def _check_coordinates(coords: Any, depth: int = 0) -> None:
    """Every GeoJSON coordinate is a finite number (NaN and Infinity pass json.loads)."""
    if depth > 6:
        raise AOIError("GeoJSON coordinates are nested too deeply: give Polygon or "
                       "MultiPolygon coordinates")
    if isinstance(coords, list | tuple):
        for c in coords:
            _check_coordinates(c, depth + 1)
        return
    if isinstance(coords, bool) or not isinstance(coords, int | float):
        raise AOIError(f"GeoJSON coordinates must be numbers, found {coords!r:.40}: fix the "
                       "file (lon, lat in degrees)")
    if not math.isfinite(coords):
        raise AOIError(f"GeoJSON coordinates must be finite numbers, found {coords}: the file "
                       "holds a NaN or Infinity where a longitude or latitude belongs; fix or "
                       "redraw it")


def _properties(feature: Any) -> dict[str, Any]:
    props = feature.get("properties") if isinstance(feature, dict) else None
    return dict(props) if isinstance(props, dict) else {}


def _geojson_geometry(obj: Any, merge: bool = False) -> tuple[BaseGeometry, dict[str, Any]]:
    if not isinstance(obj, dict) or "type" not in obj:
        raise AOIError("GeoJSON must be an object with a 'type' (Polygon, Feature, "
                       "FeatureCollection)")
    crs = obj.get("crs")
    if crs:
        name = str(crs.get("properties", {}).get("name", ""))
        if name and not re.search(r"(4326|CRS84)$", name):
            raise AOIError(f"GeoJSON declares CRS {name}: sitewatch reads WGS84 lon/lat "
                           "(RFC 7946); reproject it, e.g. ogr2ogr -t_srs EPSG:4326")
    kind = obj["type"]
    if kind == "FeatureCollection":
        feats = obj.get("features") or []
        if not isinstance(feats, list) or not feats:
            raise AOIError("empty geometry: the FeatureCollection has no features")
        if len(feats) > 1 and not merge:
            raise AOIError(f"the FeatureCollection holds {len(feats)} features and a site is "
                           "one area: use --merge to watch their union as one site (merge=True "
                           "in Python), or `sitewatch watch FILE` to run each feature as its "
                           "own site")
        parts = [_geojson_geometry(f)[0] for f in feats]
        props = _properties(feats[0]) if len(feats) == 1 else {}
        return shapely.union_all(parts), props
    if kind == "Feature":
        if not obj.get("geometry"):
            raise AOIError("empty geometry: the Feature has geometry null")
        geom, _ = _geojson_geometry(obj["geometry"])
        return geom, _properties(obj)
    if "coordinates" in obj:
        _check_coordinates(obj["coordinates"])
    elif kind == "GeometryCollection":
        for g in obj.get("geometries") or []:
            if isinstance(g, dict) and "coordinates" in g:
                _check_coordinates(g["coordinates"])
    try:
        return shape(obj), {}
    except Exception as err:  # shapely raises several types for malformed input
        raise AOIError(f"cannot read GeoJSON geometry of type {kind!r}: {err}") from err


def _without_empty_parts(geom: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """The geometry without empty polygons or rings (``[[]]`` in GeoJSON): they have no
    area, and GEOS crashes on some operations with them (segmentize)."""
    if isinstance(geom, Polygon):
        holes = [r for r in geom.interiors if not r.is_empty]
        return geom if len(holes) == len(geom.interiors) else Polygon(geom.exterior, holes)
    parts = [_without_empty_parts(p) for p in geom.geoms if not p.is_empty]
    return MultiPolygon(parts) if len(parts) != len(geom.geoms) or any(
        a is not b for a, b in zip(parts, geom.geoms, strict=False)) else geom


def validate_geometry(geom: BaseGeometry, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                      res: float = 10.0) -> BaseGeometry:
    """Check a WGS84 geometry for use as a site; return it (polygonal) or raise AOIError.

    Checks, in order: empty, finite coordinates, polygonal, coordinate ranges
    (lat/lon swapped, projected coordinates), size (far too large, antimeridian
    crossing), validity (self-intersection), the pixel budget at ``res`` metres,
    and a minimum of :data:`MIN_SITE_PIXELS` pixels across each way.

    Examples
    --------
    >>> from shapely.geometry import Polygon
    >>> bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> validate_geometry(bowtie)
    Traceback (most recent call last):
    ...
    sitewatch.errors.AOIError: invalid polygon (Self-intersection[0.5 0.5]): its edges cross; ...
    """
    if geom is None or geom.is_empty:
        raise AOIError("empty geometry: give a polygon or bbox with an area")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise AOIError("the geometry has coordinates that are not finite numbers (NaN or "
                       "Infinity): fix or redraw it")
    if not isinstance(geom, Polygon | MultiPolygon):
        gtype = geom.geom_type
        raise AOIError(f"a {gtype} has no area: give a Polygon or a bbox "
                       "(buffer a point or line first, e.g. shapely's .buffer())")
    geom = _without_empty_parts(geom)
    minx, miny, maxx, maxy = geom.bounds
    if any(abs(v) > 180 for v in (minx, maxx)) or any(abs(v) > 90 for v in (miny, maxy)):
        if all(abs(v) <= 90 for v in (minx, maxx)) and all(abs(v) <= 180 for v in (miny, maxy)):
            bad = miny if abs(miny) > 90 else maxy
            raise AOIError(f"latitude {bad:g} is outside -90..90: the coordinates look like "
                           "lat,lon; give lon,lat (x first), as GeoJSON and bbox do")
        raise AOIError(f"coordinates {minx:g},{miny:g} are not degrees: the geometry looks "
                       "projected; give WGS84 lon/lat (RFC 7946) or reproject it first")
    if maxx - minx > 180:
        lons = shapely.get_coordinates(geom)[:, 0]
        if (np.abs(lons) > 90).all():  # points on both sides of 180°: it wraps around
            raise AOIError("the geometry spans more than 180° of longitude with every point "
                           "near 180°: it crosses the antimeridian; split it at 180° into "
                           "two sites")
        raise AOIError(_too_large(maxx - minx, maxy - miny))
    # far beyond the budget (where a UTM zone cannot even hold it): say so before projecting
    lat = 0.0 if miny < 0 < maxy else min(abs(miny), abs(maxy))
    approx = ((maxx - minx) * 111_320 * math.cos(math.radians(min(lat, 89.0)))
              * (maxy - miny) * 110_574 / res ** 2)
    if maxy - miny > 90 or approx > 100 * max_pixels:
        raise AOIError(_too_large(maxx - minx, maxy - miny))
    if not geom.is_valid:
        reason = explain_validity(geom)
        reason = re.sub(r"(\d+\.\d{6})\d+", r"\1", reason)
        if "self-intersection" in reason.lower():
            fix = "its edges cross; redraw it so that no edge crosses another"
        elif "too few points" in reason.lower():
            fix = "a ring needs at least three distinct corners; redraw it"
        else:
            fix = "redraw it"
        raise AOIError(f"invalid polygon ({reason}): {fix}, or fix it with shapely.make_valid")
    if geom.area == 0:
        raise AOIError("empty geometry: the polygon has zero area")
    grid = grid_for_geometry(geom, res=res, max_pixels=max_pixels)
    if min(grid.width, grid.height) < MIN_SITE_PIXELS:
        mid = math.radians((miny + maxy) / 2)
        w_m = (maxx - minx) * 111_320 * math.cos(mid)
        h_m = (maxy - miny) * 110_574
        side = MIN_SITE_PIXELS * res
        raise AOIError(f"the site is only about {w_m:.3g} m x {h_m:.3g} m, under "
                       f"{MIN_SITE_PIXELS} x {MIN_SITE_PIXELS} pixels of {res:g} m: too "
                       f"small to see change in Sentinel-2 imagery; draw at least {side:g} m "
                       f"x {side:g} m (buffer a point or a narrow site)")
    return geom


def parse_geometry(text: str | Path | dict[str, Any], *, merge: bool = False
                   ) -> tuple[BaseGeometry, dict[str, Any]]:
    """Read a geometry from a path, GeoJSON, bbox or WKT; return (geometry, properties).

    A FeatureCollection of several features is refused unless ``merge`` (their
    union is then one site). No validation beyond parsing: see :func:`validate_geometry`.
    """
    if isinstance(text, dict):
        return _geojson_geometry(text, merge)
    s = str(text)
    path = Path(s)
    if s.strip().startswith("{"):
        try:
            return _geojson_geometry(json.loads(s), merge)
        except json.JSONDecodeError as err:
            raise AOIError(f"malformed GeoJSON ({err.msg} at char {err.pos}): check the "
                           "brackets and quotes") from err
    if len(s) < 4096 and (path.suffix.lower() in (".geojson", ".json") or path.is_file()):
        if not path.is_file():
            raise AOIError(f"no such file: {s}; give an existing GeoJSON path")
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise AOIError(f"cannot read {s} as GeoJSON ({err}): check that it is a "
                           "GeoJSON text file") from err
        return _geojson_geometry(obj, merge)
    m = _BBOX_RE.match(s)
    if m:
        return _bbox_geometry([float(v) for v in m.groups()]), {}
    if _WKT_RE.match(s):
        try:
            return shapely.from_wkt(re.sub(r"^\s*SRID=\d+;", "", s)), {}
        except shapely.errors.GEOSException as err:
            raise AOIError(f"malformed WKT: {err}") from err
    nums = re.findall(_NUM, s)
    if nums and len(nums) != 4 and re.fullmatch(rf"[\s,;]*(?:{_NUM}[\s,;]*)+", s):
        raise AOIError(f"a bbox needs 4 numbers minx,miny,maxx,maxy; got {len(nums)}")
    raise AOIError(f"cannot read {s[:60]!r} as a site: give {_ACCEPTED}")


def _bbox_id(geom: BaseGeometry) -> str:
    return "bbox-" + "-".join(f"{v:.4f}" for v in geom.bounds)


def parse_site(text: str | Path | dict[str, Any], *, name: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS, res: float = 10.0,
               merge: bool = False) -> Site:
    """A validated user :class:`Site` from a path, GeoJSON, bbox or WKT.

    Parameters
    ----------
    text : str, Path or dict
        See the module docstring for the accepted forms.
    name : str, optional
        Overrides a ``name`` property found in GeoJSON.
    max_pixels, res
        Pixel budget and resolution used for the size check.
    merge : bool
        A FeatureCollection of several features becomes one site (their union);
        without it such a collection is refused.

    Raises
    ------
    AOIError
        With a message naming the problem and the fix.
    """
    geom, props = parse_geometry(text, merge=merge)
    geom = validate_geometry(geom, max_pixels=max_pixels, res=res)
    sid = str(props.get("id") or _bbox_id(geom))
    sid = re.sub(r"[^a-z0-9]+", "-", sid.lower()).strip("-") if props.get("id") else sid
    label = name or str(props.get("name") or f"Area {', '.join(f'{v:.4f}' for v in geom.bounds)}")
    src = str(text) if not isinstance(text, dict) else "GeoJSON object"
    extra = {k: v for k, v in props.items() if k not in ("id", "name")}
    return Site(sid, label, geom, description=str(props.get("description", "")),
                sources=({"title": "user input", "note": src[:200]},), properties=extra)
