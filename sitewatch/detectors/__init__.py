"""Pure array change-detection algorithms.

Detectors take (band, row, col) arrays plus georeferencing and return arrays
or records; they never open files or the network, and import nothing of
sitewatch but errors and types.
"""

from sitewatch.detectors.base import Detector, FitState, check_pair
from sitewatch.detectors.metrics import Confusion, confusion, pooled, scores
from sitewatch.detectors.polygons import Region, regions_from_mask, regions_to_geojson
from sitewatch.detectors.registry import (
    DEFAULT_DETECTOR,
    available_detectors,
    get_detector,
    register_detector,
)

__all__ = [
    "DEFAULT_DETECTOR",
    "Detector",
    "FitState",
    "check_pair",
    "Confusion",
    "Region",
    "available_detectors",
    "confusion",
    "get_detector",
    "pooled",
    "regions_from_mask",
    "regions_to_geojson",
    "register_detector",
    "scores",
]
