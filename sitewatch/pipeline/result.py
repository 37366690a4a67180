"""The result of a two-date change run: rasters, change map, regions, provenance."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sitewatch._version import __version__
from sitewatch.aoi.site import Site
from sitewatch.attribution import copernicus_attribution
from sitewatch.detectors.polygons import Region, regions_to_geojson
from sitewatch.raster import Raster
from sitewatch.types import ChangeMap, ChangeType

__all__ = ["ChangeResult"]


@dataclass
class ChangeResult:
    """Everything a change run produced, traceable to its scenes.

    Attributes
    ----------
    before, after : Raster
        The two epochs on one grid.
    change : ChangeMap
        The detector's arrays.
    regions : list of Region
        Change polygons, largest first.
    site : Site, optional
    min_area_m2 : float
        Minimum mapping unit applied.
    metrics : dict, optional
        Accuracy against a reference, when one was given.
    """

    before: Raster
    after: Raster
    change: ChangeMap
    regions: list[Region]
    site: Site | None = None
    min_area_m2: float = 0.0
    metrics: dict[str, Any] | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC)
                         .isoformat(timespec="seconds"))

    @property
    def changed_area_m2(self) -> float:
        """Total area of the change mask, geodesic m²."""
        area = np.broadcast_to(self.before.pixel_area_m2(), self.change.mask.shape)
        return float(area[self.change.mask].sum())

    @property
    def scene_ids(self) -> list[str]:
        return list(self.before.provenance.scene_ids) + list(self.after.provenance.scene_ids)

    @property
    def attribution(self) -> str:
        return copernicus_attribution(list(self.before.dates) + list(self.after.dates))

    def mask_raster(self) -> Raster:
        """Change mask as uint8 raster: 1 change, 0 no change, 255 no data."""
        m = self.change.mask.astype("uint8")
        if self.change.valid is not None:
            m[~self.change.valid] = 255
        return self._derived(m, ("change",), nodata=255)

    def magnitude_raster(self) -> Raster:
        return self._derived(self.change.magnitude.astype("float32"), ("magnitude",))

    def _derived(self, data: np.ndarray, names: tuple[str, ...], nodata: float | None = None
                 ) -> Raster:
        prov = self.before.provenance.merged(self.after.provenance)
        prov = type(prov)(prov.source, prov.scene_ids,
                          {**prov.processing, "detector": self.change.method,
                           "detector_params": self.change.params,
                           **({"fit_sample": self.change.fit_sample}
                              if self.change.fit_sample is not None else {})})
        return Raster(data, self.before.transform, self.before.crs, band_names=names,
                      nodata=nodata, dates=self.before.dates + self.after.dates,
                      provenance=prov)

    def area_by_type(self) -> dict[str, float]:
        """Changed area in m² per pixel change type slug (sums to :attr:`changed_area_m2`).

        Pixels without a type (a detector that does not type) count as ``other``.
        """
        from sitewatch.detectors.composition import composition, type_areas

        mask = self.change.mask
        types = self.change.change_type if self.change.change_type is not None else \
            np.zeros(mask.shape, "uint8")
        codes = np.where(mask, np.where(types > 0, types, int(ChangeType.OTHER)), 0)
        area = type_areas(mask.astype("int32"), codes, 1,
                          pixel_area=self.before.pixel_area_m2())[1]
        return {ChangeType(c).slug: float(area[c]) for c in composition(area)}

    def regions_by_class(self) -> dict[str, int]:
        """Number of regions per region class slug (dominant type, or ``mixed``)."""
        out: dict[str, int] = {}
        for r in self.regions:
            k = ChangeType(r.change_type).slug
            out[k] = out.get(k, 0) + 1
        return out

    # -- GeoJSON and GeoPandas ------------------------------------------------
    def provenance_properties(self) -> dict[str, Any]:
        """What the region tables carry of the run: scene ids, dates, detector, attribution."""
        return {"scene_ids": self.scene_ids,
                "dates": list(self.before.dates) + list(self.after.dates),
                "detector": self.change.method, "attribution": self.attribution}

    def to_geojson(self) -> dict[str, Any]:
        """The change regions as a WGS84 GeoJSON FeatureCollection (``changes.geojson``)."""
        return regions_to_geojson(self.regions, properties=self.provenance_properties())

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        """The geo interface (WGS84 FeatureCollection of the regions, as in GeoJSON).

        ``shapely``, ``geopandas.GeoDataFrame.from_features(result, crs="EPSG:4326")``,
        folium and other libraries read it directly.
        """
        return self.to_geojson()

    def to_geopandas(self) -> Any:
        """The change regions as a GeoDataFrame in the grid's (site's) CRS.

        One row per region, largest first, with every property of ``changes.geojson``;
        ``area_m2`` is geodesic and unrounded, so ``gdf.area_m2.sum()`` is
        :attr:`changed_area_m2`. Needs ``pip install 'sitewatch[geo]'``
        (:func:`sitewatch.interop.geopandas_io.regions_to_geopandas`).
        """
        from sitewatch.interop.geopandas_io import regions_to_geopandas

        return regions_to_geopandas(self.regions, self.before.crs,
                                    attrs=self.provenance_properties(),
                                    feature="ChangeResult.to_geopandas()")

    def _repr_html_(self) -> str:
        """Notebook display: a small before/after figure and the summary (lazy import)."""
        from sitewatch.annotate.display import change_html

        return change_html(self)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary with full provenance."""
        valid = self.change.valid if self.change.valid is not None else \
            np.ones(self.change.shape, bool)
        site_area = float(np.broadcast_to(self.before.pixel_area_m2(), valid.shape)[valid].sum())
        return {
            "sitewatch_version": __version__,
            "created": self.created,
            "site": None if self.site is None else {"id": self.site.id, "name": self.site.name},
            "before": {"dates": list(self.before.dates),
                       "scene_ids": list(self.before.provenance.scene_ids),
                       "source": self.before.provenance.source,
                       "processing": self.before.provenance.processing},
            "after": {"dates": list(self.after.dates),
                      "scene_ids": list(self.after.provenance.scene_ids),
                      "source": self.after.provenance.source,
                      "processing": self.after.provenance.processing},
            "grid": {"crs": self.before.crs, "transform": list(self.before.transform)[:6],
                     "width": self.before.width, "height": self.before.height},
            "bands": list(self.before.band_names),
            "detector": {"method": self.change.method, "params": self.change.params,
                         "threshold": self.change.threshold,
                         "min_area_m2": self.min_area_m2},
            "results": {
                "changed_area_m2": round(self.changed_area_m2, 1),
                "observed_area_m2": round(site_area, 1),
                "changed_share": round(self.changed_area_m2 / site_area, 6) if site_area else None,
                "changed_pixels": self.change.change_count,
                "regions": len(self.regions),
                "area_by_type_m2": {k: round(v, 1) for k, v in self.area_by_type().items()},
                "regions_by_class": self.regions_by_class(),
                "largest_regions": [r.properties() for r in self.regions[:5]],
            },
            "metrics": self.metrics,
            "attribution": self.attribution,
        }
