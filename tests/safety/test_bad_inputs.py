"""A test for each case of the bad-input audit (issue 16). Each names the case: 2x internal
errors, 3x silent acceptance, 4x misleading messages, 6x logs and exit codes (case 1 is in
test_outdir_safety.py, case 5 and the client id in tests/imagery/test_network_hints.py).

Every bad input ends in one line that names the problem and the fix, with exit code 2 when
the command line itself is wrong and 1 otherwise; never the internal-error path."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click
import pytest
from safety_helpers import assert_clear_error, run_cli, snapshot

from sitewatch.cli.main import EXIT_CODES, cli

SAMPLE = "cupertino-apple-park"
WINDOWS = ["--before", "2015-06-01/2015-12-31", "--after", "2018-01-01/2018-06-30"]
#: Apple Park in the western hemisphere, inside the bundled sample.
WEST = "-122.0135,37.325,-122.0025,37.336"


def detect(*args: object):  # type: ignore[no-untyped-def]
    return run_cli(["detect", *args])


# -- 2: internal errors ----------------------------------------------------------------------
def test_2a_a_parameter_that_is_not_a_number(tmp_path: Path) -> None:
    r = detect(SAMPLE, *WINDOWS, "--method", "cva", "-p", "threshold=far", "-p", "far=abc",
               "--out", tmp_path / "o")
    assert_clear_error(r, 2, "far must be a number in (0, 1), got 'abc'")


def test_2b_a_run_setting_given_as_a_parameter(tmp_path: Path) -> None:
    r = detect(SAMPLE, *WINDOWS, "-p", "min_area_m2=-5", "--out", tmp_path / "o")
    assert_clear_error(r, 2, "min_area_m2 is not a detector parameter", "use --min-area")


@pytest.mark.parametrize("command", ["figure", "animate", "report", "timeline", "detect"])
def test_2c_min_area_nan(command: str, tmp_path: Path) -> None:
    args = [command, SAMPLE, "--min-area", "nan"]
    if command == "detect":
        args += WINDOWS
    r = run_cli([*args, "--out", tmp_path / "o"])
    assert r.exit_code == 2, r.output
    assert "Invalid value for '--min-area'" in r.stderr and "not a finite number" in r.stderr
    assert "internal error" not in r.output


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot write into (root ignores permission bits: /sys then)."""
    if os.geteuid() == 0:
        return Path("/sys/sitewatch-test-out")
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    return d / "out"


def test_2d_an_unwritable_out(tmp_path: Path) -> None:
    out = _unwritable(tmp_path)
    r = detect(SAMPLE, *WINDOWS, "--method", "cva", "--out", out)
    assert_clear_error(r, 1, f"cannot create the folder {out}", "choose a folder you can write")
    r = run_cli(["report", SAMPLE, "--out", out / "r.html"])
    assert_clear_error(r, 1, "cannot write", "choose a folder you can write")


@pytest.mark.parametrize("where", ["/proc/sitewatch-out", "/proc/self/sitewatch-out"])
def test_2e_out_and_report_under_proc(where: str) -> None:
    r = detect(SAMPLE, *WINDOWS, "--method", "cva", "--out", where)
    assert_clear_error(r, 1, where, "system folder")
    r = run_cli(["report", SAMPLE, "-o", f"{where}/report.html"])
    assert_clear_error(r, 1, "system folder")
    r = run_cli(["report", SAMPLE, "-o", "/proc"])  # a folder, not a file: a usage error
    assert r.exit_code == 2 and "'/proc' is a directory" in r.stderr


def test_2f_detect_with_the_local_source(tmp_path: Path) -> None:
    # detect reads a local folder given with --endpoint (tests/test_cli_grammar.py); without
    # it, the command says what is missing
    r = detect(SAMPLE, *WINDOWS, "--source", "local", "--out", tmp_path / "o")
    assert_clear_error(r, 2, "--source local needs the folder: --endpoint FOLDER")
    from sitewatch.errors import ConfigError
    from sitewatch.imagery.sources import get_source

    with pytest.raises(ConfigError, match="source 'local' needs path"):
        get_source("local")  # the Python API says what is missing, not a TypeError


