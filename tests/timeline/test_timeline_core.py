"""Per-pixel histories on synthetic stacks with known first-change epochs."""

from __future__ import annotations

import numpy as np
import pytest
from timeline_helpers import ASPHALT, FIELD, SOIL, make_series

from sitewatch.detectors.timeline import (
    TimelineParams,
    estimate_noise_var,
    first_last_clear,
    pixel_history,
)
from sitewatch.errors import DataError

W1 = (slice(2, 8), slice(2, 8))
W2 = (slice(12, 18), slice(5, 15))
W3 = (slice(20, 26), slice(20, 28))


def params(s, **kw) -> TimelineParams:
    return TimelineParams(threshold=0.05, noise_var=estimate_noise_var(s.stack, s.valid), **kw)


def test_first_change_epochs_are_found_exactly():
    s = make_series(changes=[(W1, 3, ASPHALT), (W2, 6, SOIL), (W3, 9, ASPHALT)])
    h = pixel_history(s.stack, params(s), s.valid)
    assert (h.changed == (s.truth >= 0)).all()
    assert (h.first_epoch[s.truth >= 0] == s.truth[s.truth >= 0]).all()
    assert (h.last_unchanged[W1] == 2).all() and (h.last_unchanged[W3] == 8).all()
    assert (h.first_epoch[s.truth < 0] == -1).all()
    # the new state's mean spectrum is the asphalt's
    np.testing.assert_allclose(h.after_state[:, 4, 4], ASPHALT, atol=0.005)
    np.testing.assert_allclose(h.before_state[:, 4, 4], FIELD, atol=0.005)
    assert (h.confidence[W1] > 0.5).all() and (h.confidence[s.truth < 0] == 0).all()


def test_clouds_are_gaps_not_changes_and_widen_the_interval():
    s = make_series(changes=[(W1, 5, ASPHALT)],
                    clouds=[(W1, 5), (W1, 6), ((slice(0, 30), slice(20, 30)), 2),
                            ((slice(0, 30), slice(20, 30)), 3)])
    h = pixel_history(s.stack, params(s), s.valid)
    assert (h.changed == (s.truth >= 0)).all()          # a cloudy field is not a change
    assert (h.first_epoch[W1] == 7).all()              # first clear view of the new state
    assert (h.last_unchanged[W1] == 4).all()           # last clear view of the old one
    assert (h.clear_count[W1] == 10).all() and (h.clear_count[0, 0] == 12)


def test_one_epoch_transient_is_not_reported():
    # a missed cloud (bright haze) over a window for one epoch, mid-series and at the end
    s = make_series(transients=[(W2, 5, 0.25), (W3, 11, 0.25), (W1, 0, 0.25)])
    h = pixel_history(s.stack, params(s), s.valid)
    assert not h.changed.any()
    # the last epoch's haze is flagged as a possible change to confirm, not as a change
    assert h.pending[W3].all() and not h.pending[W2].any()


def test_transient_before_a_real_change_does_not_move_its_date():
    s = make_series(changes=[(W1, 7, ASPHALT)], transients=[(W1, 3, 0.3)])
    h = pixel_history(s.stack, params(s), s.valid)
    assert h.changed[W1].all() and (h.first_epoch[W1] == 7).all()
    assert not h.changed[s.truth < 0].any()


def test_persistence_is_configurable_in_days():
    # seen over the last two quarters (91 days): lasting for 60 days, not for 150 days,
    # unless a change this large may rest on what the series shows (at half confidence)
    s = make_series(changes=[(W2, 10, SOIL)])
    h1 = pixel_history(s.stack, params(s, persistence_days=60), s.valid)
    h2 = pixel_history(s.stack, params(s, persistence_days=150, large_factor=0), s.valid)
    h3 = pixel_history(s.stack, params(s, persistence_days=150), s.valid)
    assert h1.changed[W2].all() and (h1.first_epoch[W2] == 10).all()
    assert not h2.changed.any()
    assert h3.changed[W2].all() and h3.confidence[W2].max() <= 0.5 * h1.confidence[W2].min()


def test_a_pixel_that_returns_is_not_changed():
    # three epochs of water, then the field again for five: not a lasting change
    s = make_series(changes=[(W2, 4, SOIL)])
    s.stack[7:, :, W2[0], W2[1]] = make_series(seed=7).stack[7:, :, W2[0], W2[1]]
    h = pixel_history(s.stack, params(s), s.valid)
    assert not h.changed[W2].any()


def test_change_right_after_the_first_observation_is_large_and_less_sure():
    # one clear view of the old state: only a large change counts, at half confidence
    s = make_series(changes=[(W1, 1, ASPHALT)])
    assert not pixel_history(s.stack, params(s, large_factor=0), s.valid).changed.any()
    h = pixel_history(s.stack, params(s), s.valid)
    sure = pixel_history(s.stack, params(s, min_before=1), s.valid)
    assert h.changed[W1].all() and (h.first_epoch[W1] == 1).all()
    assert sure.changed[W1].all() and (sure.first_epoch[W1] == 1).all()
    assert h.confidence[W1].max() <= 0.5 * sure.confidence[W1].min() + 1e-6
    assert not h.changed[s.truth < 0].any()


