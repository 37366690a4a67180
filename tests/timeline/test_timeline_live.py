"""`sitewatch timeline` on a live source: the real STAC client against a loopback fake server.

The fake Earth Search serves a synthetic world near the New Yalu River Bridge
(tests/fakes/world.py): fields, a river, clouds with shadows in some scenes, and
a 120 m x 80 m bright roof built between 2021-12 and 2022-03.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ -> `import fakes`

from fakes.control import FakeServer  # noqa: E402
from fakes.world import ROOF_UTM, SceneSpec, WorldSpec, build_world, site_wgs84  # noqa: E402
from pyproj import Transformer  # noqa: E402

from sitewatch.cli.main import cli  # noqa: E402

pytestmark = [pytest.mark.network, pytest.mark.slow]

CLOUD = [(616400.0, 4431000.0, 260.0)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeServer]:
    world = tmp_path_factory.mktemp("world-timeline")
    build_world(world, WorldSpec(scenes=[
        SceneSpec("2021-09-10"), SceneSpec("2021-10-15", platform="sentinel-2b"),
        SceneSpec("2021-11-04", clouds=CLOUD), SceneSpec("2021-12-14"),
        SceneSpec("2022-03-04"), SceneSpec("2022-04-13", platform="sentinel-2b"),
        SceneSpec("2022-05-08", clouds=CLOUD), SceneSpec("2022-06-12")],
        roof_date="2022-02-01"))
    with FakeServer() as fs:
        fs.reset(world)
        yield fs


@pytest.fixture(autouse=True)
def _fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRIES", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRY_DELAY", "0.05")


def test_timeline_dates_the_new_roof_from_a_stac_source(server: FakeServer, tmp_path: Path):
    site = ",".join(f"{v:.6f}" for v in site_wgs84())
    out = tmp_path / "tl"
    r = CliRunner().invoke(cli, [
        "timeline", site, "--from", "2021-09-01", "--to", "2022-06-30", "--every", "month",
        "--source", "earth-search", "--endpoint", server.earth_search_url, "--no-cache",
        "--no-coregister", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    ev = json.loads((out / "events.geojson").read_text())["features"]
    assert ev, r.output
    roof = max(ev, key=lambda f: f["properties"]["area_m2"])["properties"]
    # built between the last clear view without it and the first with it
    assert (roof["last_seen_unchanged"], roof["first_seen_changed"]) == ("2021-12", "2022-03")
    assert roof["area_m2"] == pytest.approx(9_600, rel=0.25)
    x, y = Transformer.from_crs(4326, 32651, always_xy=True).transform(
        roof["centroid_lon"], roof["centroid_lat"])
    assert ROOF_UTM[0] < x < ROOF_UTM[2] and ROOF_UTM[1] < y < ROOF_UTM[3]
    summ = json.loads((out / "summary.json").read_text())
    assert summ["params"]["persistence_days"] == 60    # two more months of a monthly series
    assert any(e["scene_ids"] for e in summ["epochs"])
    assert summ["attribution"] == "Contains modified Copernicus Sentinel data 2021, 2022"
