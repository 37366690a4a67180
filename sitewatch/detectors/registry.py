"""Registry of two-date change detectors, picked by name (``--method NAME``).

A detector is a function ``fn(before, after, *, band_names, valid=None,
pixel_size_m=10.0, **params) -> ChangeMap`` on (B, M, N) float arrays of
reflectance with NaN for missing pixels. It never opens files or the network.

Examples
--------
>>> "cva" in available_detectors()
True
>>> get_detector("cva").summary
'Change vector analysis: Euclidean length of the per-pixel spectral difference, Otsu threshold.'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["DetectorInfo", "register_detector", "get_detector", "available_detectors",
           "DEFAULT_DETECTOR"]

#: Name of the detector used when none is asked for.
DEFAULT_DETECTOR = "cva"

DetectorFn = Callable[..., ChangeMap]


@dataclass(frozen=True)
class DetectorInfo:
    """A registered detector: its function, one-line summary and help text."""

    name: str
    fn: DetectorFn
    summary: str
    help: str
    bands: tuple[str, ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> ChangeMap:
        return self.fn(*args, **kwargs)


_REGISTRY: dict[str, DetectorInfo] = {}


def register_detector(name: str, *, summary: str, bands: tuple[str, ...] = ()
                      ) -> Callable[[DetectorFn], DetectorFn]:
    """Decorator adding a detector function to the registry under ``name``.

    ``bands`` lists the Sentinel-2 bands it needs (empty: any bands).
    """
    def deco(fn: DetectorFn) -> DetectorFn:
        doc = (fn.__doc__ or summary).strip()
        _REGISTRY[name] = DetectorInfo(name, fn, summary, doc, tuple(bands))
        return fn
    return deco


def _load_all() -> None:
    # Importing the modules registers their detectors.
    from sitewatch.detectors import cva  # noqa: F401


def available_detectors() -> list[str]:
    """Names of the registered detectors."""
    _load_all()
    return sorted(_REGISTRY)


def get_detector(name: str) -> DetectorInfo:
    """The registered detector called ``name``."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DetectorError(f"unknown detector {name!r}: choose one of "
                            f"{', '.join(sorted(_REGISTRY))}") from None