# -- 3: silent acceptance ----------------------------------------------------------------------
def test_3a_a_parameter_the_detector_would_ignore(tmp_path: Path) -> None:
    r = detect(SAMPLE, *WINDOWS, "--method", "cva", "-p", "far=0.2", "--out", tmp_path / "o")
    assert_clear_error(r, 2, "far is used only when threshold is far",
                       "here threshold is 'bimodal'", "also set threshold=far")
    assert not (tmp_path / "o").exists()  # and never recorded as if applied


def test_3b_a_negative_minimum_area(tmp_path: Path) -> None:
    r = detect(SAMPLE, *WINDOWS, "--min-area", "-5", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "must be a number >= 0, got '-5'" in r.stderr, r.output
    from sitewatch.errors import ConfigError, ParameterError
    from sitewatch.pipeline.change import detect_change
    from sitewatch.pipeline.watchlist import parse_watchlist

    with pytest.raises(ParameterError, match="min_area_m2 must be a number >= 0"):
        detect_change(*_rasters(), method="cva", min_area_m2=-5)
    for bad in (-5, "nan", float("inf"), "many"):  # and in a watchlist, before any site runs
        with pytest.raises(ConfigError, match="site 1 .'park'.: min_area_m2 must be a number >= 0"):
            parse_watchlist({"defaults": {"source": "sample", "from": "2015-01-01",
                                          "to": "2018-12-31", "min_area_m2": bad},
                             "sites": [{"id": "park", "bbox": [-122.0135, 37.325, -122.0025,
                                                               37.336]}]})


def _rasters():  # type: ignore[no-untyped-def]
    from sitewatch.imagery.sources.sample import SampleSource

    src = SampleSource()
    scenes = src.search(src.site(), "2015-01-01", "2018-12-31")
    grid = src.native_grid(src.site())
    return [src.load(s, grid, ("B02", "B03", "B04", "B08")) for s in (scenes[0], scenes[-1])]


def _two_features(tmp_path: Path) -> Path:
    def feat(x: float) -> dict[str, object]:
        return {"type": "Feature", "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [[
                    [x, 37.325], [x + 0.004, 37.325], [x + 0.004, 37.329], [x, 37.325]]]}}

    p = tmp_path / "two.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection",
                             "features": [feat(-122.0135), feat(-122.006)]}))
    return p


def test_3c_a_feature_collection_of_two_sites(tmp_path: Path) -> None:
    path = _two_features(tmp_path)
    r = run_cli(["aoi", "show", path])
    assert_clear_error(r, 1, "holds 2 features", "use --merge", "sitewatch watch")
    r = detect(path, *WINDOWS, "--out", tmp_path / "o")
    assert_clear_error(r, 1, "use --merge")
    r = run_cli(["aoi", "show", path, "--merge"])
    assert r.exit_code == 0, r.output
    geom = json.loads(r.stdout)["geometry"]
    assert geom["type"] == "MultiPolygon" and len(geom["coordinates"]) == 2


def test_3d_a_one_metre_site() -> None:
    r = run_cli(["aoi", "show", "10.0,50.0,10.000014,50.000009"])
    assert_clear_error(r, 1, "the site is only about 1 m x", "draw at least 30 m x 30 m")


