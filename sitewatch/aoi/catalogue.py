"""The built-in catalogue of sites (``sites.geojson`` beside this module).

Each feature carries an id slug, name, country, description, what to watch,
the sources of its coordinates and how accurate they are.

Examples
--------
>>> "new-yalu-river-bridge" in [s.id for s in list_sites()]
True
>>> get_site("sinuiju-customs").country
'KP'
>>> resolve_site("124.36,40.03,124.38,40.04").id.startswith("bbox-")
True
"""

from __future__ import annotations

import difflib
import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from shapely.geometry import shape

from sitewatch.aoi.parse import parse_site
from sitewatch.aoi.site import Site
from sitewatch.errors import AOIError, UnknownSiteError

__all__ = ["list_sites", "get_site", "resolve_site", "site_from_feature"]


def site_from_feature(feature: dict[str, Any]) -> Site:
    """A :class:`Site` from a catalogue-style GeoJSON Feature."""
    props = dict(feature.get("properties") or {})
    sid = str(props.pop("id", feature.get("id", "")))
    if not sid:
        raise AOIError("catalogue feature without an id: give properties.id")
    return Site(
        id=sid,
        name=str(props.pop("name", sid)),
        geometry=shape(feature["geometry"]),
        country=str(props.pop("country", "")),
        description=str(props.pop("description", "")),
        watch=str(props.pop("watch", "")),
        sources=tuple(props.pop("sources", ())),
        accuracy_m=props.pop("accuracy_m", None),
        properties=props,
    )


@functools.lru_cache(maxsize=1)
def _catalogue() -> tuple[Site, ...]:
    text = resources.files("sitewatch.aoi").joinpath("sites.geojson").read_text("utf-8")
    return tuple(site_from_feature(f) for f in json.loads(text)["features"])


def list_sites() -> list[Site]:
    """Every built-in site, in catalogue order."""
    return list(_catalogue())


def get_site(site_id: str) -> Site:
    """A built-in site by id; unknown ids raise with the closest matches."""
    for site in _catalogue():
        if site.id == site_id:
            return site
    ids = [s.id for s in _catalogue()]
    close = difflib.get_close_matches(site_id, ids, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownSiteError(f"no built-in site {site_id!r}.{hint} `sitewatch aoi list` shows "
                           "them all; a GeoJSON file, bbox or WKT works too")


def resolve_site(spec: str | Path | Site | dict[str, Any], **kwargs: Any) -> Site:
    """A :class:`Site` from a catalogue id, or any input :func:`parse_site` accepts."""
    if isinstance(spec, Site):
        return spec
    if isinstance(spec, str) and spec in {s.id for s in _catalogue()}:
        return get_site(spec)
    if isinstance(spec, str) and spec.replace("-", "").isalnum() and "-" in spec \
            and not Path(spec).exists():
        return get_site(spec)  # looks like a slug: say which ids exist
    return parse_site(spec, **kwargs)
