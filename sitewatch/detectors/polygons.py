"""Change regions: polygons of a change mask with their areas and statistics.

Polygons are traced with :func:`rasterio.features.shapes` (pure array in,
geometry out; no file I/O), areas are geodesic (WGS84 ellipsoid) so they are
right in m² whatever the grid's CRS.

Examples
--------
>>> import numpy as np
>>> from affine import Affine
>>> m = np.zeros((6, 6), bool); m[1:4, 1:3] = True
>>> regs = regions_from_mask(m, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651")
>>> len(regs), round(regs[0].area_m2), regs[0].pixels
(1, 600, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from sitewatch.geometry import geodesic_area_m2, to_wgs84
from sitewatch.types import ChangeType

__all__ = ["Region", "regions_from_mask", "regions_to_geojson"]

@dataclass
class Region:
    """One connected change region.

    ``geometry`` is in the grid's CRS, ``geometry_wgs84`` in lon/lat; ``area_m2``
    is geodesic; ``stats`` holds mean magnitude / probability and any extra.
    """

    id: int
    geometry: BaseGeometry
    geometry_wgs84: BaseGeometry
    area_m2: float
    pixels: int
    centroid_lonlat: tuple[float, float]
    change_type: int = int(ChangeType.OTHER)
    stats: dict[str, Any] = field(default_factory=dict)

    def properties(self) -> dict[str, Any]:
        ct = ChangeType(self.change_type)
        props: dict[str, Any] = {
            "id": self.id, "area_m2": round(self.area_m2, 1), "pixels": self.pixels,
            "centroid_lon": round(self.centroid_lonlat[0], 6),
            "centroid_lat": round(self.centroid_lonlat[1], 6),
            "change_type": ct.slug, "change_type_label": ct.label,
        }
        props.update({k: (round(v, 4) if isinstance(v, float) else v)
                      for k, v in self.stats.items()})
        return props


def _mean_in(values: np.ndarray | None, labels: np.ndarray, n: int) -> np.ndarray | None:
    if values is None:
        return None
    v = np.where(np.isfinite(values), values, 0).astype("float64")
    c = np.isfinite(values).astype("float64")
    idx = np.arange(1, n + 1)
    s = ndimage.sum_labels(v, labels, idx)
    k = ndimage.sum_labels(c, labels, idx)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / k


def regions_from_mask(mask: np.ndarray, transform: Affine, crs: Any, *,
                      magnitude: np.ndarray | None = None,
                      probability: np.ndarray | None = None,
                      change_type: np.ndarray | None = None,
                      min_area_m2: float = 0.0, connectivity: int = 8,
                      extra: dict[str, Any] | None = None,
                      pixel_area: np.ndarray | None = None) -> list[Region]:
    """Connected regions of a boolean mask as polygons with statistics.

    Parameters
    ----------
    mask : (M, N) bool ndarray
    transform : affine.Affine
    crs : CRS-like
    magnitude, probability : (M, N) float ndarray, optional
        Averaged over each region (``mean_magnitude``, ``mean_probability``).
    change_type : (M, N) uint8 ndarray, optional
        The region's type is its most frequent non-zero code.
    min_area_m2 : float
        Regions smaller than this are dropped.
    connectivity : {4, 8}
    extra : dict, optional
        Copied into every region's stats (e.g. the two dates).
    pixel_area : (M, 1) or (M, N) ndarray, optional
        Ground area of every pixel in m². When given, a region's area is the sum over
        its pixels, so the regions add up to the mask's total area exactly (the
        change runs pass it); otherwise the geodesic area of its polygon.

    Returns
    -------
    list of Region
        Largest first.

    Examples
    --------
    >>> m = np.zeros((4, 4), bool); m[0, 0] = True; m[2:4, 2:4] = True
    >>> regs = regions_from_mask(m, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651",
    ...                          magnitude=np.full((4, 4), 0.5), min_area_m2=150)
    >>> [(r.pixels, round(r.stats["mean_magnitude"], 2)) for r in regs]
    [(4, 0.5)]
    """
    mask = np.asarray(mask, dtype=bool)
    structure = np.ones((3, 3)) if connectivity == 8 else None
    labels, n = ndimage.label(mask, structure=structure)
    if n == 0:
        return []
    mean_mag = _mean_in(magnitude, labels, n)
    mean_prob = _mean_in(probability, labels, n)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    areas = None
    if pixel_area is not None:
        areas = ndimage.sum_labels(np.broadcast_to(pixel_area, mask.shape), labels,
                                   np.arange(1, n + 1))
    types = None
    if change_type is not None:
        ct = np.asarray(change_type).astype("int64")
        k = int(max(ChangeType)) + 1
        hist = np.bincount(labels.ravel() * k + ct.ravel(), minlength=(n + 1) * k).reshape(n + 1, k)
        hist[:, 0] = 0
        types = hist.argmax(axis=1)
        types[hist.max(axis=1) == 0] = int(ChangeType.OTHER)
    parts: dict[int, list[BaseGeometry]] = {}
    for geom, value in features.shapes(labels.astype("int32"), mask=mask, transform=transform,
                                       connectivity=connectivity):
        parts.setdefault(int(value), []).append(shape(geom))
    regions = []
    for lab, geoms in parts.items():
        geom = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
        g_ll = to_wgs84(geom, crs)
        area = (float(areas[lab - 1]) if areas is not None
                else geodesic_area_m2(g_ll, "EPSG:4326"))
        if area < min_area_m2:
            continue
        c = g_ll.centroid
        stats: dict[str, Any] = dict(extra or {})
        if mean_mag is not None:
            stats["mean_magnitude"] = float(mean_mag[lab - 1])
        if mean_prob is not None:
            stats["mean_probability"] = float(mean_prob[lab - 1])
        regions.append(Region(lab, geom, g_ll, area, int(counts[lab]), (c.x, c.y),
                              int(types[lab]) if types is not None else int(ChangeType.OTHER),
                              stats))
    regions.sort(key=lambda r: -r.area_m2)
    for i, r in enumerate(regions, start=1):
        r.id = i
    return regions


def regions_to_geojson(regions: Sequence[Region], *, properties: dict[str, Any] | None = None
                       ) -> dict[str, Any]:
    """WGS84 GeoJSON FeatureCollection (RFC 7946) of regions, areas in m².

    Examples
    --------
    >>> m = np.ones((2, 2), bool)
    >>> fc = regions_to_geojson(regions_from_mask(m, Affine(10, 0, 500000, 0, -10, 4000000),
    ...                                           "EPSG:32651"), properties={"detector": "cva"})
    >>> fc["features"][0]["properties"]["change_type"], fc["properties"]["detector"]
    ('other', 'cva')
    """
    feats = [{"type": "Feature", "id": r.id, "properties": r.properties(),
              "geometry": mapping(r.geometry_wgs84)} for r in regions]
    fc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if properties:
        fc["properties"] = properties  # foreign member: run provenance
    return fc
