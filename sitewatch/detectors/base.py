"""The fit/apply protocol every detector follows, so it can run in memory or block by block.

A detector is a :class:`Detector` subclass. Running it has two phases:

**fit** gathers the global statistics the method needs, in one or more
*passes* over the raster. In each pass, :meth:`Detector.block_stats` maps one
block (``before``, ``after``, ``valid``) to a :class:`~sitewatch.detectors.partial.Partial`
of mergeable sums (covariances, histograms on fixed edges, normalisation
statistics); the partials of all blocks are merged in any order and
:meth:`Detector.end_pass` turns the total into the next :data:`FitState`. The
fit ends when :meth:`Detector.fit_done` says so (IR-MAD iterates until its
canonical correlations converge; most detectors need one or two passes).

**apply** maps one block to its :class:`~sitewatch.types.ChangeMap` block
with the fitted state and nothing else. A detector with spatial context (a
convolutional model, a morphological filter) declares :attr:`Detector.halo`:
the block runner reads that many extra rows/cols on each side (clipped at the
raster edge) and crops the result; :attr:`Detector.block_align` says the
multiple that block offsets must be (for pooling grids).

The fit passes read every pixel of a raster of up to 8192 x 8192 pixels, and a
deterministic spatial sample of a larger one (:func:`fit_sample_windows`, from
:mod:`sitewatch.detectors.sampling`: 64 windows of 512 x 512 spread over it);
the windows depend on the raster's shape alone. The in-memory path
(:meth:`Detector.run`) is literally fit over those windows of the whole array (or
the whole array as one block), then apply on it, so a block runner that follows the
protocol and reads the same windows gets the same answer (sums are float64; tested
on rasters small enough for both). Region-level post-processing (minimum mapping unit, polygons) is
the caller's, after the blocks are stitched.

Examples
--------
>>> import numpy as np
>>> from sitewatch.detectors.cva import CVADetector
>>> rng = np.random.default_rng(0)
>>> before = rng.normal(0.2, 0.01, (3, 40, 40)).astype("float32")
>>> after = before.copy(); after[:, 10:20, 10:20] += 0.3
>>> det = CVADetector(threshold="otsu")
>>> whole = det.run(before, after)
>>> blocks = lambda: [(before[:, :20], after[:, :20], None), (before[:, 20:], after[:, 20:], None)]
>>> state = det.fit(blocks)
>>> top = det.apply(state, before[:, :20], after[:, :20])
>>> bool((top.mask == whole.mask[:20]).all()), int(whole.mask.sum())
(True, 100)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from sitewatch.detectors.params import Param, applicable, check_params
from sitewatch.detectors.partial import Partial, merge_partials
from sitewatch.detectors.sampling import FitWindow, fit_windows, sample_is_usable, sample_record
from sitewatch.errors import DetectorError
from sitewatch.types import ChangeMap

__all__ = ["Detector", "FitState", "Block", "BlockSource", "check_pair", "MAX_PASSES", "Param",
           "available_cores", "fit_sample_windows"]

log = logging.getLogger(__name__)

#: A fitted state: plain numbers, arrays and small records (picklable, JSON-able
#: with numpy arrays as lists). ``state["pass"]`` counts the passes made.
FitState = dict[str, Any]

#: One block: (before (B, m, n), after (B, m, n), valid (m, n) bool or None).
Block = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]

#: A callable returning a fresh iterable of blocks (called once per pass).
BlockSource = Callable[[], Iterable[Block]]

#: Safety limit on the number of fit passes.
MAX_PASSES = 200


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity masks
        return max(1, os.cpu_count() or 1)


def check_pair(before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a (B, M, N) pair; return float32 arrays and the joint valid mask.

    A pixel is valid where every band of both dates is finite (and ``valid``
    is True). An empty block is allowed (the caller decides); the in-memory
    path refuses a pair with no valid pixel.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.ones((2, 2, 2)); a = b.copy(); a[0, 0, 0] = np.nan
    >>> check_pair(b, a)[2]
    array([[False,  True],
           [ True,  True]])
    """
    b = np.asarray(before, dtype="float32")
    a = np.asarray(after, dtype="float32")
    if b.ndim != 3 or b.shape != a.shape:
        raise DetectorError(f"before {b.shape} and after {a.shape} must both be (band, row, col) "
                            "of one shape: load both dates on the same grid and bands")
    ok = np.ones(b.shape[1:], bool)
    for x in (*b, *a):  # band by band: no (B, M, N) temporary
        ok &= np.isfinite(x)
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        if v.shape != ok.shape:
            raise DetectorError(f"valid mask {v.shape} does not match the images {ok.shape}")
        ok &= v
    return b, a, ok


