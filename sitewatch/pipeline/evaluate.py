"""Score a detector on a folder laid out like the OSCD dataset (per city and pooled).

For every labelled city: read both dates on ``imgs_1``'s 10 m grid, run the
detector through :func:`~sitewatch.pipeline.change.detect_change` (the same
post-processing a user gets), write ``<out>/<city>.tif`` (uint8, 1 = change,
0 = no change or no data, georeferenced like ``imgs_1`` B02) and score it
against the label. ``<out>/metrics.json`` holds per-city scores and the pooled
scores (TP/FP/FN/TN summed over every pixel of every city first, the OSCD
convention). Labels are CC BY-NC-SA 4.0 (Daudt et al. 2018).

Examples
--------
>>> import tempfile
>>> evaluate_oscd(tempfile.mkdtemp(), "cva", tempfile.mkdtemp())
Traceback (most recent call last):
...
sitewatch.errors.DataError: no OSCD city folders (with dates.txt) under ...
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sitewatch._version import __version__
from sitewatch.attribution import OSCD_CREDIT, copernicus_attribution
from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors.metrics import confusion, pooled, scores
from sitewatch.detectors.params import applicable
from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector
from sitewatch.errors import DataError
from sitewatch.imagery.io import atomic_write_text, write_cog
from sitewatch.imagery.oscd import find_oscd_cities, read_oscd_labels, read_oscd_pair
from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2, detect_change
from sitewatch.raster import Provenance, Raster

__all__ = ["evaluate_oscd"]

log = logging.getLogger(__name__)


def evaluate_oscd(root: str | os.PathLike[str], method: str | None, out_dir: str | os.PathLike[str],
                  *, cities: Sequence[str] | None = None,
                  min_area_m2: float = DEFAULT_MIN_AREA_M2,
                  params: dict[str, Any] | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run ``method`` on every labelled city under ``root``; write masks and metrics.json.

    Parameters
    ----------
    root : path-like
        OSCD dataset root (holding the Images and Train/Test Labels folders).
    method : str, optional
        Registered detector name (default: the default detector).
    out_dir : path-like
        Folder for ``<city>.tif`` and ``metrics.json``.
    cities : sequence of str, optional
        Only these cities (default: every labelled one).
    min_area_m2 : float
        Minimum mapping unit.
    params : dict, optional
        Detector parameters (checked before any city is read; ``metrics.json``
        records every parameter in effect, defaults included).
    progress : callable, optional
        ``progress("cities", done, total)``.

    Returns
    -------
    dict
        The content of ``metrics.json``.
    """
    name = method or DEFAULT_DETECTOR
    info = get_detector(name)
    if info.sensor != "s2":
        raise DataError(f"{name} is a Sentinel-1 detector; OSCD holds Sentinel-2 images: "
                        "pick an s2 detector (sitewatch detectors)")
    applied = applicable(info.parameters, info.check_params(params or {}))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(cities) if cities else find_oscd_cities(root, labelled_only=True)
    bands = info.bands or S2_LAND_BANDS
    per_city: dict[str, Any] = {}
    confs = []
    years: list[str] = []
    for done, city in enumerate(names):
        if progress is not None:
            progress("cities", done, len(names))
        t0 = time.perf_counter()
        label = read_oscd_labels(root, city)
        if label is None:
            raise DataError(f"city {city} has no label under {root}: only labelled cities "
                            "can be scored")
        before, after = read_oscd_pair(root, city, bands=bands)
        t1 = time.perf_counter()
        res = detect_change(before, after, method=name, min_area_m2=min_area_m2,
                            **(params or {}))
        t2 = time.perf_counter()
        mask = res.change.mask.astype("uint8")
        write_cog(Raster(mask[np.newaxis], before.transform, before.crs, band_names=("change",),
                         dates=before.dates + after.dates,
                         provenance=Provenance("sitewatch-evaluate",
                                               before.provenance.scene_ids
                                               + after.provenance.scene_ids,
                                               {"detector": name, "params": res.change.params})),
                  out / f"{city}.tif")
        c = confusion(res.change.mask, label.data[0] == 1)
        confs.append(c)
        years += list(before.dates) + list(after.dates)
        per_city[city] = {**scores(c), "dates": [before.dates[0], after.dates[0]],
                          "detect_seconds": round(t2 - t1, 3), "read_seconds": round(t1 - t0, 3)}
        log.info("%s: F1 %.3f (%.1f s)", city, per_city[city]["f1"], t2 - t1)
    if progress is not None:
        progress("cities", len(names), len(names))
    result = {"sitewatch_version": __version__, "method": name, "params": applied,
              "min_area_m2": min_area_m2, "root": str(root), "cities": per_city,
              "pooled": scores(pooled(confs)),
              "pooling": "TP/FP/FN/TN summed over all pixels of all cities, then scored",
              "labels": OSCD_CREDIT, "attribution": copernicus_attribution(years)}
    atomic_write_text(json.dumps(result, indent=2, default=str) + "\n", out / "metrics.json")
    return result
