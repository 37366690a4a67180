"""Compose the layers into runs (fetch -> detect -> timeline -> figures)."""

from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2, detect_change, score_against
from sitewatch.pipeline.result import ChangeResult

__all__ = ["DEFAULT_MIN_AREA_M2", "ChangeResult", "detect_change", "score_against"]
