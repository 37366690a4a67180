"""The semi-synthetic generator: its output is a ground truth, so check that it is one."""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.detectors.timeline_synth import cloud_masks, semisynthetic_series
from sitewatch.errors import DataError


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    before = rng.uniform(0.05, 0.3, (4, 80, 90)).astype("float32")
    after = before + rng.normal(0, 0.01, before.shape).astype("float32")
    label = np.zeros((80, 90), bool)
    label[5:15, 5:20] = label[40:60, 50:70] = label[70:75, 10:12] = True
    after[:, label] += 0.25
    return before, after, label


def test_each_region_switches_once_at_its_recorded_epoch(pair):
    before, after, label = pair
    s = semisynthetic_series(before, after, label, epochs=10, cloud_share=0.0, jitter_px=0.0,
                             noise_scale=0.0, seasonal_amplitude=0.0, seed=2)
    assert s.params["regions"] == 3
    assert ((s.truth_epoch >= 1) & (s.truth_epoch <= 9))[label].all()
    assert (s.truth_epoch[~label] == -1).all()
    k = int(s.truth_epoch[10, 10])
    # before its epoch a region shows date 1, from it on date 2 (up to the small seasonal jitter)
    np.testing.assert_allclose(s.stack[k - 1][:, 10, 10], before[:, 10, 10], rtol=0.05)
    np.testing.assert_allclose(s.stack[k][:, 10, 10], after[:, 10, 10], rtol=0.05)
    assert (s.truth_epoch[5:15, 5:20] == k).all()


def test_clouds_cover_the_asked_share_and_missed_ones_stay_valid(pair):
    before, after, label = pair
    s = semisynthetic_series(before, after, label, epochs=12, cloud_share=0.3,
                             missed_cloud_share=0.2, seed=4)
    assert s.cloudy.mean() == pytest.approx(0.3, abs=0.02)
    assert 0 < s.missed_cloud.mean() <= 0.3 * 0.2 + 1e-9
    masked = s.cloudy & ~s.missed_cloud
    assert not s.valid[masked].any() and s.valid[s.missed_cloud].all()
    assert np.isnan(s.stack.transpose(1, 0, 2, 3)[:, masked]).all()
    assert np.isfinite(s.stack.transpose(1, 0, 2, 3)[:, s.valid]).all()


def test_the_generator_is_seeded(pair):
    before, after, label = pair
    a = semisynthetic_series(before, after, label, epochs=6, seed=9)
    b = semisynthetic_series(before, after, label, epochs=6, seed=9)
    c = semisynthetic_series(before, after, label, epochs=6, seed=10)
    np.testing.assert_array_equal(a.stack, b.stack)
    assert not np.array_equal(a.truth_epoch, c.truth_epoch) or \
        not np.array_equal(np.isnan(a.stack), np.isnan(c.stack))


def test_cloud_masks_mean_cover():
    m = cloud_masks((30, 60, 60), 0.25, np.random.default_rng(0))
    assert m.mean() == pytest.approx(0.25, abs=0.01)
    assert not cloud_masks((3, 10, 10), 0.0, np.random.default_rng(0)).any()


def test_bad_inputs_are_refused(pair):
    before, after, label = pair
    with pytest.raises(DataError, match="one grid"):
        semisynthetic_series(before, after[:, :10], label)
    with pytest.raises(DataError, match="at least 3 epochs"):
        semisynthetic_series(before, after, label, epochs=2)
