"""Watchlist files, per-site runs with completion markers, failures, --force (no dask here)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket

import pytest
from click.testing import CliRunner
from sitedata import site_folders_factory

from sitewatch.cli.main import cli
from sitewatch.errors import ConfigError
from sitewatch.imagery.io import read_raster, write_cog
from sitewatch.pipeline.sitejob import MARKER, run_watch_site
from sitewatch.pipeline.watchlist import parse_watchlist, read_watchlist
from sitewatch.pipeline.watchrun import LOCK_FILE, run_watchlist

BASE = {"source": "sample", "from": "2015-01-01", "to": "2018-12-31", "every": "year",
        "formats": []}
BOX = [-122.0135, 37.3250, -122.0025, 37.3360]


def test_yaml_watchlist_with_defaults_catalogue_site_and_relative_paths(tmp_path):
    (tmp_path / "imgs").mkdir()
    path = tmp_path / "wl.yaml"
    path.write_text(f"""
defaults:
  source: local
  source_options: {{path: imgs}}
  from: 2015-01-01        # YAML reads this as a date
  to: 2018-12-31
  every: year
sites:
  - id: park
    name: Apple Park
    bbox: {BOX}
    method: cva
    min_area_m2: 500
  - site: cupertino-apple-park
    source: sample
    source_options: {{}}
    every: quarter
