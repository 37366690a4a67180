"""Thresholds, calibration, IR-MAD, normalisation and the SAR tests on synthetic pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sitewatch.detectors import get_detector
from sitewatch.detectors.irmad import IRMADDetector
from sitewatch.detectors.normalize import normalize_radiometry
from sitewatch.detectors.sar import omnibus_pvalue
from sitewatch.detectors.thresholds import (
    fit_null,
    stat_histogram,
    threshold_kittler,
    threshold_otsu,
)


@pytest.mark.parametrize("name", ["cva", "irmad"])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_all_no_change_pair_flags_about_alpha(name, alpha, noise_pair):
    before, after = noise_pair(bands=4, size=150, seed=11)
    cm = get_detector(name)(before, after, threshold="far", far=alpha)
    flagged = cm.mask.mean()
    assert alpha / 2 <= flagged <= alpha * 2, flagged
    # the probability is low where nothing changed
    assert np.nanmedian(cm.probability) < 0.05


def test_far_caps_the_flagged_share():
    """The empirical cut flags the requested share of the scene, whatever the statistic."""
    rng = np.random.default_rng(12)
    b = rng.uniform(0.05, 0.3, (4, 100, 100)).astype("float32")
    a = (b + rng.standard_t(2, b.shape).astype("float32") * 0.01).astype("float32")  # heavy
    cm = get_detector("cva")(b, a, threshold="far", far=0.02)
    assert cm.mask.mean() == pytest.approx(0.02, abs=0.002)


def test_null_fit_ignores_contamination_above_the_bulk():
    rng = np.random.default_rng(4)
    s = np.concatenate([rng.chisquare(6, 95_000), rng.uniform(30, 80, 5_000)])
    nf = fit_null(*stat_histogram(s))
    assert nf.threshold(0.01) == pytest.approx(stats.chi2(6).isf(0.01), rel=0.03)
    assert nf.pi0 == pytest.approx(0.95, abs=0.01)


def test_otsu_and_kittler_split_two_modes():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(1, 0.3, 20_000), rng.normal(4, 0.6, 2_000)])
    for t in (threshold_otsu(x), threshold_kittler(x)):
        assert 1.8 < t < 3.2


def test_irmad_ignores_a_linear_per_band_radiometric_shift(noise_pair):
    before, _ = noise_pair(bands=6, size=120, seed=3)
    rng = np.random.default_rng(9)
    gain = rng.uniform(0.6, 1.5, (6, 1, 1)).astype("float32")
    offset = rng.uniform(-0.05, 0.08, (6, 1, 1)).astype("float32")
    after = before * gain + offset + rng.normal(0, 0.004, before.shape).astype("float32")
    after[:, 40:60, 40:60] = before[::-1, 40:60, 40:60] * 1.8  # a real spectral change
    cm = IRMADDetector(far=0.05).run(before, after)
    assert cm.mask[40:60, 40:60].mean() > 0.95
    outside = np.ones(cm.mask.shape, bool)
    outside[40:60, 40:60] = False
    # the shift leaves the no-change statistic small: the change stands above its 99th centile
    q99 = np.percentile(cm.magnitude[outside], 99)
    assert (cm.magnitude[40:60, 40:60] > q99).mean() > 0.95
    # plain CVA is fooled by the shift; CVA on the IR-MAD-normalised after image is not
    cva = get_detector("cva")
    assert cva(before, after, threshold=0.05).mask[outside].mean() > 0.5
    assert cva(before, after, threshold=0.05, normalize=True).mask[outside].mean() < 0.03


def test_irmad_is_stable_with_collinear_bands(noise_pair):
    """Ten bands, four of them exact copies: the covariance is singular without the ridge."""
    before, after = noise_pair(bands=6, size=80, seed=2)
    before = np.concatenate([before, before[:4]])
    after = np.concatenate([after, after[:4]])
    after[:, :10, :10] += 0.3
    cm = IRMADDetector(far=0.05).run(before, after)
    assert cm.params["irmad"]["iterations"] >= 1
    assert np.isfinite(cm.magnitude).all()
    assert cm.mask[:10, :10].all()


def test_irmad_weights_do_not_collapse_on_a_seasonal_mixture():
    """Six cover types, each with its own per-band seasonal gain: no single linear relation
    fits, the MADs' chi-square is wider than the null, and Nielsen's weights ``P(chi2 > Z)``
    concentrate on a few pixels (bercy and bordeaux of OSCD collapsed like this). The
    median-rescaled chi-square keeps about half the scene weighted."""
    rng = np.random.default_rng(7)
    p, n, k = 10, 120, 6
    cover = rng.integers(0, k, (n, n))
    means = rng.uniform(0.03, 0.4, (k, p))
    gains = rng.uniform(0.5, 1.6, (k, p))
    before = (means[cover].transpose(2, 0, 1) * rng.lognormal(0, 0.15, (p, n, n)))
    after = before * gains[cover].transpose(2, 0, 1) + rng.normal(0, 0.005, (p, n, n))
    before, after = before.astype("float32"), after.astype("float32")
    plain = IRMADDetector(robust_scale=False).run(before, after).params["irmad"]
    robust = IRMADDetector().run(before, after).params["irmad"]
    assert plain["effective_pixels"] < 0.1 * n * n  # the failure mode is real here
    assert robust["converged"] and not robust["weights_collapsed"]
    assert robust["effective_pixels"] > 0.3 * n * n
    assert robust["chi2_scale"] > 1.2


def test_normalisation_recovers_gain_and_offset():
    rng = np.random.default_rng(6)
    before = rng.uniform(0.02, 0.4, (3, 60, 60)).astype("float32")
    after = 0.8 * before + 0.02
    after[:, :15, :15] = 0.7
    norm, rep = normalize_radiometry(before, after)
    assert rep["slope"] == pytest.approx([1.25] * 3, rel=1e-3)
    assert np.abs(norm - before)[:, 20:, 20:].max() < 1e-3


def test_omnibus_pvalues_are_uniform_without_change():
    """k = 3 dates with the right ENL: the chi-square approximation holds."""
    rng = np.random.default_rng(8)
    enl = 10.0
    x = rng.gamma(enl, 0.05 / enl, (3, 200, 200))
    p = omnibus_pvalue(x, enl)
    assert (p < 0.05).mean() == pytest.approx(0.05, abs=0.008)
    assert (p < 0.01).mean() == pytest.approx(0.01, abs=0.004)
