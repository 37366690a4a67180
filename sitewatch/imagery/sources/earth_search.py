"""Earth Search (Element 84 on AWS): Sentinel-2 L2A COGs, free, no account.

Endpoint ``https://earth-search.aws.element84.com/v1`` (override with
``url=``, ``--endpoint`` or ``SITEWATCH_EARTH_SEARCH_URL``, e.g. for a mirror
with the same API). Collections, in order of preference:

- ``sentinel-2-c1-l2a``: Collection 1, ESA's uniform reprocessing (baseline
  05.xx), DNs as ESA writes them: (DN - 1000) / 10000.
- ``sentinel-2-l2a``: the older collection, used where Collection 1 has no
  scene. Element 84 removed the offset from some baseline 04.00+ scenes and
  says so in ``earthsearch:boa_offset_applied``, a flag known to be wrong both
  ways (earth-search issues 66, 71): the pixels are checked
  (:func:`~sitewatch.imagery.radiometry.offset_evidence`) and win over the flag.

One acquisition found in both collections is kept once, from Collection 1.

Examples
--------
>>> src = EarthSearchSource(url="http://127.0.0.1:9/v1")  # opens no connection until searched
>>> src.collections, src.url
(('sentinel-2-c1-l2a', 'sentinel-2-l2a'), 'http://127.0.0.1:9/v1')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sitewatch.aoi.grid import Grid
from sitewatch.imagery.radiometry import Harmonisation, harmonisation_for, offset_evidence
from sitewatch.imagery.scene import SceneRecord
from sitewatch.imagery.sources.stac import StacSource

__all__ = ["EarthSearchSource", "EARTH_SEARCH_URL"]

EARTH_SEARCH_URL = "https://earth-search.aws.element84.com/v1"
_KEYS = {"B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1",
         "B06": "rededge2", "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09",
         "B11": "swir16", "B12": "swir22", "SCL": "scl"}


class EarthSearchSource(StacSource):
    """Sentinel-2 L2A from Earth Search (see the module docstring)."""

    name = "earth-search"
    description = ("Sentinel-2 L2A COGs from Element 84's Earth Search STAC API on AWS "
                   "(free, no account; the default)")
    default_url = EARTH_SEARCH_URL
    url_env = "SITEWATCH_EARTH_SEARCH_URL"
    default_collections = ("sentinel-2-c1-l2a", "sentinel-2-l2a")
    asset_keys = {"*": _KEYS}

    def _extra(self, props: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"tile": str(props.get("grid:code", "")).removeprefix("MGRS-"),
                               "relative_orbit": props.get("sat:relative_orbit")}
        if "earthsearch:boa_offset_applied" in props:
            out["boa_offset_applied"] = props["earthsearch:boa_offset_applied"]
        return out

    def harmonisation(self, scene: SceneRecord, raw: dict[str, np.ndarray],
                      grid: Grid) -> Harmonisation:
        rule = harmonisation_for(scene.processing_baseline, scene.date, provider=self.name)
        if scene.collection != "sentinel-2-l2a" or rule.offset == 0:
            return rule  # Collection 1 (and old baselines) follow ESA's convention
        declared = scene.properties.get("boa_offset_applied")
        extra = [b for b in ("B02", "SCL") if b not in raw]
        have = {**raw, **(self.read_bands(scene, grid, extra) if extra else {})}
        evidence = offset_evidence(have["B02"], have["SCL"])
        return harmonisation_for(scene.processing_baseline, scene.date,
                                 already_harmonised=None if declared is None else bool(declared),
                                 evidence=evidence, provider=self.name)