def test_first_lasting_change_is_the_clearing_not_the_paving():
    s = make_series(changes=[(W2, 4, SOIL), (W2, 8, ASPHALT)])
    h = pixel_history(s.stack, params(s), s.valid)
    assert h.changed[W2].all()
    assert (h.first_epoch[W2] == 4).all()
    np.testing.assert_allclose(h.after_state[:, 14, 8], SOIL, atol=0.005)


def test_seasonal_swing_is_not_a_change():
    # a field whose NIR swings with the seasons (quarters) by 0.08 around its mean
    s = make_series(epochs=16)
    season = 0.08 * np.sin(2 * np.pi * np.arange(16) / 4)
    s.stack[:, 3, W2[0], W2[1]] += season[:, None, None].astype("float32")
    h = pixel_history(s.stack, params(s), s.valid)
    assert not h.changed.any()


def test_chunking_does_not_change_results():
    s = make_series(changes=[(W1, 3, ASPHALT), (W2, 6, SOIL)], transients=[(W3, 5, 0.3)],
                    clouds=[(W1, 3), (W2, 7)])
    p = params(s)
    a = pixel_history(s.stack, p, s.valid, chunk_pixels=100_000)
    b = pixel_history(s.stack, p, s.valid, chunk_pixels=7)
    for name in ("changed", "first_epoch", "last_unchanged", "n_before", "transients"):
        assert (getattr(a, name) == getattr(b, name)).all(), name
    np.testing.assert_allclose(a.magnitude, b.magnitude, rtol=1e-5, equal_nan=True)


def test_blocks_stitched_equal_the_whole_array():
    s = make_series(changes=[(W1, 3, ASPHALT), (W2, 6, SOIL)], transients=[(W3, 5, 0.3)],
                    clouds=[((slice(0, 30), slice(10, 20)), 4)])
    p = params(s)                         # fitted once for the whole site
    whole = pixel_history(s.stack, p, s.valid)
    first = np.full((30, 30), -9, "int16")
    changed = np.zeros((30, 30), bool)
    after = np.full((6, 30, 30), np.nan, "float32")
    for rows in (slice(0, 13), slice(13, 30)):
        for cols in (slice(0, 17), slice(17, 30)):
            h = pixel_history(s.stack[:, :, rows, cols], p, s.valid[:, rows, cols])
            first[rows, cols] = h.first_epoch
            changed[rows, cols] = h.changed
            after[:, rows, cols] = h.after_state
    assert (first == whole.first_epoch).all() and (changed == whole.changed).all()
    np.testing.assert_allclose(after, whole.after_state, rtol=1e-5, equal_nan=True)


def test_sequence_with_gap_epochs_equals_stack():
    s = make_series(changes=[(W1, 6, ASPHALT)])
    s.stack[4] = np.nan
    s.valid[4] = False
    layers = [None if t == 4 else s.stack[t] for t in range(s.stack.shape[0])]
    p = params(s)
    a = pixel_history(s.stack, p, s.valid)
    b = pixel_history(layers, p)
    assert (a.changed == b.changed).all() and (a.first_epoch == b.first_epoch).all()
    assert (b.clear_count == 11).all()


def test_first_last_clear_skips_clouds():
    s = make_series(changes=[(W1, 6, ASPHALT)], clouds=[(W1, 0), (W1, 11)])
    first, last = first_last_clear(s.stack, s.valid)
    np.testing.assert_allclose(first[:, 4, 4], s.stack[1, :, 4, 4])
    np.testing.assert_allclose(last[:, 4, 4], s.stack[10, :, 4, 4])


def test_noise_estimate_matches_the_noise():
    s = make_series(noise=0.01, changes=[(W1, 6, ASPHALT)])
    assert estimate_noise_var(s.stack, s.valid) == pytest.approx(6 * 0.01 ** 2, rel=0.15)


@pytest.mark.parametrize(("stack", "message"), [
    (np.zeros((2, 3, 4, 4)), "at least 3 epochs"),
    (np.zeros((5, 4, 4)), "(time, band, row, col)"),
    (np.full((4, 2, 3, 3), np.nan), "too few pairs of clear observations"),
])
def test_bad_stacks_are_refused_with_a_reason(stack, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        p = TimelineParams(threshold=0.1, noise_var=estimate_noise_var(stack))
        pixel_history(stack, p)


def test_mismatched_epochs_and_bad_params_are_refused():
    with pytest.raises(DataError, match="one shape"):
        pixel_history([np.zeros((2, 3, 3)), np.zeros((2, 4, 4)), np.zeros((2, 3, 3))],
                      TimelineParams(threshold=0.1, noise_var=0.0))
    with pytest.raises(DataError, match="positive"):
        TimelineParams(threshold=0.0, noise_var=0.0)
    with pytest.raises(DataError, match="valid mask"):
        pixel_history(np.zeros((3, 1, 2, 2)), TimelineParams(threshold=0.1, noise_var=0.0),
                      np.ones((3, 3, 3), bool))
