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
    either = s.cloudy | s.shadow
    assert either.mean() == pytest.approx(0.3, abs=0.06)
    assert s.shadow.mean() > 0.05 and not (s.shadow & s.cloudy).any()
    assert 0 < s.missed_cloud.mean() <= either.mean() * 0.5
    assert not (s.missed_cloud & ~either).any()
    masked = either & ~s.missed_cloud
    assert not s.valid[masked].any() and s.valid[s.missed_cloud].all()
    assert np.isnan(s.stack.transpose(1, 0, 2, 3)[:, masked]).all()
    assert np.isfinite(s.stack.transpose(1, 0, 2, 3)[:, s.valid]).all()
    assert np.isfinite(s.scenes).all()          # the files hold the clouds, not gaps


def test_clouds_are_bright_and_shadows_dark_in_the_pixels(pair):
    before, after, label = pair
    s = semisynthetic_series(before, after, label, epochs=12, cloud_share=0.4,
                             missed_cloud_share=0.0, jitter_px=0.0, seed=5)
    clean = semisynthetic_series(before, after, label, epochs=12, cloud_share=0.0,
                                 missed_cloud_share=0.0, jitter_px=0.0, seed=5)
    diff = s.scenes - clean.scenes
    cloud = diff.transpose(1, 0, 2, 3)[:, s.cloudy]
    shade = diff.transpose(1, 0, 2, 3)[:, s.shadow]
    assert np.median(cloud, axis=1).min() > 0.05       # brighter in every band
    assert np.median(shade, axis=1).max() < 0          # darker in every band
    clear = ~(s.cloudy | s.shadow)
    np.testing.assert_allclose(s.scenes.transpose(1, 0, 2, 3)[:, clear],
                               clean.scenes.transpose(1, 0, 2, 3)[:, clear], atol=0.02)


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
