"""The "bimodal" cut: the higher of Otsu's and Kittler-Illingworth's, on the same histogram."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.detectors import get_detector
from sitewatch.errors import DetectorError


def _cuts(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    return {t: float(get_detector("cva")(before, after, threshold=t).threshold)
            for t in ("otsu", "kittler", "bimodal")}


def test_bimodal_is_the_higher_cut_and_spares_an_unchanged_pair(noise_pair):
    before, after = noise_pair(bands=4, size=150, seed=11)
    cuts = _cuts(before, after)
    assert cuts["bimodal"] == pytest.approx(max(cuts["otsu"], cuts["kittler"]))
    # one mode only: Otsu splits it and flags a large share; the higher cut flags little
    flagged = {t: get_detector("cva")(before, after, threshold=t).mask.mean() for t in cuts}
    assert flagged["bimodal"] <= min(flagged["otsu"], flagged["kittler"])
    assert flagged["otsu"] > 0.1 and flagged["bimodal"] < 0.05


def test_bimodal_finds_a_large_change(noise_pair):
    before, after = noise_pair(bands=4, size=150, seed=3)
    after = after.copy()
    after[:, 30:90, 30:110] += np.float32(0.15)  # 21 % of the pair changed
    cm = get_detector("cva")(before, after, threshold="bimodal")
    truth = np.zeros(cm.mask.shape, bool)
    truth[30:90, 30:110] = True
    assert cm.mask[truth].mean() > 0.95
    assert cm.mask[~truth].mean() < 0.02


def test_unknown_threshold_rule_names_the_choices():
    with pytest.raises(DetectorError, match="bimodal"):
        get_detector("cva").create(threshold="biomodal")
