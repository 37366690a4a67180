"""Accuracy of a binary change map against a reference: counts and scores.

Scores pool counts first: for several images, sum TP/FP/FN/TN over all
pixels, then compute the scores (the OSCD convention).

Examples
--------
>>> import numpy as np
>>> pred = np.array([[1, 1, 0, 0]], bool); truth = np.array([[1, 0, 1, 0]], bool)
>>> c = confusion(pred, truth)
>>> c
Confusion(tp=1, fp=1, fn=1, tn=1)
>>> scores(c)["f1"], scores(c)["kappa"]
(0.5, 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sitewatch.errors import DataError

__all__ = ["Confusion", "confusion", "scores", "pooled"]


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of a binary comparison."""

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
                         self.tn + other.tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def confusion(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> Confusion:
    """Counts of a predicted change mask against a reference mask (inside ``valid``).

    Examples
    --------
    >>> confusion(np.array([True, False]), np.array([True, True]), np.array([True, False]))
    Confusion(tp=1, fp=0, fn=0, tn=0)
    """
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise DataError(f"prediction {p.shape} and reference {t.shape} differ in shape: "
                        "score them on one grid")
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        p, t = p[v], t[v]
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    tn = int(p.size - tp - fp - fn)
    return Confusion(tp, fp, fn, tn)


def _div(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def scores(c: Confusion) -> dict[str, float]:
    """Precision, recall, F1, IoU, false-positive rate of the change class; overall
    accuracy; Cohen's kappa.

    Examples
    --------
    >>> s = scores(Confusion(tp=8, fp=2, fn=2, tn=88))
    >>> s["f1"], s["iou"], s["fpr"]
    (0.8, 0.666667, 0.022222)
    """
    n = c.total
    precision = _div(c.tp, c.tp + c.fp)
    recall = _div(c.tp, c.tp + c.fn)
    f1 = _div(2 * c.tp, 2 * c.tp + c.fp + c.fn)
    oa = _div(c.tp + c.tn, n)
    pe = _div((c.tp + c.fp) * (c.tp + c.fn) + (c.fn + c.tn) * (c.fp + c.tn), n * n)
    kappa = _div(oa - pe, 1 - pe) if pe < 1 else 0.0
    return {"precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6),
            "iou": round(_div(c.tp, c.tp + c.fp + c.fn), 6),
            "fpr": round(_div(c.fp, c.fp + c.tn), 6), "overall_accuracy": round(oa, 6),
            "kappa": round(kappa, 6), "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn}


def pooled(confusions: Iterable[Confusion]) -> Confusion:
    """Sum of several confusion counts (pool before scoring).

    Examples
    --------
    >>> pooled([Confusion(1, 2, 3, 4), Confusion(1, 0, 0, 0)])
    Confusion(tp=2, fp=2, fn=3, tn=4)
    """
    total = Confusion(0, 0, 0, 0)
    for c in confusions:
        total = total + c
    return total
