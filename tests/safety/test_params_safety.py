"""One validation layer for detector parameters and command-line numbers (issue 16, Deliver 2).

Every detector declares its parameters (type, range or choices, finite, default, help, when
they apply) on its class; the same check runs for the in-memory path, the block runners, the
``-p KEY=VALUE`` strings and the Python API. A parameter a detector would not use is an
error, and summary.json records the parameters in effect.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safety_helpers import (
    BANDS,
    assert_clear_error,
    run_cli,
    tiny_pair_fixture,  # noqa: F401 (the tiny_pair fixture)
)

from sitewatch.detectors.base import Detector
from sitewatch.detectors.params import Param, check_params
from sitewatch.detectors.registry import available_detectors, get_detector
from sitewatch.errors import DetectorError, ParameterError
from sitewatch.pipeline.blockwise import detect_change_arrays, detect_change_files


def _pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    b = rng.normal(0.2, 0.01, (4, 40, 40)).astype("float32")
    a = b + rng.normal(0, 0.01, b.shape).astype("float32")
    a[:, 5:15, 5:15] += 0.2
    return b, a


@pytest.mark.parametrize("name", available_detectors())
def test_every_detector_declares_its_parameters(name: str) -> None:
    info = get_detector(name)
    assert info.parameters, f"{name} declares no parameter"
    for p in info.parameters:
        assert p.help, f"{name}.{p.name} has no help line"
        assert p.coerce(p.default) == p.default or p.default is None  # defaults are valid
    assert info.defaults() == {p.name: p.default for p in info.parameters}
    r = run_cli(["detectors", name])
    assert r.exit_code == 0 and "Parameters (pass with -p KEY=VALUE)" in r.stdout
    for p in info.parameters:
        assert f"{p.name} = {p.default!r}  ({p.describe()}" in r.stdout


BAD = [  # (params, what the message must say)
    ({"far": "abc"}, "far must be a number in (0, 1), got 'abc'"),
    ({"threshold": "far", "far": float("nan")}, "far must be a number in (0, 1), got nan"),
    ({"threshold": "far", "far": 1.5}, "far must be a number in (0, 1), got 1.5"),
    ({"threshold": "median"}, "threshold must be a number >= 0 or one of far, otsu"),
    ({"threshold": -1}, "threshold must be a number >= 0"),
    ({"normalize": "maybe"}, "normalize must be true or false"),
    ({"bulk": float("inf")}, "not a finite number"),
    ({"null_family": "normal"}, "null_family must be one of empirical, gamma, lognorm"),
    ({"far": 0.2}, "far is used only when threshold is far (here threshold is 'bimodal')"),
    ({"farr": 0.2}, "cva has no parameter 'farr' (did you mean far?)"),
]


@pytest.mark.parametrize(("params", "message"), BAD)
def test_the_same_check_on_every_path(params: dict[str, object], message: str,
                                      tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """In memory, block by block (arrays and files), the Python API, and -p strings: one
    layer, one message, before any pixel is read."""
    b, a = _pair()
    info = get_detector("cva")
    paths = {
        "in memory": lambda: info(b, a, **params),
        "detector object": lambda: info.create(**params),
        "blocks of arrays": lambda: detect_change_arrays(b, a, method="cva", **params),
        "blocks of files": lambda: detect_change_files(*tiny_pair, tmp_path / "o",
                                                       method="cva", **params),
    }
    for where, call in paths.items():
        with pytest.raises(ParameterError) as err:
            call()
        assert message in str(err.value), where
        assert isinstance(err.value, DetectorError)  # `except DetectorError` still catches it
    assert not (tmp_path / "o").exists()  # refused before any output
    items = [f"{k}={v}" for k, v in params.items()]
    r = run_cli(["detect-files", *tiny_pair, "--method", "cva", "--out", tmp_path / "cli",
                 *[x for i in items for x in ("-p", i)]])
    assert_clear_error(r, 2, message.split(" got ")[0].split(" (here")[0])
    assert not (tmp_path / "cli").exists()


def test_strings_from_the_command_line_get_the_declared_types() -> None:
    info = get_detector("pcakmeans")
    assert info.check_params({"block": "7", "variance": "0.8", "normalize": "yes"}) == {
        "block": 7, "variance": 0.8, "max_iter": 30, "normalize": True}
    with pytest.raises(ParameterError, match="block must be a whole number in .2, 15., got "
                                             "'5.5'"):
        info.check_params({"block": "5.5"})
    cnn = get_detector("cnn")
    assert cnn.check_params({"threshold": "none"})["threshold"] is None  # the model's own
    with pytest.raises(ParameterError, match=r"threshold must be a number in \(0, 1\) or none"):
        cnn.check_params({"threshold": "2"})
    irmad = get_detector("irmad")
    assert irmad.check_params({"threshold": "chi2", "far": "1e-3"})["far"] == 0.001
    with pytest.raises(ParameterError, match="max_iter must be a whole number"):
        irmad.check_params({"max_iter": "0"})
    with pytest.raises(ParameterError, match="enl must be a number > 0"):
        get_detector("s1-omnibus").check_params({"enl": "0"})


def test_a_new_detector_declares_once_and_is_checked_everywhere() -> None:
    """How the lead's new detectors plug in: a tuple of Param on the class, nothing else."""

    class Toy(Detector):
        parameters = (Param("window", 5, "Window in pixels.", kind=int, low=3, high=31),
                      Param("mode", "fast", "Speed.", kind=str, choices=("fast", "exact")),
                      Param("tol", 0.1, "Tolerance in exact mode.", low=0, low_open=True,
                            applies={"mode": ("exact",)}))

    assert Toy(window="9").params == {"window": 9, "mode": "fast", "tol": 0.1}
    assert Toy(mode="exact", tol=0.5).applied_params() == {"window": 5, "mode": "exact",
                                                          "tol": 0.5}
    assert Toy().applied_params() == {"window": 5, "mode": "fast"}  # tol not in effect
    for bad, msg in (({"window": 2}, "window must be a whole number in [3, 31]"),
                     ({"tol": 0.5}, "tol is used only when mode is exact"),
                     ({"mode": "slow"}, "mode must be one of fast, exact")):
        with pytest.raises(ParameterError, match=msg.replace("[", r"\[").replace("]", r"\]")):
            Toy(**bad)


