"""Watchlists: many sites, each with its source, dates and detector, read from one file.

A watchlist is a GeoJSON FeatureCollection (one Feature per site, the
settings in its properties) or a YAML file::

    defaults:                 # apply to every site unless it says otherwise
      source: local
      source_options: {path: ../data/oscd, city: cupertino}   # paths relative to this file
      from: 2015-01-01
      to: 2018-12-31
      every: year
    sites:
      - id: apple-park
        bbox: [-122.0150, 37.3290, -122.0030, 37.3380]
      - site: new-yalu-river-bridge          # a built-in site (sitewatch aoi list)
        source: earth-search

Keys of a site (or of ``defaults``): ``id``, ``name``, ``site`` (a built-in id, bbox
text, WKT or GeoJSON path), ``bbox`` (four numbers, WGS84), ``geometry`` (GeoJSON or
WKT), ``source``, ``source_options``, ``from``, ``to``, ``every`` (month, quarter,
year), ``method``, ``min_area_m2``, ``bands``, ``grid`` (``site``: the site's UTM grid,
the default; ``native``: the source's own grid), ``formats`` (figure formats, default
``[png, pdf, svg]``; ``[]`` for none). Every mistake is reported with the file, the site
and the fix before anything runs.

Examples
--------
>>> wl = parse_watchlist({"defaults": {"source": "sample", "from": "2015-01-01",
...                                    "to": "2018-12-31", "every": "year"},
...                       "sites": [{"id": "park", "bbox": [-122.02, 37.32, -122.00, 37.34]}]})
>>> s = wl.sites[0]
>>> s.id, s.source, s.start, s.end, s.every, s.grid
('park', 'sample', '2015-01-01', '2018-12-31', 'year', 'site')
>>> parse_watchlist({"sites": [{"id": "x", "bbox": [0, 0, 0.01, 0.01], "form": "2020"}]})
Traceback (most recent call last):
...
sitewatch.errors.ConfigError: watchlist, site 1 ('x'): unknown key 'form' (did you mean 'from'?)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

from sitewatch.aoi.catalogue import resolve_site
from sitewatch.aoi.parse import validate_geometry
from sitewatch.aoi.site import Site
from sitewatch.errors import ConfigError, SitewatchError
from sitewatch.imagery.epochs import CADENCES
from sitewatch.pipeline.change import MIN_AREA
from sitewatch.raster import iso_date

__all__ = ["WatchSite", "Watchlist", "read_watchlist", "parse_watchlist", "SITE_KEYS",
           "DEFAULT_FORMATS"]

#: Every key a site entry (or ``defaults``) may hold.
SITE_KEYS = ("id", "name", "site", "bbox", "geometry", "source", "source_options", "from",
             "to", "every", "method", "min_area_m2", "bands", "grid", "formats")
_DEFAULTABLE = ("source", "source_options", "from", "to", "every", "method", "min_area_m2",
                "bands", "grid", "formats")
#: Figure formats written when a watchlist names none.
DEFAULT_FORMATS = ("png", "pdf", "svg")
_FORMATS = ("png", "pdf", "svg")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class WatchSite:
    """One site of a watchlist, fully resolved (picklable: it travels to dask workers).

    Attributes
    ----------
    id : str
        Slug; names the site's output folder.
    site : Site
    source : str
        Imagery source name (``sample``, ``local``...).
    source_options : dict
        Keyword arguments of the source (``path``, ``city``...).
    start, end : str
        ISO dates, inclusive.
    every : str
        Epoch cadence.
    method : str or None
        Detector name (None: the default detector).
    min_area_m2 : float or None
        Minimum mapping unit (None: the pipeline's default).
    bands : tuple of str or None
        Bands to fetch (None: what the detector needs).
    grid : {"site", "native"}
    formats : tuple of str
        Figure formats (empty: no figure).
    """

    id: str
    site: Site
    source: str
    start: str
    end: str
    every: str = "quarter"
    source_options: dict[str, Any] = field(default_factory=dict)
    method: str | None = None
    min_area_m2: float | None = None
    bands: tuple[str, ...] | None = None
    grid: str = "site"
    formats: tuple[str, ...] = DEFAULT_FORMATS

    def settings(self) -> dict[str, Any]:
        """JSON-ready settings (everything that decides the result)."""
        return {"id": self.id, "name": self.site.name,
                "geometry": shapely.to_wkt(self.site.geometry, rounding_precision=9),
                "source": self.source, "source_options": self.source_options,
                "from": self.start, "to": self.end, "every": self.every, "method": self.method,
                "min_area_m2": self.min_area_m2,
                "bands": list(self.bands) if self.bands else None, "grid": self.grid,
                "formats": list(self.formats)}

    def fingerprint(self) -> str:
        """Hash of :meth:`settings`: a finished site is redone when it changes."""
        text = json.dumps(self.settings(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Watchlist:
    """The sites of a watchlist file, in file order."""

    sites: tuple[WatchSite, ...]
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.sites)

    def ids(self) -> list[str]:
        return [s.id for s in self.sites]


def _where(origin: str, i: int, entry: Mapping[str, Any]) -> str:
    sid = entry.get("id") or entry.get("site")
    return f"{origin}, site {i}" + (f" ({str(sid)!r})" if sid else "")


def _check_keys(entry: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in entry:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else \
                f" (allowed: {', '.join(allowed)})"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")


def _resolve_paths(options: Mapping[str, Any], base: Path | None) -> dict[str, Any]:
    out = dict(options)
    if base is not None and isinstance(out.get("path"), str):
        p = Path(out["path"]).expanduser()
        out["path"] = str(p if p.is_absolute() else (base / p).resolve())
    return out


def _geometry(entry: Mapping[str, Any], where: str, base: Path | None) -> Site | None:
    given = [k for k in ("site", "bbox", "geometry") if entry.get(k) is not None]
    if len(given) > 1:
        raise ConfigError(f"{where}: give one of site, bbox or geometry, not {' and '.join(given)}")
    try:
        if "bbox" in given:
            box = entry["bbox"]
            if isinstance(box, str):
                return resolve_site(box)
            if not isinstance(box, Sequence) or len(box) != 4:
                raise ConfigError(f"{where}: bbox needs four numbers [minx, miny, maxx, maxy] "
                                  "in WGS84 degrees")
            return resolve_site(",".join(str(float(v)) for v in box))
        if "geometry" in given:
            geom = entry["geometry"]
            if isinstance(geom, Mapping):
                return resolve_site(dict(geom))
            return resolve_site(str(geom))
        if "site" in given:
            spec = str(entry["site"])
            if base is not None and spec.lower().endswith((".geojson", ".json")):
                spec = str((base / spec).resolve()) if not Path(spec).is_absolute() else spec
            return resolve_site(spec)
    except ConfigError:
        raise
    except SitewatchError as err:
        raise ConfigError(f"{where}: {err}") from err
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: cannot read its geometry ({err})") from err
    return None


def _site_entry(i: int, entry: Any, defaults: Mapping[str, Any], origin: str,
                base: Path | None, geometry: Site | None = None) -> WatchSite:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{origin}, site {i}: expected a mapping of settings, got "
                          f"{type(entry).__name__}")
    where = _where(origin, i, entry)
    _check_keys(entry, SITE_KEYS, where)
    site = geometry or _geometry(entry, where, base)
    if site is None:
        raise ConfigError(f"{where}: no geometry: give site (a built-in id), bbox or geometry")
    merged: dict[str, Any] = {k: defaults[k] for k in _DEFAULTABLE if k in defaults}
    merged.update({k: v for k, v in entry.items() if v is not None})
    sid = str(merged.get("id") or site.id)
    if not _ID_RE.match(sid):
        raise ConfigError(f"{where}: id {sid!r} must be a lower-case slug (letters, digits, "
                          "'-', '_', '.'), it names the site's output folder")
    name = str(merged.get("name") or (site.name if entry.get("site") or geometry else sid))
    if name != site.name or sid != site.id:
        site = Site(sid, name, site.geometry, country=site.country,
                    description=site.description, watch=site.watch, sources=site.sources,
                    accuracy_m=site.accuracy_m, properties=site.properties)
    for key in ("source", "from", "to"):
        if not merged.get(key):
            raise ConfigError(f"{where}: no {key!r}: give it for the site or under defaults")
    try:
        start, end = iso_date(merged["from"]), iso_date(merged["to"])
    except SitewatchError as err:
        raise ConfigError(f"{where}: {err}") from err
    if start > end:
        raise ConfigError(f"{where}: from {start} is after to {end}: swap them")
    every = str(merged.get("every", "quarter"))
    if every not in CADENCES:
        raise ConfigError(f"{where}: every {every!r} is not one of {', '.join(CADENCES)}")
    grid = str(merged.get("grid", "site"))
    if grid not in ("site", "native"):
        raise ConfigError(f"{where}: grid {grid!r} must be 'site' or 'native'")
    options = merged.get("source_options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}: source_options must be a mapping, e.g. {{path: ./data}}")
    bands = merged.get("bands")
    if bands is not None and (isinstance(bands, str) or not isinstance(bands, Sequence)):
        raise ConfigError(f"{where}: bands must be a list such as [B02, B03, B04, B08]")
    formats = merged.get("formats", DEFAULT_FORMATS)
    if isinstance(formats, str) or not isinstance(formats, Sequence) \
            or any(f not in _FORMATS for f in formats):
        raise ConfigError(f"{where}: formats must be a list of {', '.join(_FORMATS)} "
                          "(or [] for no figure)")
    try:
        min_area = None if merged.get("min_area_m2") is None \
            else float(MIN_AREA.coerce(merged["min_area_m2"]))
    except ConfigError as err:  # the declared parameter's check: a finite number >= 0 m²
        raise ConfigError(f"{where}: {err}") from None
    return WatchSite(id=sid, site=site, source=str(merged["source"]), start=start, end=end,
                     every=every, source_options=_resolve_paths(options, base),
                     method=str(merged["method"]) if merged.get("method") else None,
                     min_area_m2=min_area, bands=tuple(str(b) for b in bands) if bands else None,
                     grid=grid, formats=tuple(formats))


def _feature_site(i: int, feat: Any, defaults: Mapping[str, Any], origin: str,
                  base: Path | None) -> WatchSite:
    if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
        raise ConfigError(f"{origin}, feature {i}: not a GeoJSON Feature")
    props = dict(feat.get("properties") or {})
    props.setdefault("id", feat.get("id"))
    geom = None
    if feat.get("geometry"):
        where = _where(origin, i, props)
        if any(props.get(k) for k in ("site", "bbox", "geometry")):
            raise ConfigError(f"{where}: the feature has a geometry and also "
                              "site/bbox/geometry properties: keep one")
        try:
            g = validate_geometry(shape(feat["geometry"]))
        except SitewatchError as err:
            raise ConfigError(f"{where}: {err}") from err
        except (TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"{where}: cannot read its geometry ({err})") from err
        if not props.get("id"):
            raise ConfigError(f"{where}: a site drawn as a geometry needs an id property")
        geom = Site(str(props["id"]), str(props.get("name") or props["id"]), g,
                    sources=({"title": "watchlist", "note": origin},))
    return _site_entry(i, props, defaults, origin, base, geometry=geom)


def parse_watchlist(obj: Any, *, origin: str = "watchlist", base: Path | None = None
                    ) -> Watchlist:
    """A :class:`Watchlist` from parsed YAML/GeoJSON (see the module docstring).

    Parameters
    ----------
    obj : dict or list
        A mapping with ``sites`` (and optional ``defaults``), a plain list of sites,
        or a GeoJSON FeatureCollection (optional foreign member ``defaults``).
    origin : str
        Names the file in error messages.
    base : Path, optional
        Folder that relative paths are relative to.

    Raises
    ------
    ConfigError
        Naming the file, the site and the fix.
    """
    defaults: Mapping[str, Any] = {}
    if isinstance(obj, Mapping):
        defaults = obj.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise ConfigError(f"{origin}: defaults must be a mapping of settings")
        _check_keys(defaults, _DEFAULTABLE, f"{origin}, defaults")
    if isinstance(obj, Mapping) and obj.get("type") == "FeatureCollection":
        feats = obj.get("features") or []
        sites = [_feature_site(i, f, defaults, origin, base) for i, f in enumerate(feats, 1)]
    else:
        if isinstance(obj, Mapping):
            _check_keys(obj, ("defaults", "sites"), origin)
            entries = obj.get("sites")
        else:
            entries = obj
        if not isinstance(entries, list):
            raise ConfigError(f"{origin}: expected a list of sites under 'sites:' "
                              "(or a GeoJSON FeatureCollection)")
        sites = [_site_entry(i, e, defaults, origin, base) for i, e in enumerate(entries, 1)]
    if not sites:
        raise ConfigError(f"{origin}: the watchlist has no site")
    seen: dict[str, int] = {}
    for i, s in enumerate(sites, 1):
        if s.id in seen:
            raise ConfigError(f"{origin}: sites {seen[s.id]} and {i} share the id {s.id!r}: "
                              "give each site its own id (it names the output folder)")
        seen[s.id] = i
    return Watchlist(tuple(sites), None)


def read_watchlist(path: str | Path) -> Watchlist:
    """Read a watchlist file (``.geojson``/``.json`` or ``.yaml``/``.yml``).

    Raises
    ------
    ConfigError
        The file is missing, malformed, or a site is wrong (the message says which).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no such watchlist file: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {p} ({err}): give a UTF-8 YAML or GeoJSON file") from err
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as err:
            raise ConfigError("YAML watchlists need PyYAML: pip install 'sitewatch[dask]', "
                              "or write the watchlist as GeoJSON") from err
        try:
            obj = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{p} is not valid YAML: {err}") from err
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{p} is not valid JSON ({err.msg} at line {err.lineno}): "
                              "check brackets and quotes, or use YAML (.yaml)") from err
    wl = parse_watchlist(obj, origin=p.name, base=p.resolve().parent)
    return Watchlist(wl.sites, p)
