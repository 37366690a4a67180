"""Registry of two-date change detectors, picked by name (``--method NAME``).

A detector is a :class:`~sitewatch.detectors.base.Detector` subclass
registered with :func:`register_detector`. :func:`get_detector` returns a
:class:`DetectorInfo`: its name, one-line summary, help text (the class
docstring), the bands it needs, and two ways to run it:

- call it like a function on whole arrays (the in-memory path):
  ``get_detector("irmad")(before, after, band_names=..., valid=..., **params)``;
- ``get_detector("irmad").create(band_names=..., **params)`` gives the
  :class:`~sitewatch.detectors.base.Detector` whose ``fit``/``apply`` a block
  runner drives (``halo`` and ``block_align`` say how to cut blocks).

Examples
--------
>>> "cva" in available_detectors()
True
>>> get_detector("cva").summary
'Change vector analysis: length of the per-pixel spectral difference, histogram or calibrated cut.'
>>> get_detector("cva").create(threshold="otsu").params["threshold"]
'otsu'
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from sitewatch.detectors.base import Detector
from sitewatch.detectors.params import Param, check_params
from sitewatch.errors import DetectorError, ParameterError
from sitewatch.types import ChangeMap

__all__ = ["DetectorInfo", "register_detector", "get_detector", "available_detectors",
           "resolve_detector", "DEFAULT_DETECTOR", "FALLBACK_DETECTOR", "FALLBACK_PARAMS"]

log = logging.getLogger(__name__)

#: Name of the detector used when none is asked for (chosen by benchmarks/bench_oscd.py).
DEFAULT_DETECTOR = "fused"

#: Used instead of the default when the rasters lack the default's bands
#: (:func:`resolve_detector`): it runs on any bands.
FALLBACK_DETECTOR = "cva"
#: Parameters of the fallback: a histogram cut adapts to how much of a small site changed.
FALLBACK_PARAMS: dict[str, Any] = {"threshold": "bimodal"}

D = TypeVar("D", bound=type[Detector])


@dataclass(frozen=True)
class DetectorInfo:
    """A registered detector: its class, summary, help text and needed bands."""

    name: str
    cls: type[Detector]
    summary: str
    help: str
    bands: tuple[str, ...] = ()
    sensor: str = "s2"

    @property
    def fn(self) -> Callable[..., ChangeMap]:
        """The in-memory path as a plain function (same as calling this object)."""
        return self.__call__

    def defaults(self) -> dict[str, Any]:
        """The detector's tuning knobs and their defaults.

        Examples
        --------
        >>> get_detector("cva").defaults()["far"]
        0.01
        """
        return self.cls.defaults()

    @property
    def parameters(self) -> tuple[Param, ...]:
        """The declared parameters (:class:`~sitewatch.detectors.params.Param`)."""
        return self.cls.parameters

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` validated and typed (strings of ``-p KEY=VALUE`` too), defaults filled.

        The same check the detector's constructor makes, without building it: the
        command line calls it before fetching anything.

        Examples
        --------
        >>> get_detector("cva").check_params({"threshold": "0.05"})["threshold"]
        0.05
        >>> get_detector("cva").check_params({"far": "0.2"})
        Traceback (most recent call last):
        ...
        sitewatch.errors.ParameterError: cva: far is used only when threshold is far ...
        """
        return check_params(self.cls.parameters, params, owner=self.name)

    def create(self, *, band_names: Sequence[str] = (), pixel_size_m: float = 10.0,
               **params: Any) -> Detector:
        """A configured detector object (for block runners).

        Examples
        --------
        >>> get_detector("cva").create().name
        'cva'
        """
        return self.cls(band_names=band_names or self.bands, pixel_size_m=pixel_size_m, **params)

    def __call__(self, before: np.ndarray, after: np.ndarray, *, band_names: Sequence[str] = (),
                 valid: np.ndarray | None = None, pixel_size_m: float = 10.0,
                 **params: Any) -> ChangeMap:
        """Run on whole (B, M, N) arrays: fit on the whole array, then apply."""
        det = self.create(band_names=band_names, pixel_size_m=pixel_size_m, **params)
        return det.run(before, after, valid)


_REGISTRY: dict[str, DetectorInfo] = {}


