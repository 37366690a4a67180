"""One record per acquisition: tiles of the same overpass grouped together.

Catalogues list Sentinel-2 products per 110 km MGRS tile, and neighbouring
tiles overlap by about 10 km, so a site near a tile edge (or near a latitude
band edge, like the New Yalu River Bridge at 40.03 N) is found twice per
overpass. Counting both as observations would double the clear counts and
weight the median; using only one would leave the part of the site it does not
cover empty. So tiles of one overpass (same platform, date and relative orbit)
become one :class:`~sitewatch.imagery.scene.SceneRecord`: the tile covering the
most of the site first, the others in ``properties["tiles"]``, and sources
mosaic them (first valid pixel wins) when loading.

Examples
--------
>>> from shapely.geometry import box, mapping
>>> a = SceneRecord("S2A_51TXE_20220314", "2022-03-14T02:35:41Z", platform="sentinel-2a",
...                 footprint=mapping(box(124, 40, 125, 41)))
>>> b = SceneRecord("S2A_51SXD_20220314", "2022-03-14T02:35:52Z", platform="sentinel-2a",
...                 footprint=mapping(box(124, 39, 125, 40.05)))
>>> [g.id for g in group_acquisitions([a, b], box(124.3, 40.0, 124.4, 40.1))]
['S2A_51TXE_20220314']
>>> tile_ids(group_acquisitions([a, b], box(124.3, 40.0, 124.4, 40.1))[0])
['S2A_51TXE_20220314', 'S2A_51SXD_20220314']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from sitewatch.imagery.scene import SceneRecord

__all__ = ["group_acquisitions", "tile_records", "tile_ids"]


def _cover(rec: SceneRecord, site: BaseGeometry) -> float:
    if not rec.footprint:
        return 0.0
    try:
        return float(shape(rec.footprint).intersection(site).area)
    except (ValueError, TypeError, AttributeError):
        return 0.0


def group_acquisitions(records: Sequence[SceneRecord], site: BaseGeometry) -> list[SceneRecord]:
    """Records grouped per overpass (platform, date, relative orbit), best-covering tile first."""
    groups: dict[tuple[Any, ...], list[SceneRecord]] = {}
    for r in records:
        key = (r.platform, r.date, r.properties.get("relative_orbit"))
        groups.setdefault(key, []).append(r)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda m: (-_cover(m, site), m.id))
        first = members[0]
        if len(members) == 1:
            out.append(first)
            continue
        tiles = [m.to_dict() for m in members]
        out.append(replace(first, properties={**first.properties, "tiles": tiles}))
    return sorted(out, key=lambda s: (s.datetime, s.id))


def tile_records(scene: SceneRecord) -> list[SceneRecord]:
    """The tiles to mosaic for a scene, in order (the scene itself if it has none)."""
    tiles = scene.properties.get("tiles")
    if not tiles:
        return [scene]
    return [SceneRecord.from_dict(d) for d in tiles]


def tile_ids(scene: SceneRecord) -> list[str]:
    """Product ids of every tile behind a scene."""
    return [t.id for t in tile_records(scene)]
