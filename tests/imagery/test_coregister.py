"""Sub-pixel co-registration of epochs: corrected and reported, never silent beyond the limit."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from conftest import FAST_HTTP  # imagery's conftest: imported at collection, as in test_sources
from scipy import ndimage

from sitewatch.errors import RegistrationError, RegistrationWarning
from sitewatch.imagery.coregister import apply_shift, coregister_epochs, estimate_shift
from sitewatch.imagery.epochs import Epoch, EpochWindow
from sitewatch.raster import Provenance, Raster


def _scene(shift: tuple[float, float] = (0.0, 0.0), seed: int = 3, size: int = 120
           ) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = ndimage.gaussian_filter(rng.normal(size=(size + 40, size + 40)), 2.5)
    moved = ndimage.shift(base, shift, order=3, mode="nearest")
    return moved[20:-20, 20:-20].astype("float32")


def _epoch(label: str, img: np.ndarray, count: int = 3) -> Epoch:
    r = Raster(np.stack([img, img * 2]), Affine(10, 0, 600000, 0, -10, 4400000), "EPSG:32651",
               band_names=("B04", "B08"), dates=("2020-01-01",),
               provenance=Provenance("test", (f"S_{label}",)))
    return Epoch(EpochWindow(label, "2020-01-01", "2020-03-31"), r,
                 np.full(img.shape, count, "uint16"))


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.5, -0.3), (1.2, 0.0), (-1.7, 2.1)])
def test_estimate_recovers_known_shifts(shift: tuple[float, float]) -> None:
    s = estimate_shift(_scene(), _scene(shift))
    assert s.rows == pytest.approx(-shift[0], abs=0.1)
    assert s.cols == pytest.approx(-shift[1], abs=0.1)


def test_estimate_is_robust_to_a_new_building_and_nans() -> None:
    ref = _scene()
    mov = _scene((1.2, -0.8))
    mov[40:60, 50:75] += 3.0           # something new was built
    mov[:10, :] = np.nan               # and a strip has no data
    s = estimate_shift(ref, mov)
    assert (s.rows, s.cols) == (pytest.approx(-1.2, abs=0.15), pytest.approx(0.8, abs=0.15))


def test_too_few_valid_pixels_is_an_error() -> None:
    mov = _scene()
    mov[:100] = np.nan
    with pytest.raises(RegistrationError, match="too cloudy to co-register"):
        estimate_shift(_scene(), mov)


def test_corrected_epochs_match_the_reference() -> None:
    eps = [_epoch("A", _scene(), count=5), _epoch("B", _scene((1.4, -0.9)))]
    coregister_epochs(eps)
    info = eps[1].flags["coregistration"]
    assert eps[0].flags["coregistration"]["status"] == "reference"
    assert info["status"] == "corrected" and info["reference"] == "A" and info["band"] == "B08"
    assert info["shift_m"] == pytest.approx(np.hypot(14, 9), abs=1.5)
    inner = (slice(5, -5), slice(5, -5))
    before = np.abs(_scene((1.4, -0.9)) - _scene())[inner].mean()
    after = np.abs(eps[1].raster.band("B04") - eps[0].raster.band("B04"))[inner].mean()
    assert after < before / 4
    assert eps[1].raster.provenance.processing["coregistration"]["shift_px"] > 1.5


def test_shift_beyond_the_limit_is_flagged_not_applied() -> None:
    eps = [_epoch("A", _scene(), count=5), _epoch("B", _scene((4.0, 0.0)))]
    original = eps[1].raster.data.copy()
    with pytest.warns(RegistrationWarning, match="beyond the limit of 3 px"):
        coregister_epochs(eps, max_shift_px=3.0)
    assert eps[1].flags["coregistration"]["status"] == "exceeds limit"
    np.testing.assert_array_equal(eps[1].raster.data, original)


def test_shift_beyond_the_limit_can_stop_the_run() -> None:
    eps = [_epoch("A", _scene(), count=5), _epoch("B", _scene((4.0, 0.0)))]
    with pytest.raises(RegistrationError, match="raise --max-shift"):
        coregister_epochs(eps, max_shift_px=3.0, on_excess="error")


def test_reference_choice_and_gaps() -> None:
    gap = Epoch(EpochWindow("G", "2020-04-01", "2020-06-30"), None, np.zeros((120, 120), "uint16"))
    eps = [_epoch("A", _scene(), count=1), gap, _epoch("B", _scene((0.6, 0)), count=9)]
    coregister_epochs(eps)
    assert eps[2].flags["coregistration"]["status"] == "reference"  # most clear observations
    assert eps[1].flags["coregistration"]["status"] == "gap"
    with pytest.raises(RegistrationError, match="not among the epochs"):
        coregister_epochs(eps, reference="G")


def test_apply_shift_marks_pixels_from_outside_as_missing() -> None:
    r = _epoch("A", _scene()).raster
    out = apply_shift(r, estimate_shift(_scene(), _scene((2.0, 0.0))))
    assert np.isnan(out.data[:, -2:, :]).all() or np.isnan(out.data[:, :2, :]).all()


@pytest.mark.network
@pytest.mark.parametrize(("shift_m", "status"), [((15.0, -8.0), "corrected"),
                                                 ((45.0, 0.0), "exceeds limit")])
def test_shifted_scenes_in_a_fetch(shift_m: tuple[float, float], status: str,
                                   fake_server, tmp_path, test_site) -> None:  # type: ignore[no-untyped-def]
    """Scenes with a pre-GRI geolocation error: found, corrected and reported in a fetch."""
    from fakes.world import SceneSpec, WorldSpec, build_world

    from sitewatch.imagery.sources import get_source
    from sitewatch.pipeline.fetch import run_fetch

    build_world(tmp_path / "w", WorldSpec([
        SceneSpec("2021-06-01"), SceneSpec("2021-06-11", platform="sentinel-2b"),
        SceneSpec("2022-06-01", shift_m=shift_m),
        SceneSpec("2022-06-11", platform="sentinel-2b", shift_m=shift_m)]),
        variants=("raw",))
    fake_server.reset(tmp_path / "w")
    src = get_source("earth-search", url=fake_server.earth_search_url, http=FAST_HTTP,
                     collections=["sentinel-2-c1-l2a"])
    with pytest.warns(RegistrationWarning) if status != "corrected" else _no_warning():
        res = run_fetch(test_site, "2021-01-01", "2022-12-31", "year", source=src,
                        max_shift_px=3.0)
    a, b = res.epochs
    info = b.flags["coregistration"]
    assert a.flags["coregistration"]["status"] == "reference"
    assert info["status"] == status
    assert info["shift_m"] == pytest.approx(np.hypot(*shift_m), abs=2.0)
    if status == "corrected":
        assert info["shift_cols_px"] == pytest.approx(-shift_m[0] / 10, abs=0.15)
        assert info["shift_rows_px"] == pytest.approx(shift_m[1] / 10, abs=0.15)
        inner = (slice(10, -10), slice(10, -10))
        diff = np.abs(a.raster.band("B08") - b.raster.band("B08"))[inner]
        assert np.nanmedian(diff) < 0.01  # aligned: the same fields again


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None
