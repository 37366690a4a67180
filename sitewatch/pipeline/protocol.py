"""The fit/apply protocol a block runner drives, and detectors in that form.

A block detector has ``halo`` (context rows a block needs on each side),
``initial_state()``, ``fit_done(state)``, ``block_stats(state, before, after, valid)``
(a mergeable partial of one block, with ``.merge``), ``end_pass(state, total)`` and
``apply(state, before, after, valid) -> ChangeMap``. The in-memory path is the same
detector fitted on one whole-array block.

Examples
--------
>>> import numpy as np
>>> det = create_block_detector("cva")
>>> rng = np.random.default_rng(0)
>>> b = rng.normal(0.2, 0.01, (3, 40, 40)).astype("float32"); a = b.copy()
>>> a[:, 5:15, 5:15] += 0.3
>>> ok = np.ones((40, 40), bool)
>>> st = det.initial_state()
>>> while not det.fit_done(st):
...     parts = [det.block_stats(st, b[:, r:r + 10], a[:, r:r + 10], ok[r:r + 10])
...              for r in range(0, 40, 10)]
...     st = det.end_pass(st, merge_parts(parts))
>>> int(det.apply(st, b, a, ok).mask.sum())
100
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sitewatch.detectors.cva import change_vector
from sitewatch.detectors.registry import get_detector
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["BlockDetector", "create_block_detector", "merge_parts"]


class BlockDetector(Protocol):
    """What :func:`sitewatch.pipeline.blockwise.detect_change_files` needs of a detector."""

    halo: int

    def initial_state(self) -> dict[str, Any]: ...

    def fit_done(self, state: dict[str, Any]) -> bool: ...

    def block_stats(self, state: dict[str, Any], before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Any: ...

    def end_pass(self, state: dict[str, Any], total: Any) -> dict[str, Any]: ...

    def apply(self, state: dict[str, Any], before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap: ...


def merge_parts(parts: Iterable[Any]) -> Any:
    """Merge partials in the given order (None, from empty blocks, skipped)."""
    total = None
    for p in parts:
        if p is not None:
            total = p if total is None else total.merge(p)
    return total


@dataclass
class _Sums:
    values: dict[str, Any]

    def merge(self, other: _Sums) -> _Sums:
        out = {}
        for k, v in self.values.items():
            w = other.values[k]
            out[k] = min(v, w) if k == "lo" else max(v, w) if k == "hi" else v + w
        return _Sums(out)


class _CVAOtsu:
    """CVA with Otsu's threshold, exactly as :func:`sitewatch.detectors.cva.detect_cva`.

    Otsu's histogram is the whole array's: the global min/max in a first pass, then
    256-bin histograms over that range summed over blocks.
    """

    halo = 0

    def __init__(self, *, threshold: float | None = None, **unknown: Any) -> None:
        if unknown:
            raise DetectorError(f"cva has no parameter {', '.join(sorted(unknown))}: known is "
                                "threshold")
        self.fixed = threshold

    def initial_state(self) -> dict[str, Any]:
        return {"pass": 0} if self.fixed is None else {"pass": 0, "threshold": self.fixed}

    def fit_done(self, state: dict[str, Any]) -> bool:
        return "threshold" in state

    def block_stats(self, state: dict[str, Any], before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> _Sums:
        mag = change_vector(before, after, valid)
        vals = np.asarray(mag[np.isfinite(mag)], dtype="float64")
        if "range" not in state:
            return _Sums({"n": vals.size, "lo": float(vals.min()), "hi": float(vals.max())})
        return _Sums({"hist": np.histogram(vals, bins=256, range=state["range"])[0]})

    def end_pass(self, state: dict[str, Any], total: _Sums | None) -> dict[str, Any]:
        if total is None:
            raise DetectorError("no pixel is valid on both dates: every pixel is cloud or "
                                "no-data")
        t = total.values
        if "range" not in state:
            if t["n"] < 2 or t["lo"] == t["hi"]:
                raise DetectorError("cannot threshold: fewer than two distinct valid values "
                                    "(is the whole site masked as cloud or no-data?)")
            return {**state, "range": (t["lo"], t["hi"])}
        from skimage import filters

        edges = np.linspace(state["range"][0], state["range"][1], 257)
        centers = (edges[:-1] + edges[1:]) / 2.0
        return {**state, "threshold": float(filters.threshold_otsu(hist=(t["hist"], centers)))}

    def apply(self, state: dict[str, Any], before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap:
        ok = np.isfinite(before).all(axis=0) & np.isfinite(after).all(axis=0)
        if valid is not None:
            ok &= valid
        mag = change_vector(before, after, ok) if ok.any() else \
            np.full(ok.shape, np.nan, "float32")
        t = float(state["threshold"])
        mask = np.isfinite(mag) & (np.nan_to_num(mag, nan=-np.inf) > t)
        return ChangeMap(magnitude=mag, mask=mask, method="cva", valid=np.isfinite(mag),
                         threshold=t, params={"threshold": t, "threshold_method":
                                              "fixed" if self.fixed is not None else "otsu"})


def create_block_detector(name: str, *, band_names: tuple[str, ...] = (),
                          pixel_size_m: float = 10.0, **params: Any) -> BlockDetector:
    """A configured detector in fit/apply form, by registry name.

    Raises
    ------
    DetectorError
        Unknown detector, unknown parameter, or no blockwise form yet.
    """
    info = get_detector(name)
    if name == "cva":
        return _CVAOtsu(**params)
    raise DetectorError(f"detector {info.name!r} has no blockwise form yet: run it in memory "
                        "(sitewatch.pipeline.detect_change) or pick --method cva")