def fit_sample_windows(det: Detector, rows: int, cols: int) -> list[FitWindow] | None:
    """The windows ``det``'s fit reads on a ``rows`` x ``cols`` raster (None: every pixel).

    :func:`~sitewatch.detectors.sampling.fit_windows` with the detector's statistics
    context (:attr:`Detector.stats_halo`, else :attr:`Detector.halo`) and alignment.

    Examples
    --------
    >>> from sitewatch.detectors.cva import CVADetector
    >>> fit_sample_windows(CVADetector(), 8192, 8192) is None, len(fit_sample_windows(
    ...     CVADetector(), 10980, 10980))
    (True, 64)
    """
    ctx = det.halo if det.stats_halo is None else det.stats_halo
    return fit_windows(rows, cols, ctx=int(ctx), align=int(det.block_align))


class Detector:
    """Base class of every change detector (fit/apply protocol; see the module docs).

    Parameters
    ----------
    band_names : sequence of str
        Names of the B bands of ``before``/``after`` (used by band-aware methods).
    pixel_size_m : float
        Ground size of a pixel in metres (for areas and spatial scales).
    **params
        Keyword-only tuning knobs of the subclass, as declared in its
        :attr:`parameters`: validated (type, range, finite, applies) by
        :func:`~sitewatch.detectors.params.check_params`, so every path (in memory,
        block by block, ``-p KEY=VALUE`` strings, Python) gets the same checks.

    Attributes
    ----------
    name, summary : str
        Registry name and one-line description.
    bands : tuple of str
        Bands the detector needs, in order (empty: any bands).
    halo : int
        Rows/cols of context ``apply`` needs beyond a block's edges.
    stats_halo : int or None
        Rows/cols of context ``block_stats`` needs (None: ``halo``; 0 for per-pixel
        statistics, so fit passes read no halo rows).
    block_align : int
        Block offsets must be multiples of this.
    threads : int
        Threads one call of ``apply`` may use for its own work (a network's
        convolutions); the block runners set it so that it and the blocks they run at
        once share the cores (1 when blocks already run on every core).
    parameters : tuple of Param
        The tuning knobs, declared once: name, type, default, range or
        choices, finiteness, when they apply, help
        (:class:`~sitewatch.detectors.params.Param`). A subclass extends its
        base's with :func:`~sitewatch.detectors.params.with_params`.
    params : dict
        Every declared parameter's value (defaults overridden by the caller's).

    Examples
    --------
    >>> class Demo(Detector):
    ...     parameters = (Param("gain", 1.0, "A factor.", low=0, low_open=True),)
    >>> Demo(gain="2").params
    {'gain': 2.0}
    >>> Demo(gain=-1)
    Traceback (most recent call last):
    ...
    sitewatch.errors.ParameterError: Demo: gain must be a number > 0, got -1
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    bands: ClassVar[tuple[str, ...]] = ()
    halo: ClassVar[int] = 0
    stats_halo: ClassVar[int | None] = None
    block_align: ClassVar[int] = 1
    threads: int = 1
    parameters: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, *, band_names: Sequence[str] = (), pixel_size_m: float = 10.0,
                 **params: Any) -> None:
        self.band_names = tuple(band_names)
        self.pixel_size_m = float(pixel_size_m)
        self.params: dict[str, Any] = check_params(self.parameters, params,
                                                   owner=self.name or type(self).__name__)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Tuning knobs and their default values (from :attr:`parameters`)."""
        return {p.name: p.default for p in cls.parameters}

    def applied_params(self) -> dict[str, Any]:
        """The parameters in effect (those whose condition holds): what outputs record."""
        return applicable(self.parameters, self.params)

    # -- to override -------------------------------------------------------
    def initial_state(self) -> FitState:
        """State before the first pass."""
        return {"pass": 0}

    def fit_done(self, state: FitState) -> bool:
        """Whether the fit needs no further pass (default: after one pass)."""
        return bool(state.get("done", False))

    def block_stats(self, state: FitState, before: np.ndarray, after: np.ndarray,
                    valid: np.ndarray) -> Partial | None:
        """Partial statistics of one block for the current pass (None: nothing to add)."""
        return None

    def end_pass(self, state: FitState, total: Partial | None) -> FitState:
        """The state after a pass, from the merged statistics of every block."""
        return {**state, "done": True}

    def apply(self, state: FitState, before: np.ndarray, after: np.ndarray,
              valid: np.ndarray | None = None) -> ChangeMap:
        """The change map of one block under the fitted state."""
        raise NotImplementedError

    # -- drivers -------------------------------------------------------------
    def fit(self, blocks: BlockSource) -> FitState:
        """Run the fit passes over the blocks given by ``blocks()`` (called once per pass).

        Each block is validated with :func:`check_pair`; blocks with no valid
        pixel contribute nothing.
        """
        state = self.initial_state()
        while not self.fit_done(state):
            if state.get("pass", 0) >= MAX_PASSES:
                raise DetectorError(f"{self.name}: fit did not finish in {MAX_PASSES} passes")
            parts = []
            for before, after, valid in blocks():
                b, a, ok = check_pair(before, after, valid)
                if ok.any():
                    parts.append(self.block_stats(state, b, a, ok))
            state = self.end_pass(state, merge_partials(parts))
            state["pass"] = state.get("pass", 0) + 1
        return state

    def run(self, before: np.ndarray, after: np.ndarray, valid: np.ndarray | None = None
            ) -> ChangeMap:
        """In-memory path: fit on the whole array as one block (on the sample windows of
        :func:`fit_sample_windows` if it is large), then apply to it."""
        b, a, ok = check_pair(before, after, valid)
        if not ok.any():
            raise DetectorError("no pixel is valid on both dates: every pixel is cloud or "
                                "no-data")
        windows = fit_sample_windows(self, *ok.shape)
        seen = int(ok.sum())
        if windows is not None:
            seen = sum(int(ok[w.row0:w.row1, w.col0:w.col1].sum()) for w in windows)
            if not sample_is_usable(seen, windows):
                log.info("%s: the fit sample is mostly cloud or no-data: fitting on every "
                         "pixel", self.name)
                windows, seen = None, int(ok.sum())
        if windows is None:
            state = self.fit(lambda: [(b, a, ok)])
        else:
            def crops(wins: list[FitWindow] = windows) -> Iterable[Block]:
                for w in wins:
                    r, c = slice(w.read0, w.read1), slice(w.cread0, w.cread1)
                    core = np.zeros((w.read1 - w.read0, w.cread1 - w.cread0), bool)
                    core[w.core] = True
                    yield b[:, r, c], a[:, r, c], ok[r, c] & core

            state = self.fit(crops)
        cm = self.apply(state, b, a, ok)
        cm.fit_sample = sample_record(windows, seen, *ok.shape)
        return cm

    def band_index(self, name: str) -> int:
        """Index of a named band in ``band_names``."""
        try:
            return self.band_names.index(name)
        except ValueError:
            raise DetectorError(f"{self.name} needs band {name}, got "
                                f"{', '.join(self.band_names) or 'unnamed bands'}: load it "
                                "from the source") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"
