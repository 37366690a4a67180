"""run_timeline on Epoch objects, and every output file it writes."""

from __future__ import annotations

import csv
import json

import pytest
import rasterio
from shapely.geometry import box
from timeline_helpers import ASPHALT, SOIL, make_epochs, make_series

from sitewatch.aoi import Site
from sitewatch.errors import DataError, DetectorError
from sitewatch.geometry import reproject_geometry
from sitewatch.imagery.io import read_raster
from sitewatch.pipeline.timeline import run_timeline
from sitewatch.pipeline.timeline_outputs import write_timeline_outputs

ROAD = (slice(4, 10), slice(3, 27))      # 6 x 24 px = 14,400 m²
YARD = (slice(16, 26), slice(4, 14))     # 10 x 10 px = 10,000 m²


@pytest.fixture
def run():
    # 40 x 40 px: changes cover 15% of the site (the detector's threshold assumes most of
    # a site does not change)
    s = make_series(12, (40, 40), changes=[(ROAD, 5, ASPHALT), (YARD, 8, SOIL)],
                    clouds=[((slice(0, 40), slice(0, 12)), 5), (YARD, 9)],
                    transients=[((slice(12, 15), slice(18, 28)), 3, 0.3)])
    eps = make_epochs(s.stack, start="2020-01-01", gaps=(10,))
    return run_timeline(eps), eps


def test_timeline_finds_the_road_and_the_yard_with_their_windows(run):
    res, eps = run
    recs = res.event_records()
    assert len(recs) == 2
    road = next(r for r in recs if r["first_seen_changed"] == "2021-Q2")
    yard = next(r for r in recs if r["first_seen_changed"] == "2022-Q1")
    # the road's west half was cloudy in 2021-Q2: its neighbours date it
    assert road["last_seen_unchanged"] == "2021-Q1" and road["area_m2"] == pytest.approx(
        14_400, rel=0.01)
    assert yard["last_seen_unchanged"] == "2021-Q4" and yard["area_m2"] == pytest.approx(
        10_000, rel=0.01)
    assert road["sentence"].startswith("Between 2021-Q1 and 2021-Q2, 14,400 m² of ")
    assert set(road["scene_ids"]) == {eps[5].scene_ids[0], eps[4].scene_ids[0]}
    assert res.changed_area_m2 == pytest.approx(24_400, rel=0.01)
    assert not res.changed[12:15, 18:28].any()            # the transient haze
    assert res.params["persistence_days"] == 60 and res.params["min_before"] == 2


def test_progress_table_adds_up(run):
    res, _ = run
    rows = res.progress_rows()
    assert len(rows) == 12 * 8
    alls = [r for r in rows if r["change_type"] == "all"]
    assert [r["epoch"] for r in alls][:3] == ["2020-Q1", "2020-Q2", "2020-Q3"]
    assert sum(r["new_m2"] for r in alls) == pytest.approx(res.changed_area_m2, rel=1e-6)
    assert alls[-1]["cumulative_m2"] == pytest.approx(res.changed_area_m2, rel=1e-6)
    assert alls[-1]["cumulative_share"] == pytest.approx(res.changed_area_m2 / 160_000,
                                                         rel=1e-3)
    # cloudy 2021-Q2 (west half) leaves the road's date uncertain there: low < high
    q = next(r for r in alls if r["epoch"] == "2021-Q2")
    assert q["new_low_m2"] < q["new_m2"] <= q["new_high_m2"]
    assert q["clear_share"] == pytest.approx(0.7, abs=0.01)
    gap = next(r for r in alls if r["epoch"] == "2022-Q3")
    assert gap["clear_share"] == 0 and gap["scenes"] == 0 and gap["new_m2"] == 0
    for r in rows:
        assert r["cumulative_low_m2"] <= r["cumulative_m2"] + 0.1 <= r["cumulative_high_m2"] + 0.2


