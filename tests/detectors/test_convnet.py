"""The numpy network: Siamese-difference variant (shared encoder, |after - before| features)."""

from __future__ import annotations

import numpy as np

from sitewatch.detectors.convnet import Arch, forward, random_weights
from sitewatch.detectors.learned import model_inputs, tiled_logits

ARCH = Arch(widths=(4, 8, 8), enc_convs=(1, 1, 1), siamese=True)


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    before, after = rng.random((2, 3, 37, 53)).astype("float32")
    return before, after, random_weights(ARCH, 3, rng)


def test_siamese_arch_round_trips_through_metadata():
    assert Arch.from_meta(ARCH.to_meta()) == ARCH
    assert not Arch.from_meta({"widths": [4, 8], "enc_convs": [1, 1]}).siamese


def test_siamese_logits_ignore_the_order_of_the_dates():
    before, after, w = _pair()
    s = (np.zeros(3), np.ones(3))
    one = forward(w, model_inputs(before, after, s, s, siamese=True), ARCH)
    other = forward(w, model_inputs(after, before, s, s, siamese=True), ARCH)
    assert one.shape == (37, 53)
    np.testing.assert_allclose(one, other, atol=1e-5)


def test_siamese_sees_no_difference_in_an_unchanged_pair():
    # identical dates: every difference feature is 0, so the logit is the same everywhere
    before, _, w = _pair(1)
    s = (np.zeros(3), np.ones(3))
    logit = forward(w, model_inputs(before, before, s, s, siamese=True), ARCH)
    assert np.ptp(logit) < 1e-5
    changed = before.copy()
    changed[:, 10:20, 10:20] += 1.0
    logit2 = forward(w, model_inputs(before, changed, s, s, siamese=True), ARCH)
    assert np.abs(logit2 - logit)[12:18, 12:18].min() > 0


def test_siamese_tiled_inference_equals_one_evaluation():
    before, after, w = _pair(2)
    s = (np.zeros(3), np.ones(3))
    whole = forward(w, model_inputs(before, after, s, s, siamese=True), ARCH)
    tiled = tiled_logits(before, after, s, s, w, ARCH, tile=8)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
