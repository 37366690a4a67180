"""Epoch composites (median / best), gaps, and the fetch output folder round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sitewatch.errors import ConfigError, DataError, NoSceneError
from sitewatch.imagery.epochs import build_epochs, load_epochs, save_epochs
from sitewatch.imagery.sources import get_source


@pytest.fixture
def sample_epochs():  # type: ignore[no-untyped-def]
    src = get_source("sample")
    return build_epochs(src, src.site(), "2015-01-01", "2018-12-31", "year",
                        bands=["B03", "B04", "B08"])


def test_save_and_load_round_trip(sample_epochs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = save_epochs(sample_epochs, tmp_path, source="sample")
    manifest = json.loads(path.read_text())
    assert manifest["format"] == "sitewatch-epochs/1"
    assert manifest["attribution"] == "Contains modified Copernicus Sentinel data 2015, 2018"
    by_label = {e["label"]: e for e in manifest["epochs"]}
    assert by_label["2016"]["gap"] and "gap" in by_label["2016"]["flags"]
    assert by_label["2015"]["file"] == "2015.tif"
    assert (tmp_path / "2015_clear_count.tif").is_file()
    back = load_epochs(tmp_path)
    assert [e.label for e in back] == [e.label for e in sample_epochs]
    for a, b in zip(sample_epochs, back, strict=True):
        assert a.is_gap == b.is_gap and a.scene_ids == b.scene_ids
        np.testing.assert_array_equal(a.clear_count, b.clear_count)
        if a.raster is not None:
            np.testing.assert_array_equal(a.raster.data, b.raster.data)
            assert b.raster.provenance.scene_ids == a.raster.provenance.scene_ids
            assert b.raster.band_names == ("B03", "B04", "B08")


def test_explicit_windows_and_best_scene() -> None:
    src = get_source("sample")
    eps = build_epochs(src, src.site(), "2015-01-01", "2018-12-31",
                       [("2015-09-01", "2015-09-30"), ("2018-01-01", "2018-06-30")],
                       bands=["B04"], composite="best")
    assert [e.label for e in eps] == ["2015-09-01/2015-09-30", "2018-01-01/2018-06-30"]
    assert all(e.composite == "best" and len(e.scenes) == 1 for e in eps)
    assert eps[0].raster is not None
    assert eps[0].raster.provenance.processing["composite"] == "clearest single scene"


def test_bad_options_and_no_scene() -> None:
    src = get_source("sample")
    with pytest.raises(ConfigError, match="unknown composite"):
        build_epochs(src, src.site(), "2015-01-01", "2018-12-31", "year", composite="mean")
    with pytest.raises(NoSceneError, match="widen the dates"):
        build_epochs(src, src.site(), "2016-01-01", "2016-12-31", "year")


def test_load_epochs_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no epochs.json"):
        load_epochs(tmp_path)
    (tmp_path / "epochs.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a sitewatch epochs manifest"):
        load_epochs(tmp_path)