""")
    wl = read_watchlist(path)
    park, cat = wl.sites
    assert (park.id, park.site.name, park.method, park.min_area_m2) == \
        ("park", "Apple Park", "cva", 500.0)
    assert park.source_options == {"path": str(tmp_path / "imgs")}
    assert (park.start, park.end, park.every) == ("2015-01-01", "2018-12-31", "year")
    assert (cat.id, cat.source, cat.every, cat.source_options) == \
        ("cupertino-apple-park", "sample", "quarter", {})
    assert cat.site.name.startswith("Apple Park")  # catalogue name kept
    assert wl.path == path


def test_geojson_watchlist(tmp_path):
    fc = {"type": "FeatureCollection", "defaults": BASE, "features": [
        {"type": "Feature", "properties": {"id": "drawn", "every": "month"},
         "geometry": {"type": "Polygon", "coordinates": [[[BOX[0], BOX[1]], [BOX[2], BOX[1]],
                                                          [BOX[2], BOX[3]], [BOX[0], BOX[3]],
                                                          [BOX[0], BOX[1]]]]}},
        {"type": "Feature", "properties": {"site": "cupertino-apple-park"}, "geometry": None}]}
    path = tmp_path / "wl.geojson"
    path.write_text(json.dumps(fc))
    drawn, cat = read_watchlist(path).sites
    assert drawn.id == "drawn" and drawn.every == "month" and drawn.source == "sample"
    assert drawn.site.geometry.bounds == pytest.approx(BOX)
    assert cat.id == "cupertino-apple-park"


@pytest.mark.parametrize("sites, defaults, message", [
    ([{"id": "a", "bbox": BOX, "form": "2020-01-01"}], BASE, "unknown key 'form' (did you mean "
                                                            "'from'?)"),
    ([{"id": "a", "bbox": BOX}, {"id": "a", "bbox": BOX}], BASE, "sites 1 and 2 share the id"),
    ([{"id": "a", "bbox": BOX}], {"source": "sample", "to": "2018-12-31"}, "no 'from'"),
    ([{"id": "a", "bbox": BOX, "every": "week"}], BASE, "every 'week' is not one of"),
    ([{"id": "A B", "bbox": BOX}], BASE, "must be a lower-case slug"),
    ([{"id": "a", "bbox": BOX[:3]}], BASE, "bbox needs four numbers"),
    ([{"id": "a", "bbox": BOX, "site": "cupertino-apple-park"}], BASE, "give one of site, bbox"),
    ([{"id": "a"}], BASE, "no geometry"),
    ([{"id": "a", "bbox": [37.32, -122.01, 37.33, -122.0]}], BASE, "latitude -122.01"),
    ([{"id": "a", "bbox": BOX, "from": "2019-01-01"}], BASE, "is after to"),
    ([{"id": "a", "bbox": BOX, "formats": ["gif"]}], BASE, "formats must be a list of"),
    ([{"site": "new-yalu-bridge"}], BASE, "Did you mean new-yalu-river-bridge"),
    ([], BASE, "has no site"),
])
def test_watchlist_mistakes_are_named_with_their_fix(sites, defaults, message):
    with pytest.raises(ConfigError, match="^watchlist") as err:
        parse_watchlist({"defaults": defaults, "sites": sites})
    assert message in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such watchlist"):
        read_watchlist(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_watchlist(bad)
    bad = tmp_path / "bad.geojson"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_watchlist(bad)


def test_site_run_writes_outputs_and_marker_and_is_redone_when_settings_change(tmp_path):
    wl = parse_watchlist({"defaults": {**BASE, "formats": ["png"]},
                          "sites": [{"id": "park", "bbox": BOX}]})
    spec = wl.sites[0]
    first = run_watch_site(spec, tmp_path)
    assert first.status == "done" and first.regions > 0 and first.changed_area_m2 > 0
    assert first.dates == ["2015-09-18", "2018-03-26"]
    folder = tmp_path / "park"
    for name in ("change_mask.tif", "change_magnitude.tif", "changes.geojson",
                 "before_after.png", "summary.json"):
        assert (folder / "change" / name).is_file(), name
    mask = read_raster(folder / "change" / "change_mask.tif")
    assert mask.provenance.scene_ids  # traceable to the scenes
    marker = json.loads((folder / MARKER).read_text())
    assert marker["fingerprint"] == spec.fingerprint()
    assert marker["outcome"]["regions"] == first.regions
    assert not any((tmp_path / ".work").iterdir())  # nothing left half-built
    # same settings: skipped; new dates: redone; --force: redone
    assert run_watch_site(spec, tmp_path).status == "skipped"
    later = parse_watchlist({"defaults": {**BASE, "formats": ["png"], "from": "2015-06-01"},
                             "sites": [{"id": "park", "bbox": BOX}]}).sites[0]
    assert later.fingerprint() != spec.fingerprint()
    assert run_watch_site(later, tmp_path).status == "done"
    assert run_watch_site(later, tmp_path, force=True).status == "done"
    assert json.loads((folder / MARKER).read_text())["fingerprint"] == later.fingerprint()


def test_one_failing_site_does_not_stop_the_others(tmp_path):
    wl = parse_watchlist({"defaults": BASE, "sites": [
        {"id": "nodata", "bbox": BOX, "source": "local",
         "source_options": {"path": str(tmp_path / "none")}},
        {"id": "park", "bbox": BOX},
        {"id": "too-few-epochs", "bbox": BOX, "from": "2016-01-01"},
    ]})
    seen = []
    report = run_watchlist(wl, tmp_path / "out", workers=0, on_outcome=seen.append)
    status = {o.id: o for o in report.outcomes}
    assert [o.id for o in seen] == ["nodata", "park", "too-few-epochs"]
    assert status["park"].status == "done"
    assert status["nodata"].status == "failed" and "no such folder" in status["nodata"].message
    assert status["too-few-epochs"].status == "failed"
    assert "change needs two" in status["too-few-epochs"].message
    assert not (tmp_path / "out" / "nodata").exists()
    summary = json.loads((tmp_path / "out" / "watch_summary.json").read_text())
    assert summary["counts"] == {"done": 1, "skipped": 0, "failed": 2}
    csv_text = (tmp_path / "out" / "watch_summary.csv").read_text()
    assert csv_text.splitlines()[0].startswith("id,status")
    assert "no such folder" in report.table()
    # a second run retries the failed sites only
    again = run_watchlist(wl, tmp_path / "out", workers=0)
    assert [o.status for o in again.outcomes] == ["failed", "skipped", "failed"]


def test_cli_serial_run_table_and_exit_codes(tmp_path):
    path = tmp_path / "wl.json"
    path.write_text(json.dumps({"defaults": BASE, "sites": [{"id": "park", "bbox": BOX}]}))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["watch", str(path), "--workers", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].split()[:3] == ["site", "status", "epochs"]
    assert "park" in r.stdout and "done" in r.stdout and "1 done" in r.stderr
    r = CliRunner().invoke(cli, ["watch", str(path), "--workers", "0", "--out", str(out)])
    assert r.exit_code == 0 and "skipped" in r.stdout and "0 done, 1 skipped" in r.stderr
    path.write_text(json.dumps({"defaults": BASE, "sites": [
        {"id": "park", "bbox": BOX}, {"id": "x", "bbox": BOX, "method": "nonesuch"}]}))
    r = CliRunner().invoke(cli, ["watch", str(path), "--workers", "0", "--out", str(out)])
    assert r.exit_code == 3 and "unknown detector 'nonesuch'" in r.stdout  # partial failure
    r = CliRunner().invoke(cli, ["watch", str(path), "--scheduler", "tcp://127.0.0.1:1",
                                 "--workers", "2"])
    assert r.exit_code == 2 and "give one or the other" in r.output
    r = CliRunner().invoke(cli, ["watch", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 1 and r.stderr.startswith("error: no such watchlist file")


def test_a_live_run_locks_the_output_folder(tmp_path):
    wl = parse_watchlist({"defaults": BASE, "sites": [{"id": "park", "bbox": BOX}]})
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with pytest.raises(ConfigError, match="in use by another watch run"):
        run_watchlist(wl, out, workers=0)
    # a lock left by a process that is gone is taken over
    (out / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    assert run_watchlist(wl, out, workers=0).counts()["done"] == 1
    assert not (out / LOCK_FILE).exists()


def test_site_with_several_epochs_gets_a_timeline(tmp_path):
    data = site_folders_factory(tmp_path)(1, size=128)
    folder = data["root"] / "data" / "site0"
    first, last = sorted(folder.glob("*.tif"))
    # four epochs: the before scene seen again in 2016, the after scene already in 2017
    for src, day in ((first, "2016-06-01"), (last, "2017-06-01")):
        r = read_raster(src)
        write_cog(dataclasses.replace(r, dates=(day,)), folder / f"site0_{day}.tif",
                  overviews=False)
    spec = read_watchlist(data["path"]).sites[0]
    outcome = run_watch_site(spec, tmp_path / "out")
    assert outcome.status == "done", outcome.message
    assert outcome.epochs_used == 4 and outcome.events is not None and outcome.events > 0
    tl = tmp_path / "out" / "site0" / "timeline"
    for name in ("progress.csv", "events.geojson", "first_change_date.tif"):
        assert (tl / name).is_file(), name
    events = json.loads((tl / "events.geojson").read_text())["features"]
    assert len(events) == outcome.events
    # the change happened between 2016 and 2017: that is when the events are dated
    assert {e["properties"]["window_start"][:4] for e in events} <= {"2016", "2017"}
