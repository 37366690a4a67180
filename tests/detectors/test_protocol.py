"""The fit/apply protocol: block by block gives the in-memory answer, for every detector."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors import get_detector
from sitewatch.detectors.base import Detector
from sitewatch.detectors.partial import Histogram, Partial, merge_partials
from sitewatch.errors import DetectorError


def run_blockwise(det: Detector, before: np.ndarray, after: np.ndarray, block: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A reference block runner: fit over blocks, apply with halo, crop, stitch."""
    _, m, n = before.shape
    step = max(block - block % det.block_align, det.block_align)
    offs = [(r, c) for r in range(0, m, step) for c in range(0, n, step)]

    def blocks():
        for r, c in offs:
            yield before[:, r:r + step, c:c + step], after[:, r:r + step, c:c + step], None

    state = det.fit(blocks)
    mask = np.zeros((m, n), bool)
    stat = np.full((m, n), np.nan, "float32")
    h = det.halo
    for r, c in offs:
        r0, c0 = max(r - h, 0), max(c - h, 0)
        r1, c1 = min(r + step + h, m), min(c + step + h, n)
        cm = det.apply(state, before[:, r0:r1, c0:c1], after[:, r0:r1, c0:c1])
        sl = (slice(r - r0, r - r0 + min(step, m - r)), slice(c - c0, c - c0 + min(step, n - c)))
        mask[r:r + step, c:c + step] = cm.mask[sl]
        stat[r:r + step, c:c + step] = cm.magnitude[sl]
    return mask, stat


@pytest.mark.parametrize("name", ["cva", "indices", "irmad", "pcakmeans", "cnn"])
def test_blockwise_equals_in_memory(name, sample_pair):
    before, after, _ = sample_pair
    b, a = before.data[:, :96, :100], after.data[:, :96, :100]  # small enough for both paths
    info = get_detector(name)
    det = info.create(band_names=S2_LAND_BANDS)
    whole = det.run(b, a)
    mask, stat = run_blockwise(det, b, a, block=40)
    assert np.array_equal(mask, whole.mask)
    np.testing.assert_allclose(stat, whole.magnitude, rtol=1e-5, atol=1e-6)


def test_s1_detectors_blockwise():
    rng = np.random.default_rng(3)
    i1 = rng.gamma(5, 0.02, (1, 60, 60)).astype("float32")
    i2 = rng.gamma(5, 0.02, (1, 60, 60)).astype("float32")
    i2[:, 10:20, 10:20] *= 10
    for name in ("s1-logratio", "s1-omnibus"):
        det = get_detector(name).create(band_names=("VV",), far=0.05)
        whole = det.run(i1, i2)
        mask, _ = run_blockwise(det, i1, i2, block=25)
        assert np.array_equal(mask, whole.mask), name
        assert whole.mask[10:20, 10:20].mean() > 0.7


def test_partials_merge_in_any_order():
    rng = np.random.default_rng(0)
    x = rng.gamma(2, 1, 1000)
    h = Histogram(0, 1e3, 512, scale="log1p")
    parts = [Partial.of(sums={"h": h.counts(p)}, maxs={"m": p.max()}) for p in np.split(x, 4)]
    a = merge_partials(parts)
    b = merge_partials(parts[::-1])
    assert a is not None and b is not None
    assert np.array_equal(a.sums["h"], b.sums["h"]) and float(a.maxs["m"]) == x.max()
    with pytest.raises(DetectorError, match="different passes"):
        parts[0].merge(Partial.of(sums={"other": 1}))


def test_unknown_parameter_is_a_clear_error():
    with pytest.raises(DetectorError, match=r"cva has no parameter 'farr' \(did you mean "
                                            r"far\?\): its parameters are threshold, far"):
        get_detector("cva").create(farr=0.1)
    with pytest.raises(DetectorError, match=r"irmad: far must be a number in \(0, 1\), got 2"):
        get_detector("irmad").create(far=2)
