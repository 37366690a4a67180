"""`sitewatch timeline` through click's CliRunner: sample, local folders, fetch outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from timeline_helpers import ASPHALT, BANDS, CRS, TRANSFORM, make_series

from sitewatch.cli.main import cli
from sitewatch.geometry import reproject_geometry
from sitewatch.imagery.io import write_cog
from sitewatch.raster import Provenance, Raster


def invoke(args: list[str]) -> object:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_timeline_on_the_bundled_sample(tmp_path: Path):
    out = tmp_path / "tl"
    r = invoke(["timeline", "cupertino-apple-park", "--from", "2015-07-01", "--to",
                "2018-06-30", "--every", "year", "--bands", "B02,B03,B04,B08,B11,B12",
                "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "2016      gap" in r.output and "note: only 2 clear epoch(s)" in r.output
    assert "Between 2015 and 2018" in r.output
    assert "Contains modified Copernicus Sentinel data 2015, 2018" in r.output
    summ = json.loads((out / "summary.json").read_text())
    assert summ["results"]["changed_area_m2"] > 100_000        # Apple Park was being built
    assert summ["epochs"][0]["scene_ids"] and summ["epochs"][1]["gap"]
    again = invoke(["timeline", "cupertino-apple-park", "--from", "2015-07-01", "--to",
                    "2018-06-30", "--out", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output


@pytest.fixture
def local_folder(tmp_path: Path) -> tuple[Path, str]:
    """Eight quarterly dated GeoTIFFs with a new road from the fifth."""
    s = make_series(8, (30, 30), changes=[((slice(4, 10), slice(3, 27)), 4, ASPHALT)])
    folder = tmp_path / "scenes"
    months = ["02", "05", "08", "11"]
    for t in range(8):
        day = f"{2020 + t // 4}-{months[t % 4]}-15"
        write_cog(Raster(s.stack[t], TRANSFORM, CRS, band_names=BANDS, dates=(day,),
                         provenance=Provenance("test", (f"S2TEST_{day}",))),
                  folder / f"site_{day}.tif")
    minx, maxy = TRANSFORM.c, TRANSFORM.f
    from shapely.geometry import box
    g = reproject_geometry(box(minx, maxy - 300, minx + 300, maxy), CRS, "EPSG:4326")
    bbox = ",".join(f"{v:.6f}" for v in g.buffer(-1e-5).bounds)
    return folder, bbox


def test_timeline_on_a_local_folder(tmp_path: Path, local_folder):
    folder, bbox = local_folder
    out = tmp_path / "tl"
    r = invoke(["timeline", bbox, "--from", "2020-01-01", "--to", "2021-12-31",
                "--source", "local", "--endpoint", str(folder), "--bands", ",".join(BANDS),
                "--no-coregister", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Between 2020-Q4 and 2021-Q1, 14,400 m² of" in r.output
    ev = json.loads((out / "events.geojson").read_text())
    assert ev["features"][0]["properties"]["scene_ids"] == ["S2TEST_2021-02-15",
                                                            "S2TEST_2020-11-15"]
    assert (out / "progress.png").stat().st_size > 10_000


def test_a_six_band_folder_needs_no_bands_option_and_reports_its_screening(
        tmp_path: Path, local_folder):
    # the default bands of a local folder are the bands its files hold (the help says so)
    folder, bbox = local_folder
    out = tmp_path / "tl"
    r = invoke(["timeline", bbox, "--from", "2020-01-01", "--to", "2021-12-31",
                "--source", "local", "--endpoint", str(folder), "--no-coregister",
                "--out", str(out)])
    assert r.exit_code == 0, r.output
    summ = json.loads((out / "summary.json").read_text())
    assert summ["bands"] == list(BANDS)
    assert "0% cloud, 0% shadow screened from the pixels" in r.output
    assert all(e["screening"]["method"] == "pixels" for e in summ["epochs"])
    assert summ["params"]["persistence_days"] == 60


def test_timeline_from_a_fetch_output_folder(tmp_path: Path, local_folder):
    folder, bbox = local_folder
    fetched = tmp_path / "fetched"
    r = invoke(["fetch", bbox, "--from", "2020-01-01", "--to", "2021-12-31", "--source",
                "local", "--endpoint", str(folder), "--bands", ",".join(BANDS),
                "--no-coregister", "--no-cache", "--out", str(fetched)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "tl"
    r = invoke(["timeline", "--epochs", str(fetched), "--no-figure", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "epochs from" in r.output and "14,400 m²" in r.output
    assert not (out / "progress.png").exists()
    summ = json.loads((out / "summary.json").read_text())
    assert summ["site"]["id"].startswith("bbox")


@pytest.mark.parametrize(("args", "message", "code"), [
    (["timeline"], "give SITE (or --epochs FOLDER", 2),
    (["timeline", "cupertino-apple-park", "--from", "2015-01-01", "--to", "2018-12-31",
      "--source", "local"], "--source local needs the folder", 2),
    (["timeline", "cupertino-apple-park", "--from", "2015-01-01", "--to", "2018-12-31",
      "--every", "fortnight"], "--every 'fortnight'", 2),
    (["timeline", "--epochs", "/nonexistent/folder"], "holds no epochs.json", 1),
    (["timeline", "--epochs", "/nonexistent/folder", "--from", "2020-01-01"],
     "--from would not be used", 2),
])
def test_user_errors_get_one_line(tmp_path: Path, args: list[str], message: str, code: int):
    r = invoke([*args, "--out", str(tmp_path / "o")])
    assert r.exit_code == code, r.output  # 2: the command line is wrong; 1: the input is
    assert message in r.output and "Traceback" not in r.output