def test_outputs_are_written_with_provenance(run, tmp_path):
    res, eps = run
    paths = write_timeline_outputs(res, tmp_path, command=["sitewatch", "timeline", "test"])
    assert set(paths) == {"progress_csv", "progress_json", "events", "first_change",
                          "first_change_date", "chart", "summary"}
    with open(paths["progress_csv"]) as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["attribution"] == "Contains modified Copernicus Sentinel data 2020-2022"
    assert rows[0]["scene_ids"] == eps[0].scene_ids[0]
    prog = json.loads(paths["progress_json"].read_text())
    assert prog["columns"]["new_low_m2"].startswith("area that certainly changed")
    ev = json.loads(paths["events"].read_text())
    assert len(ev["features"]) == 2 and ev["properties"]["epochs"][0]["scene_ids"]
    assert ev["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    fc = json.loads(paths["first_change"].read_text())
    assert [f["properties"]["epoch"] for f in fc["features"]] == ["2021-Q2", "2022-Q1"]
    r = read_raster(paths["first_change_date"])
    assert r.band_names == ("first_change", "last_unchanged", "epoch", "change_type",
                            "confidence")
    assert int(r.band("first_change")[5, 10]) == 20210401
    assert int(r.band("last_unchanged")[5, 10]) == 20210101
    assert int(r.band("epoch")[20, 8]) == 9 and int(r.band("first_change")[0, 0]) == 0
    assert 0 < int(r.band("confidence")[5, 10]) <= 100
    assert r.provenance.scene_ids and r.attrs["epochs"][5]["label"] == "2021-Q2"
    with rasterio.open(paths["first_change_date"]) as src:
        assert src.overviews(1) == []       # no cubic overviews of dates
    summ = json.loads(paths["summary"].read_text())
    assert summ["command"] == ["sitewatch", "timeline", "test"]
    assert summ["results"]["events"] == 2 and summ["attribution"].startswith("Contains")
    assert [e["scene_ids"] for e in summ["epochs"]][10] == []


def test_site_outline_limits_the_timeline():
    s = make_series(12, (40, 40), changes=[(ROAD, 5, ASPHALT), (YARD, 8, SOIL)])
    eps = make_epochs(s.stack)
    # a site covering only the top of the grid (the road, not the yard)
    geom = reproject_geometry(box(616000, 4431500 - 150, 616400, 4431500), "EPSG:32651",
                              "EPSG:4326")
    res = run_timeline(eps, site=Site("top", "Top", geom))
    assert res.changed[ROAD].all() and not res.changed[YARD].any()
    assert res.site_area_m2 == pytest.approx(15 * 40 * 100, rel=0.08)
    assert res.summary()["site"] == {"id": "top", "name": "Top"}


def test_few_clear_epochs_relax_the_rules_and_say_so():
    # three epochs: the old state can be seen once, the new one twice
    s = make_series(3, (20, 20), changes=[((slice(5, 10), slice(5, 10)), 1, ASPHALT)])
    res = run_timeline(make_epochs(s.stack))
    assert res.changed[5:10, 5:10].all() and res.changed.sum() == 25
    assert res.params["persistence_days"] == 60 and res.params["min_before"] == 1
    assert any("relaxed" in n for n in res.notes)


def test_relaxing_warns_only_when_clouds_cost_the_epochs(caplog):
    import logging

    from sitewatch.pipeline.timeline import relax_rules

    with caplog.at_level(logging.INFO, logger="sitewatch.pipeline.timeline"):
        # two scenes in all (the rest are gaps): the user's series is short, not cloudy
        assert relax_rules(2, 60, 2, [], n_epochs=2) == (0, 1)
        # four scenes, but clouds leave two clear observations per pixel at most
        assert relax_rules(2, 60, 2, [], n_epochs=4) == (0, 1)
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.WARNING]


def test_bad_epoch_lists_are_refused():
    s = make_series(4, (10, 10))
    eps = make_epochs(s.stack)
    with pytest.raises(DataError, match="at least 3 epochs"):
        run_timeline(eps[:2])
    other = make_epochs(make_series(4, (12, 12)).stack)
    with pytest.raises(DataError, match="another grid"):
        run_timeline([eps[0], eps[1], other[2]])
    with pytest.raises(DataError, match="missing from some epochs"):
        run_timeline(eps, bands=["B02", "B8A"])
    with pytest.raises(DetectorError, match="spectral distance"):
        run_timeline(eps, method="irmad")
    gaps = make_epochs(s.stack, gaps=(0, 1, 2, 3))
    with pytest.raises(DataError, match="every epoch is a gap"):
        run_timeline(gaps)
