"""Two-date change detection on rasters: detector + post-processing + regions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from sitewatch.aoi.site import Site
from sitewatch.detectors.changetype import classify_change
from sitewatch.detectors.indices import INDEX_BANDS
from sitewatch.detectors.metrics import confusion, scores
from sitewatch.detectors.params import Param
from sitewatch.detectors.polygons import regions_from_mask
from sitewatch.detectors.postprocess import clean_mask, minimum_mapping_unit
from sitewatch.detectors.registry import resolve_detector
from sitewatch.errors import DataError, NoClearSceneError
from sitewatch.imagery.epochs import Epoch
from sitewatch.pipeline.result import ChangeResult
from sitewatch.raster import Raster

__all__ = ["detect_change", "detect_change_epochs", "DEFAULT_MIN_AREA_M2", "MIN_AREA",
           "score_against"]

log = logging.getLogger(__name__)

#: Default minimum mapping unit: two 10 m pixels.
DEFAULT_MIN_AREA_M2 = 200.0
#: The minimum mapping unit as a declared parameter (checked like a detector's).
MIN_AREA = Param("min_area_m2", DEFAULT_MIN_AREA_M2, "Smallest change region kept, m².", low=0)


def _check_same_grid(before: Raster, after: Raster) -> None:
    if before.crs != after.crs or before.shape != after.shape \
            or not before.transform.almost_equals(after.transform):
        raise DataError("before and after are on different grids: load both on the site's grid "
                        "(imagery.warp.raster_to_grid)")


def detect_change(before: Raster, after: Raster, *, method: str | None = None,
                  min_area_m2: float = DEFAULT_MIN_AREA_M2, site: Site | None = None,
                  morphology: int = 0, **params: Any) -> ChangeResult:
    """Run a registered detector on two rasters and trace the change regions.

    Parameters
    ----------
    before, after : Raster
        Same grid and bands (the detector's bands are selected by name).
    method : str, optional
        Detector name (default :data:`~sitewatch.detectors.registry.DEFAULT_DETECTOR`; when
        the rasters lack its bands, the fallback of
        :func:`~sitewatch.detectors.registry.resolve_detector`, logged).
    min_area_m2 : float
        Minimum mapping unit in m²: smaller regions are dropped from mask and polygons.
    site : Site, optional
        Recorded in the result.
    **params
        Passed to the detector.

    morphology : int
        Radius in pixels of a morphological clean-up of the mask
        (:func:`~sitewatch.detectors.postprocess.clean_mask`: closing then opening); 0 = none.

    Returns
    -------
    ChangeResult

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> rng = np.random.default_rng(0)
    >>> b = Raster(rng.normal(0.2, 0.01, (3, 30, 30)).astype("float32"),
    ...            Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651", dates=("2020-01-01",))
    >>> a = b.with_data(b.data.copy(), dates=("2021-01-01",)); a.data[:, 5:15, 5:15] += 0.2
    >>> res = detect_change(b, a, method="cva", threshold="otsu")
    >>> len(res.regions), round(res.regions[0].area_m2, -2)
    (1, 10000.0)
    """
    min_area_m2 = MIN_AREA.coerce(min_area_m2)
    _check_same_grid(before, after)
    have = tuple(b for b in before.band_names if b in after.band_names)
    info, params = resolve_detector(method, have, params)
    bands = info.bands or have
    b, a = before.select(bands), after.select(bands)
    valid = b.valid_mask() & a.valid_mask()
    res_m = float(np.sqrt(np.median(b.pixel_area_m2())))
    cm = info(b.data, a.data, band_names=bands, valid=valid, pixel_size_m=res_m, **params)
    if cm.change_type is None and cm.mask.any() and all(n in bands for n in INDEX_BANDS):
        cm.change_type = classify_change(b.data, a.data, bands, cm.mask)
    mask = cm.mask
    if morphology:
        mask = clean_mask(mask, opening=morphology, closing=morphology, valid=cm.valid)
    mask = minimum_mapping_unit(mask, min_area_m2, b.pixel_area_m2())
    cm.mask = mask
    if cm.change_type is not None:
        cm.change_type = np.where(mask, cm.change_type, 0).astype("uint8")
    regions = regions_from_mask(mask, b.transform, b.crs, magnitude=cm.magnitude,
                                probability=cm.probability, change_type=cm.change_type,
                                extra={"date_before": ",".join(before.dates),
                                       "date_after": ",".join(after.dates)},
                                pixel_area=b.pixel_area_m2())
    log.info("%s: %d changed pixels in %d regions", info.name, int(mask.sum()), len(regions))
    return ChangeResult(before, after, cm, regions, site=site, min_area_m2=min_area_m2)


def detect_change_epochs(epochs: Sequence[Epoch], *, method: str | None = None,
                         min_area_m2: float = DEFAULT_MIN_AREA_M2, site: Site | None = None,
                         **params: Any) -> ChangeResult:
    """:func:`detect_change` between the first and the last clear epochs of a series.

    Raises
    ------
    NoClearSceneError
        Fewer than two epochs have a composite (saying how many, over which dates).

    Examples
    --------
    >>> from sitewatch.imagery.sources import get_source
    >>> from sitewatch.imagery.epochs import build_epochs
    >>> src = get_source("sample")
    >>> eps = build_epochs(src, src.site(), "2015-01-01", "2018-12-31", "year", bands=["B04"])
    >>> res = detect_change_epochs(eps, method="cva")
    >>> res.before.dates, res.after.dates
    (('2015-09-18',), ('2018-03-26',))
    """
    clear = [e.raster for e in epochs if e.raster is not None]
    if len(clear) < 2:
        where = f"{site.id}: " if site is not None else ""
        span = f" between {epochs[0].window.start} and {epochs[-1].window.end}" if epochs \
            else ""
        raise NoClearSceneError(f"{where}{len(clear)} of {len(epochs)} epochs{span} have a "
                                "clear observation; change needs two: widen the dates or use "
                                "a longer cadence")
    return detect_change(clear[0], clear[-1], method=method, min_area_m2=min_area_m2,
                         site=site, **params)


def score_against(result: ChangeResult, labels: Raster) -> dict[str, Any]:
    """Precision/recall/F1/kappa of a result's mask against a 0/1 label raster.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> b = Raster(np.zeros((1, 4, 4), "float32"), Affine(10, 0, 0, 0, -10, 0), "EPSG:32631")
    >>> a = b.with_data(b.data.copy()); a.data[0, :2, :2] = 1.0
    >>> res = detect_change(b, a, method="cva", threshold=0.5, min_area_m2=0)
    >>> score_against(res, b.with_data(np.pad(np.ones((1, 2, 2), "uint8"),
    ...                                        ((0, 0), (0, 2), (0, 2)))))["f1"]
    1.0
    """
    if labels.shape != result.change.shape:
        raise DataError(f"label {labels.shape} and result {result.change.shape} differ: "
                        "score on the label's grid")
    truth = labels.data[0] == 1
    out: dict[str, Any] = dict(scores(confusion(result.change.mask, truth)))
    out["reference"] = labels.provenance.to_dict()
    return out