def register_detector(name: str, *, summary: str, bands: tuple[str, ...] = (),
                      sensor: str = "s2") -> Callable[[D], D]:
    """Class decorator adding a :class:`Detector` subclass to the registry under ``name``.

    ``bands`` lists the bands it needs in order (empty: any bands); ``sensor``
    is ``"s2"`` (optical reflectance) or ``"s1"`` (radar intensities).

    Examples
    --------
    >>> from sitewatch.detectors.cva import CVADetector
    >>> @register_detector("cva-copy", summary="CVA again.")
    ... class Copy(CVADetector):
    ...     "A copy of CVA (for this example)."
    >>> get_detector("cva-copy").help
    'A copy of CVA (for this example).'
    >>> del _REGISTRY["cva-copy"]
    """
    def deco(cls: D) -> D:
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            raise TypeError(f"{cls!r} is not a Detector subclass")
        cls.name = name
        cls.summary = summary
        cls.bands = tuple(bands)
        doc = inspect.cleandoc(cls.__doc__ or summary)
        doc = doc.split("\nExamples\n--------")[0].strip()  # help text: no doctests
        _REGISTRY[name] = DetectorInfo(name, cls, summary, doc, tuple(bands), sensor)
        return cls
    return deco


def _load_all() -> None:
    # Importing the modules registers their detectors.
    from sitewatch.detectors import (  # noqa: F401
        cva,
        fused,
        indices,
        irmad,
        learned,
        pcakmeans,
        sar,
    )


def available_detectors(sensor: str | None = None) -> list[str]:
    """Names of the registered detectors (optionally only those for one sensor).

    Examples
    --------
    >>> "irmad" in available_detectors("s2")
    True
    """
    _load_all()
    return sorted(n for n, i in _REGISTRY.items() if sensor is None or i.sensor == sensor)


def get_detector(name: str) -> DetectorInfo:
    """The registered detector called ``name``.

    Examples
    --------
    >>> get_detector("nope")
    Traceback (most recent call last):
    ...
    sitewatch.errors.ParameterError: unknown detector 'nope': choose one of ...
    """
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ParameterError(f"unknown detector {name!r}: choose one of "
                             f"{', '.join(sorted(_REGISTRY))}") from None


def resolve_detector(name: str | None, band_names: Sequence[str],
                     params: dict[str, Any] | None = None) -> tuple[DetectorInfo, dict[str, Any]]:
    """The detector to run on rasters with ``band_names``, and its parameters.

    An explicit ``name`` is returned as asked (if the bands are missing, the
    detector's own error says which). With ``name=None`` it is
    :data:`DEFAULT_DETECTOR`, unless the bands lack what the default needs
    (say a 4-band B02/B03/B04/B08 raster and the ten-band ``cnn``): then
    :data:`FALLBACK_DETECTOR` with :data:`FALLBACK_PARAMS`, and a logged
    warning naming the missing bands. Parameters given for the default detector
    would not be applied by the fallback (the same name can mean another thing:
    ``threshold`` is a probability for ``cnn``, a spectral distance for ``cva``),
    so the fallback with ``params`` is an error that asks to name the method. Every
    caller that runs "the default detector" should come through here.

    Examples
    --------
    >>> info, params = resolve_detector(None, ("B02", "B03", "B04", "B08"))
    >>> info.name == DEFAULT_DETECTOR or (info.name, params) == ("cva", {"threshold": "bimodal"})
    True
    >>> resolve_detector("irmad", ("B02", "B03"))[0].name
    'irmad'
    """
    info = get_detector(name or DEFAULT_DETECTOR)
    params = dict(params or {})
    if name is None and info.bands and not set(info.bands) <= set(band_names):
        missing = ", ".join(b for b in info.bands if b not in band_names)
        fb = get_detector(FALLBACK_DETECTOR)
        if params:
            raise DetectorError(
                f"the default detector {info.name} needs bands {missing} that the rasters "
                f"lack, and the parameters given ({', '.join(params)}) are {info.name}'s: name "
                f"the method to use (e.g. --method {fb.name}, method={fb.name!r}) with its own "
                "parameters, or load those bands")
        log.warning("the default detector %s needs bands %s that the rasters lack; using %s "
                    "(%s) instead - load those bands or pass a method to choose", info.name,
                    missing, fb.name, ", ".join(f"{k}={v}" for k, v in FALLBACK_PARAMS.items()))
        return fb, dict(FALLBACK_PARAMS)
    return info, params