def test_3e_cache_clear_of_a_source_that_does_not_exist(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    r = run_cli(["cache", "clear", "--cache-dir", cache, "--source", "foo", "--yes"])
    assert_clear_error(r, 2, "--source 'foo' is not a source", "earth-search")
    r = run_cli(["cache", "clear", "--cache-dir", cache, "--source", "earth-search", "--yes"])
    assert r.exit_code == 0 and "removed 0 files" in r.stdout


# -- 4: misleading messages ----------------------------------------------------------------------
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_4ab_nan_and_infinity_in_geojson(token: str, tmp_path: Path) -> None:
    p = tmp_path / "site.geojson"
    p.write_text('{"type": "Polygon", "coordinates": [[[10, 50], [' + token
                 + ', 50], [10.01, 50.01], [10, 50]]]}')
    r = run_cli(["aoi", "show", p])
    line = assert_clear_error(r, 1, "must be finite numbers", "NaN or Infinity")
    assert "closed linestring" not in line and "projected" not in line


def test_4c_oscd_cities_without_labels(tmp_path: Path) -> None:
    images = tmp_path / "Onera Satellite Change Detection dataset - Images"
    for city in ("abudhabi", "beirut"):
        (images / city).mkdir(parents=True)
        (images / city / "dates.txt").write_text("date_1: 20160101\ndate_2: 20180101\n")
    r = run_cli(["evaluate", "oscd", tmp_path, "--out", tmp_path / "o"])
    line = assert_clear_error(r, 1, "none of the 2 OSCD cities", "has a change label",
                              "sitewatch timeline")
    assert "no OSCD city folders" not in line


def test_4d_a_reversed_window(tmp_path: Path) -> None:
    r = detect(SAMPLE, "--before", "2015-12-31/2015-06-01", "--after", "2018-01-01/2018-06-30",
               "--out", tmp_path / "o")
    assert r.exit_code == 2 and "ends before it starts" in r.stderr, r.output
    assert "2015-06-01/2015-12-31" in r.stderr and "widen" not in r.stderr


def test_4e_a_whole_world_box() -> None:
    r = run_cli(["aoi", "show", "-180,-90,180,90"])
    line = assert_clear_error(r, 1, "far too large")
    assert "antimeridian" not in line
    r = run_cli(["aoi", "show", "170,10,-170,11"])  # a box across 180° is said to be one
    assert_clear_error(r, 1, "antimeridian")


SITE_COMMANDS = [["aoi", "show"], ["detect", *WINDOWS], ["fetch", "--from", "2015-01-01",
                 "--to", "2018-12-31"], ["timeline", "--from", "2015-01-01", "--to",
                 "2018-12-31"], ["figure"], ["animate"], ["report"]]


@pytest.mark.parametrize("command", SITE_COMMANDS, ids=lambda c: c[0] if c[0] != "aoi" else
                         "aoi-show")
def test_4f_a_western_bbox_as_site_needs_no_dashes(command: list[str]) -> None:
    """Every command taking SITE reads -122.03,... as SITE, wherever it stands, while an
    option's own negative value stays the option's."""
    group = cli
    names = command[:2] if command[0] == "aoi" else command[:1]
    rest = command[len(names):]
    ctx = click.Context(cli)
    cmd: click.Command = group
    for n in names:
        cmd = cmd.get_command(ctx, n)  # type: ignore[attr-defined]
    for args in ([WEST, *rest], [*rest, WEST], [*rest, "--", WEST]):
        parsed = cmd.make_context(names[-1], list(args))
        assert parsed.params["site"] == WEST, args
    if "--min-area" in {o for p in cmd.params for o in getattr(p, "opts", [])}:
        with pytest.raises(click.BadParameter, match="must be a number >= 0"):
            cmd.make_context(names[-1], [WEST, *rest, "--min-area", "-5"])


def test_4f_a_western_bbox_end_to_end(tmp_path: Path) -> None:
    r = run_cli(["aoi", "show", WEST])
    assert r.exit_code == 0 and json.loads(r.stdout)["properties"]
    r = detect(WEST, *WINDOWS, "--method", "cva", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["results"]["regions"] > 0


# -- 6: exit codes and -q --------------------------------------------------------------------
def test_6_exit_codes_are_documented_in_help_and_readme() -> None:
    r = run_cli(["--help"])
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {' '.join(meaning.split())}" in text
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for code in EXIT_CODES:
        assert re.search(rf"^\|\s*`?{code}`?\s*\|", readme, re.M), f"exit code {code} in README"


def test_6_usage_and_partial_failure_have_their_own_codes(tmp_path: Path) -> None:
    assert run_cli(["detect", SAMPLE, "--nope"]).exit_code == 2  # usage (click)
    assert run_cli(["detect", SAMPLE, *WINDOWS, "-p", "x"]).exit_code == 2  # usage (ours)
    wl = tmp_path / "wl.json"
    base = {"source": "sample", "from": "2015-01-01", "to": "2018-12-31", "every": "year",
            "formats": []}
    wl.write_text(json.dumps({"defaults": base, "sites": [
        {"id": "park", "bbox": [-122.0135, 37.325, -122.0025, 37.336]},
        {"id": "elsewhere", "bbox": [10.0, 50.0, 10.01, 50.01]}]}))
    r = run_cli(["watch", wl, "--workers", "0", "--out", tmp_path / "w"])
    assert r.exit_code == 3, r.output  # partial: one site failed, the other finished
    assert (tmp_path / "w" / "park" / "change" / "summary.json").exists()


def test_6_quiet_silences_info_and_progress(tmp_path: Path) -> None:
    fetch = ["fetch", SAMPLE, "--source", "sample", "--from", "2015-01-01", "--to",
             "2018-12-31", "--every", "year", "--bands", "B04"]
    loud = run_cli(["-v", *fetch, "--out", tmp_path / "a"])
    normal = run_cli([*fetch, "--out", tmp_path / "b"])
    quiet = run_cli(["-q", *fetch, "--out", tmp_path / "c"])
    assert loud.exit_code == normal.exit_code == quiet.exit_code == 0, quiet.output
    assert "INFO" in loud.stderr
    # progress bars are drawn on a terminal only (tests/test_cli_grammar.py): none here
    assert "loading" not in normal.stderr
    assert "INFO" not in quiet.stderr and "loading" not in quiet.stderr
    assert quiet.stderr.strip() == ""
    assert quiet.stdout == normal.stdout.replace(str(tmp_path / "b"), str(tmp_path / "c"))


def test_nothing_outside_out_is_touched_by_a_failing_run(tmp_path: Path) -> None:
    around = tmp_path / "home"
    (around / "keep").mkdir(parents=True)
    (around / "keep" / "notes.txt").write_text("mine")
    snap = snapshot(around)
    r = detect(SAMPLE, "--before", "2010-01-01/2010-06-30", "--after", "2011-01-01/2011-06-30",
               "--out", around / "out")
    assert_clear_error(r, 1, "widen")
    assert snapshot(around) == snap  # not even the empty --out folder is left behind


@pytest.mark.parametrize("coords", [
    '{"type": "MultiPolygon", "coordinates": [[[[-122.0071, 37.325], [-122.0077, 37.3321], '
    '[-122.0089, 37.3306], [-122.0071, 37.325]]], [[]]]}',
    '{"type": "Polygon", "coordinates": [[[-122.0071, 37.325], [-122.0077, 37.3321], '
    '[-122.0089, 37.3306], [-122.0071, 37.325]], []]}'])
def test_empty_parts_of_a_geojson_are_dropped_not_a_crash(coords: str) -> None:
    """Found by the property suite: GEOS crashed (a segmentation fault) segmentizing a
    polygon with an empty ring; the empty parts have no area and are dropped."""
    r = run_cli(["aoi", "show", coords])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_a_local_source_given_a_file_not_a_folder(tmp_path: Path) -> None:
    f = tmp_path / "scene.txt"
    f.write_text("not a folder")
    r = run_cli(["fetch", SAMPLE, "--source", "local", "--endpoint", f, "--from", "2015-01-01",
                 "--to", "2018-12-31", "--out", tmp_path / "o"])
    assert_clear_error(r, 1, "source 'local' cannot use", "Not a directory", "--endpoint")


def test_a_degenerate_ring_is_not_said_to_cross_itself() -> None:
    r = run_cli(["aoi", "show", '{"type": "Polygon", "coordinates": [[[10, 50], [10, 50], '
                 '[10, 50], [10, 50]]]}'])
    line = assert_clear_error(r, 1, "three distinct corners")
    assert "edges cross" not in line
