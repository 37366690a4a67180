"""Small shared types: change classes and the result record of a detector.

Detectors return a :class:`ChangeMap` (plain arrays, no georeferencing); the
pipeline attaches the grid and the provenance. Change classes are the codes
of :class:`ChangeType`, shared by detectors, timelines and figures; each has one
machine name (:attr:`ChangeType.slug`) and one human name (:attr:`ChangeType.label`,
from :data:`CHANGE_TYPE_NAMES`), and every output uses those two only. Pixels
carry codes 1-7; ``MIXED`` is for regions whose composition no type dominates
(:mod:`sitewatch.detectors.composition`).

Examples
--------
>>> ChangeType.PAVING.label
'new paving'
>>> ChangeType(4) is ChangeType.DEMOLITION
True
>>> import numpy as np
>>> cm = ChangeMap(magnitude=np.zeros((2, 2), "float32"), mask=np.zeros((2, 2), bool),
...                method="cva")
>>> cm.shape, int(cm.change_count)
((2, 2), 0)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ChangeType", "ChangeMap", "CHANGE_TYPE_NAMES"]


class ChangeType(enum.IntEnum):
    """Kinds of change, as uint8 codes in change-type rasters (0 = no change)."""

    NONE = 0
    PAVING = 1        # new paving / impervious surface
    CONSTRUCTION = 2  # construction site, bare-soil clearing, earthworks
    ROOF = 3          # new roof / building
    DEMOLITION = 4    # built surface removed
    WATER = 5         # water appears or disappears
    VEGETATION = 6    # vegetation gain or loss not explained by the above
    OTHER = 7         # changed, type undecided
    MIXED = 8         # a region (never a pixel) whose largest type covers at most half of it

    @property
    def label(self) -> str:
        return CHANGE_TYPE_NAMES[self]

    @property
    def slug(self) -> str:
        return self.name.lower()


CHANGE_TYPE_NAMES: dict[ChangeType, str] = {
    ChangeType.NONE: "no change",
    ChangeType.PAVING: "new paving",
    ChangeType.CONSTRUCTION: "construction / clearing",
    ChangeType.ROOF: "new roof",
    ChangeType.DEMOLITION: "demolition",
    ChangeType.WATER: "water change",
    ChangeType.VEGETATION: "vegetation change",
    ChangeType.OTHER: "other change",
    ChangeType.MIXED: "mixed change",
}
"""The one name of each class, used by the CLI, tables, GeoJSON, figures, reports and docs."""


@dataclass
class ChangeMap:
    """What a two-date detector returns.

    Parameters
    ----------
    magnitude : (M, N) float ndarray
        The detector's change statistic; larger means more change. NaN where invalid.
    mask : (M, N) bool ndarray
        Changed pixels after thresholding and post-processing.
    method : str
        Registry name of the detector.
    probability : (M, N) float ndarray, optional
        Per-pixel probability of change in [0, 1].
    change_type : (M, N) uint8 ndarray, optional
        :class:`ChangeType` codes; 0 where unchanged.
    valid : (M, N) bool ndarray, optional
        Pixels where both dates were observed.
    threshold : float, optional
        Threshold applied to ``magnitude``.
    params : dict
        Every parameter the detector used (for provenance).
    fit_sample : dict, optional
        The pixels the fit saw (:func:`~sitewatch.detectors.sampling.sample_record`):
        every pixel, or a spatial sample of a large raster, with its pixel counts.
    """

    magnitude: np.ndarray
    mask: np.ndarray
    method: str
    probability: np.ndarray | None = None
    change_type: np.ndarray | None = None
    valid: np.ndarray | None = None
    threshold: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fit_sample: dict[str, Any] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.mask.shape)  # type: ignore[return-value]

    @property
    def change_count(self) -> int:
        return int(np.count_nonzero(self.mask))
