"""Mergeable partial statistics: what one block contributes to a detector's fit.

A :class:`Partial` holds named arrays of three kinds: ``sums`` (added when two
partials merge: counts, sums, cross-products, histograms on fixed edges),
``mins`` and ``maxs`` (element-wise extremes). Merging is associative and
commutative, so partials of any split of a raster into blocks, merged in any
order, give the statistics of the whole raster (up to float rounding of sums,
which are kept in float64).

Examples
--------
>>> import numpy as np
>>> x = np.arange(10.0)
>>> p = Partial.of(sums={"n": x[:4].size, "s": x[:4].sum()}, maxs={"hi": x[:4].max()})
>>> q = Partial.of(sums={"n": x[4:].size, "s": x[4:].sum()}, maxs={"hi": x[4:].max()})
>>> m = p.merge(q)
>>> float(m.sums["s"] / m.sums["n"]), float(m.maxs["hi"])
(4.5, 9.0)
>>> float(merge_partials([p, None, q]).sums["n"])
10.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sitewatch.errors import DetectorError

__all__ = ["Partial", "merge_partials", "Histogram"]

#: Values binned at a time by :meth:`Histogram.counts` (temporaries of about 1 MB).
_COUNT_CHUNK = 1 << 18


def _arrays(d: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype="float64") for k, v in (d or {}).items()}


@dataclass
class Partial:
    """Statistics of one block, mergeable with those of other blocks.

    Attributes
    ----------
    sums : dict of str to ndarray
        Added element-wise on merge (float64).
    mins, maxs : dict of str to ndarray
        Element-wise minimum / maximum on merge.
    """

    sums: dict[str, np.ndarray] = field(default_factory=dict)
    mins: dict[str, np.ndarray] = field(default_factory=dict)
    maxs: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, *, sums: Mapping[str, Any] | None = None, mins: Mapping[str, Any] | None = None,
           maxs: Mapping[str, Any] | None = None) -> Partial:
        """Build a partial from plain numbers or arrays (cast to float64).

        Examples
        --------
        >>> Partial.of(sums={"n": 3}).sums
        {'n': array(3.)}
        """
        return cls(_arrays(sums), _arrays(mins), _arrays(maxs))

    def merge(self, other: Partial) -> Partial:
        """The statistics of both blocks together.

        Examples
        --------
        >>> Partial.of(mins={"lo": [1, 5]}).merge(Partial.of(mins={"lo": [2, 3]})).mins["lo"]
        array([1., 3.])
        """
        if set(self.sums) != set(other.sums) or set(self.mins) != set(other.mins) \
                or set(self.maxs) != set(other.maxs):
            raise DetectorError("cannot merge partial statistics of different passes")
        return Partial({k: self.sums[k] + other.sums[k] for k in self.sums},
                       {k: np.minimum(self.mins[k], other.mins[k]) for k in self.mins},
                       {k: np.maximum(self.maxs[k], other.maxs[k]) for k in self.maxs})


def merge_partials(parts: Iterable[Partial | None]) -> Partial | None:
    """Merge any number of partials (None entries, from empty blocks, are skipped).

    Examples
    --------
    >>> merge_partials([]) is None
    True
    """
    total: Partial | None = None
    for p in parts:
        if p is None:
            continue
        total = p if total is None else total.merge(p)
    return total


@dataclass(frozen=True)
class Histogram:
    """A histogram on fixed edges: mergeable by adding counts.

    Edges are uniform in the value (``scale="linear"``) or in
    ``log1p(value / unit)`` (``scale="log1p"``: fine bins near zero and a wide
    range at once, for non-negative change statistics of any magnitude above
    ``unit``). Values below ``lo`` go to the first bin
    and above ``hi`` to the last, so every finite value is counted; quantiles
    are read by linear interpolation within a bin.

    Examples
    --------
    >>> import numpy as np
    >>> h = Histogram(0.0, 1.0, 1000)
    >>> x = np.linspace(0, 1, 100001)
    >>> c = h.counts(x[:50000]) + h.counts(x[50000:])
    >>> round(h.quantile(c, 0.9), 3)
    0.9
    >>> hl = Histogram(0.0, 1e6, 4096, scale="log1p")
    >>> round(hl.quantile(hl.counts(x), 0.5), 2)
    0.5
    """

    lo: float
    hi: float
    nbins: int = 4096
    scale: str = "linear"
    unit: float = 1.0

    def __post_init__(self) -> None:
        if self.scale not in ("linear", "log1p"):
            raise DetectorError(f"histogram scale must be 'linear' or 'log1p', not {self.scale!r}")
        if self.scale == "log1p" and self.lo < 0:
            raise DetectorError("a log1p histogram needs lo >= 0")

    def _fwd(self, v: np.ndarray | float) -> np.ndarray:
        v = np.asarray(v, "float64")
        return np.log1p(np.maximum(v, 0.0) / self.unit) if self.scale == "log1p" else v

    @property
    def edges(self) -> np.ndarray:
        """(nbins + 1,) bin edges."""
        e = np.linspace(float(self._fwd(self.lo)), float(self._fwd(self.hi)), self.nbins + 1)
        return np.expm1(e) * self.unit if self.scale == "log1p" else e

    @property
    def width(self) -> float:
        """Narrowest bin width."""
        return float(np.min(np.diff(self.edges)))

    @property
    def centers(self) -> np.ndarray:
        """(nbins,) bin centres."""
        e = self.edges
        return (e[:-1] + e[1:]) / 2

    def index(self, values: np.ndarray) -> np.ndarray:
        """Bin index of each value (clipped into range).

        Examples
        --------
        >>> Histogram(0, 10, 10).index(np.array([-1.0, 0.5, 9.99, 42.0])).tolist()
        [0, 0, 9, 9]
        """
        if self.hi <= self.lo:
            return np.zeros(np.shape(values), dtype="int64")
        f0, f1 = float(self._fwd(self.lo)), float(self._fwd(self.hi))
        # in place on one copy; clipping to [0, nbins - 1] first makes the integer
        # cast (truncation) the floor
        if self.scale == "linear":
            # float32 input (reflectance) stays float32: its own precision, half the memory
            dt = "float32" if np.asarray(values).dtype == np.float32 else "float64"
            i = np.subtract(values, f0, dtype=dt)
        else:
            i = self._fwd(values)
            i -= f0
        i *= self.nbins / (f1 - f0)
        np.clip(i, 0, self.nbins - 1, out=i)
        return i.astype(np.int32)  # bincount is faster on int32 indices

    def counts(self, values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """(nbins,) float64 counts of the finite values (where ``where`` is True, if given).

        Counted in cache-sized chunks, so the temporaries stay small and hot.

        Examples
        --------
        >>> Histogram(0, 4, 4).counts(np.array([0.5, 1.5, 1.6, np.nan]))
        array([1., 2., 0., 0.])
        >>> Histogram(0, 4, 4).counts(np.array([0.5, 1.5, 1.6]), where=np.array([1, 0, 1], bool))
        array([1., 1., 0., 0.])
        """
        v = np.asarray(values)
        if where is not None:
            w = np.broadcast_to(np.asarray(where, bool), v.shape)
            if not w.all():
                v = v[w]
        v = v.ravel()
        total = np.zeros(self.nbins, np.int64)
        for s in range(0, v.size, _COUNT_CHUNK):
            c = v[s:s + _COUNT_CHUNK]
            fin = np.isfinite(c)
            if not fin.all():
                c = c[fin]
            total += np.bincount(self.index(c), minlength=self.nbins)
        return total.astype("float64")

    def quantile(self, counts: np.ndarray, q: float) -> float:
        """The ``q`` quantile (0-1) of the histogrammed values.

        Examples
        --------
        >>> Histogram(0, 10, 10).quantile(np.ones(10), 0.25)
        2.5
        """
        total = float(counts.sum())
        if total <= 0:
            raise DetectorError("cannot take a quantile of an empty histogram: no valid pixel")
        cum = np.concatenate([[0.0], np.cumsum(counts)]) / total
        return float(np.interp(q, cum, self.edges)) if self.hi > self.lo else self.lo
