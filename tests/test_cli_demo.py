"""The CLI skeleton and the offline demo, through click's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from click.testing import CliRunner

from sitewatch import __version__
from sitewatch.cli.main import cli
from sitewatch.imagery.io import read_raster


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help():
    r = run("--version")
    assert r.exit_code == 0 and __version__ in r.output
    r = run("--help")
    assert "aoi" in r.output and "demo" in r.output


def test_aoi_list_shows_every_site_with_its_source():
    r = run("aoi", "list")
    assert r.exit_code == 0
    from sitewatch.aoi import list_sites

    for s in list_sites():
        assert s.id in r.output
        assert s.sources[0]["title"] in r.output


def test_aoi_show_prints_geojson_on_stdout():
    r = run("aoi", "show", "sinuiju-customs", "--grid")
    feat = json.loads(r.stdout)
    assert feat["type"] == "Feature" and feat["properties"]["country"] == "KP"
    assert feat["properties"]["grid"]["crs"] == "EPSG:32651"


def test_user_error_is_one_line_with_exit_code_1():
    r = CliRunner().invoke(cli, ["aoi", "show", "40.03,124.36,40.04,124.38"])
    assert r.exit_code == 1
    assert r.stderr.strip().startswith("error: latitude 124.36")
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1


def test_verbose_shows_the_traceback():
    r = CliRunner().invoke(cli, ["-v", "aoi", "show", "40.03,124.36,40.04,124.38"])
    assert r.exit_code == 1 and "Traceback" in r.stderr


def test_demo_writes_every_output(tmp_path):
    out = tmp_path / "demo"
    r = run("demo", "--out", str(out))
    assert r.exit_code == 0, r.output
    for name in ("change_mask.tif", "change_magnitude.tif", "changes.geojson",
                 "before_after.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    assert "F1" in r.stdout and "Contains modified Copernicus Sentinel data 2015, 2018" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["before"]["dates"] == ["2015-09-18"]
    assert summary["after"]["scene_ids"] == ["T10SEG_20180326T185011"]
    assert summary["attribution"] == "Contains modified Copernicus Sentinel data 2015, 2018"
    assert summary["metrics"]["f1"] > 0.4
    mask = read_raster(out / "change_mask.tif")
    assert mask.provenance.scene_ids == tuple(summary["before"]["scene_ids"] +
                                              summary["after"]["scene_ids"])
    changed = (mask.data[0] == 1)
    area = float((np.broadcast_to(mask.pixel_area_m2(), changed.shape) * changed).sum())
    assert area == summary["results"]["changed_area_m2"] or \
        abs(area - summary["results"]["changed_area_m2"]) < 1
    fc = json.loads((out / "changes.geojson").read_text())
    assert len(fc["features"]) == summary["results"]["regions"]
    total = sum(f["properties"]["area_m2"] for f in fc["features"])
    assert abs(total - area) / area < 0.001
    assert fc["properties"]["attribution"].startswith("Contains modified Copernicus")
    # a second run into the same folder needs --overwrite
    r2 = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    assert r2.exit_code == 1 and "--overwrite" in r2.stderr
    assert run("demo", "--out", str(out), "--overwrite").exit_code == 0


def test_import_is_light():
    code = ("import sys, sitewatch, sitewatch.aoi, sitewatch.detectors, sitewatch.pipeline; "
            "bad = [m for m in ('matplotlib', 'sentinelhub', 'pystac_client') "
            "if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