def test_cli_numbers_use_the_same_layer(tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """--min-area nan / -5 / inf / abc: a usage error naming the option, nothing written."""
    for value, why in (("nan", "not a finite number"), ("-5", "must be a number >= 0"),
                       ("inf", "not a finite number"), ("abc", "got 'abc'")):
        r = run_cli(["detect-files", *tiny_pair, "--out", tmp_path / "o", "--min-area", value])
        assert r.exit_code == 2 and "Invalid value for '--min-area'" in r.stderr, r.output
        assert why in r.stderr and "internal error" not in r.output
    assert not (tmp_path / "o").exists()
    with pytest.raises(ParameterError):
        check_params((Param("x", 1.0, low=0),), {"x": "-0.5"})


def test_run_settings_given_as_detector_parameters_say_which_option(
        tiny_pair: tuple[Path, Path], tmp_path: Path) -> None:
    r = run_cli(["detect-files", *tiny_pair, "--out", tmp_path / "o", "-p", "min_area_m2=-5"])
    assert_clear_error(r, 2, "min_area_m2 is not a detector parameter", "--min-area")
    r = run_cli(["detect-files", *tiny_pair, "--method", "cva", "--out", tmp_path / "o",
                 "-p", "threshold=far", "-p", "threshold=otsu"])
    assert_clear_error(r, 2, "-p threshold is given twice")
    r = run_cli(["detect-files", *tiny_pair, "--out", tmp_path / "o", "-p", "far"])
    assert_clear_error(r, 2, "use KEY=VALUE")


def test_summary_records_the_parameters_in_effect(tiny_pair: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    r = run_cli(["detect-files", *tiny_pair, "--method", "cva", "--out", tmp_path / "a"])
    assert r.exit_code == 0, r.output
    params = json.loads((tmp_path / "a" / "summary.json").read_text())["detector"]["params"]
    assert params["threshold"] == "bimodal" and "far" not in params  # far was not applied
    assert {"bulk", "null_family", "normalize", "threshold_value"} <= set(params)
    r = run_cli(["detect-files", *tiny_pair, "--method", "cva", "--out", tmp_path / "b",
                 "-p", "threshold=far", "-p", "far=0.2"])
    assert r.exit_code == 0, r.output
    params = json.loads((tmp_path / "b" / "summary.json").read_text())["detector"]["params"]
    assert params["threshold"] == "far" and params["far"] == 0.2


def test_the_in_memory_result_records_the_same(tmp_path: Path) -> None:
    from affine import Affine

    from sitewatch.pipeline.change import detect_change
    from sitewatch.raster import Raster

    b, a = _pair()
    t = Affine(10, 0, 500000, 0, -10, 4000000)
    rb = Raster(b, t, "EPSG:32651", band_names=BANDS, dates=("2020-01-01",))
    ra = Raster(a, t, "EPSG:32651", band_names=BANDS, dates=("2021-01-01",))
    res = detect_change(rb, ra, method="cva", threshold="otsu")
    assert res.summary()["detector"]["params"]["threshold"] == "otsu"
    assert "far" not in res.summary()["detector"]["params"]
    with pytest.raises(ParameterError, match="far is used only when threshold"):
        detect_change(rb, ra, method="cva", threshold="otsu", far=0.3)
    # the default detector falling back to cva would not apply fused's parameters: an error
    with pytest.raises(DetectorError, match="the parameters given .delineate. are fused's"):
        detect_change(rb, ra, delineate=False)
