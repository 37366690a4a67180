"""Change regions: polygons of a change mask with their areas, composition and statistics.

Polygons are traced with :func:`rasterio.features.shapes` (pure array in,
geometry out; no file I/O) by :func:`trace_polygons`, the one tracer of every
region, event and overlay, which returns only valid geometries (OGC simple
features, as shapely/GEOS and GIS tools check them): each label's 4-connected
pieces are traced as rings that never touch themselves, and pieces that meet
only at a pixel corner are kept as the parts of one MultiPolygon. A region's area
is the sum of its pixels' geodesic areas (WGS84 ellipsoid), so it is right in m²
whatever the grid's CRS and the regions add up to the mask's total.
A region's type comes from its composition (:mod:`sitewatch.detectors.composition`).

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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from rasterio.errors import NotGeoreferencedWarning
from scipy import ndimage
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from sitewatch.detectors.composition import (
    composition,
    composition_slugs,
    region_class,
    region_name,
    type_areas,
)
from sitewatch.errors import DataError
from sitewatch.geometry import to_wgs84
from sitewatch.raster import pixel_area_m2
from sitewatch.types import ChangeType

__all__ = ["Region", "regions_from_mask", "regions_to_geojson", "trace_polygons",
           "valid_geometry", "composition_field"]

#: Largest relative change of area a geometry repair may make (0.1 %).
REPAIR_TOLERANCE = 1e-3


def valid_geometry(geom: BaseGeometry) -> BaseGeometry:
    """``geom`` if valid, else its polygonal repair (:func:`shapely.make_valid`).

    Raises
    ------
    DataError
        When the repair would change the area by more than 0.1 %.

    Examples
    --------
    >>> from shapely.geometry import Polygon
    >>> bow = Polygon([(0, 0), (2, 0), (2, 2), (1, 1), (0, 2), (1, 1), (0, 0)])  # pinched
    >>> bow.is_valid, valid_geometry(bow).is_valid, valid_geometry(bow).area == bow.area
    (False, True, True)
    """
    if geom.is_valid:
        return geom
    fixed = shapely.make_valid(geom)
    if fixed.geom_type == "GeometryCollection":  # keep the polygons, drop stray lines/points
        polys = [g for g in getattr(fixed, "geoms", []) if g.geom_type in ("Polygon",
                                                                         "MultiPolygon")]
        fixed = shapely.union_all(polys) if polys else shapely.Polygon()
    if abs(fixed.area - geom.area) > REPAIR_TOLERANCE * max(abs(geom.area), 1e-12):
        raise DataError(f"repairing an invalid polygon changed its area from {geom.area:.6g} "
                        f"to {fixed.area:.6g}: report this as a bug with the input mask")
    return fixed


def trace_polygons(labels: np.ndarray, transform: Affine, *,
                   mask: np.ndarray | None = None) -> dict[int, BaseGeometry]:
    """Valid polygon (or MultiPolygon) of every label, traced along pixel edges.

    Parameters
    ----------
    labels : (M, N) int ndarray
        Region labels (0 = background unless ``mask`` says otherwise).
    transform : affine.Affine
        Pixel -> coordinates (``Affine.identity()`` for pixel coordinates).
    mask : (M, N) bool ndarray, optional
        Pixels to trace (default ``labels > 0``).

    Returns
    -------
    dict
        label -> geometry, every one ``is_valid``.

    Examples
    --------
    >>> lab = np.array([[1, 0], [0, 1]], "int32")        # two pixels touching at a corner
    >>> g = trace_polygons(lab, Affine.identity())[1]
    >>> g.geom_type, g.is_valid, g.area
    ('MultiPolygon', True, 2.0)
    """
    labels = np.ascontiguousarray(labels, dtype="int32")
    mask = labels > 0 if mask is None else np.asarray(mask, bool)
    parts: dict[int, list[BaseGeometry]] = {}
    if not mask.any():
        return {}
    # 4-connected pieces: GDAL traces an 8-connected region as one ring pinched at the
    # corners where it touches itself, which OGC (shapely, GEOS, GIS tools) rejects
    with warnings.catch_warnings():  # pixel coordinates (an identity transform) are meant
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        for geom, value in features.shapes(labels, mask=mask, transform=transform,
                                           connectivity=4):
            parts.setdefault(int(value), []).append(shape(geom))
    return {lab: valid_geometry(g[0] if len(g) == 1 else shapely.union_all(g))
            for lab, g in parts.items()}


def composition_field(shares: dict[int, float]) -> str:
    """A composition as one table cell: ``"roof:0.482;vegetation:0.310"``.

    Examples
    --------
    >>> composition_field({3: 0.4823, 6: 0.31})
    'roof:0.482;vegetation:0.310'
    """
    return ";".join(f"{k}:{v:.3f}" for k, v in composition_slugs(shares).items())

@dataclass
class Region:
    """One connected change region.

    ``geometry`` is in the grid's CRS, ``geometry_wgs84`` in lon/lat; ``area_m2``
    is the sum of its pixels' geodesic areas; ``change_type`` is the region's class
    (its dominant type, or ``MIXED``), ``composition`` the area share of each pixel
    type (code -> share, largest first); ``stats`` holds mean magnitude / probability
    and any extra.
    """

    id: int
    geometry: BaseGeometry
    geometry_wgs84: BaseGeometry
    area_m2: float
    pixels: int
    centroid_lonlat: tuple[float, float]
    change_type: int = int(ChangeType.OTHER)
    stats: dict[str, Any] = field(default_factory=dict)
    composition: dict[int, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """What the region is called: its dominant type, or a family and its composition."""
        if self.composition:
            return region_name(self.composition)
        return ChangeType(self.change_type).label

    def properties(self) -> dict[str, Any]:
        ct = ChangeType(self.change_type)
        props: dict[str, Any] = {
            "id": self.id, "area_m2": round(self.area_m2, 1), "pixels": self.pixels,
            "centroid_lon": round(self.centroid_lonlat[0], 6),
            "centroid_lat": round(self.centroid_lonlat[1], 6),
            "change_type": ct.slug, "change_type_label": ct.label, "name": self.name,
            "composition": composition_slugs(self.composition or {int(ct): 1.0}),
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
        Pixel types: each region gets their area shares and is typed from them
        (:func:`~sitewatch.detectors.composition.region_class`).
    min_area_m2 : float
        Regions smaller than this are dropped.
    connectivity : {4, 8}
    extra : dict, optional
        Copied into every region's stats (e.g. the two dates).
    pixel_area : (M, 1) or (M, N) ndarray, optional
        Ground area of every pixel in m² (default
        :func:`~sitewatch.raster.pixel_area_m2` of the grid). A region's area is the sum
        over its pixels, so the regions add up to the mask's total area exactly, in
        memory and block by block.

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
    if pixel_area is None:
        pixel_area = pixel_area_m2(transform, crs, mask.shape)
    region_area = ndimage.sum_labels(np.broadcast_to(pixel_area, mask.shape), labels,
                                     np.arange(1, n + 1))
    areas = None
    if change_type is not None:
        areas = type_areas(labels, change_type, n, pixel_area=pixel_area)
    regions = []
    for lab, geom in trace_polygons(labels, transform, mask=mask).items():
        g_ll = valid_geometry(to_wgs84(geom, crs))
        area = float(region_area[lab - 1])
        if area < min_area_m2:
            continue
        c = g_ll.centroid
        stats: dict[str, Any] = dict(extra or {})
        if mean_mag is not None:
            stats["mean_magnitude"] = float(mean_mag[lab - 1])
        if mean_prob is not None:
            stats["mean_probability"] = float(mean_prob[lab - 1])
        shares = composition(areas[lab]) if areas is not None else {}
        regions.append(Region(lab, geom, g_ll, area, int(counts[lab]), (c.x, c.y),
                              int(region_class(shares)) if shares else int(ChangeType.OTHER),
                              stats, shares))
    # largest first; equal areas (to a millionth of a m², whatever the order the pixel
    # areas were summed in) in raster order, as the block runner orders them
    regions.sort(key=lambda r: (-round(r.area_m2, 6), r.id))
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
