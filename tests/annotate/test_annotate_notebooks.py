"""The example notebooks run top to bottom (offline) and show what they promise."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_two_notebooks_at_least():
    names = [p.name for p in NOTEBOOKS]
    assert "01_walkthrough_sample.ipynb" in names and "02_new_yalu_river_bridge.ipynb" in names


def _execute(path, work):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    work.mkdir()
    shutil.copy(path, work / path.name)
    nb = nbformat.read(work / path.name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()
    return nb


def _text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SITEWATCH_OFFLINE", "1")  # the live notebook falls back to the sample
    monkeypatch.setenv("MPLBACKEND", "Agg")
    work = tmp_path / path.stem
    nb = _execute(path, work)
    kinds = [k for c in nb.cells if c.cell_type == "code" for o in c.outputs
             for k in o.get("data", {})]
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]
    assert kinds.count("image/png") >= 2  # figures drawn
    assert "text/html" in kinds  # rich display of rasters / results
    assert "image/gif" in kinds  # the timelapse
    assert list(work.rglob("*report.html")), "the notebook writes a report"
    if path.name.startswith("01"):
        assert "application/vnd.jupyter.widget-view+json" in kinds  # the swipe widget
        assert (work / "walkthrough-outputs" / "apple_park.provenance.json").exists()
        html = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
                for o in c.outputs if "text/html" in o.get("data", {})]
        for card in ("Raster", "Change result"):  # rich display of each object
            assert any(card in h for h in html), card
        # two clear epochs: no timeline, and the notebook shows the note that says so
        text = _text(nb)
        assert "a timeline needs three or more" in text
        # in and out of xarray and GeoPandas
        assert re.search(r"xarray: \{'band': 10, 'y': 384, 'x': 384\}, CRS EPSG:4326", text)
        assert "Raster(1 bands dNDVI; 384x384 px; EPSG:4326" in text
        geo = next(line for line in text.splitlines() if line.startswith("GeoDataFrame: "))
        total, said = (s.split(" m²")[0].split()[-1] for s in geo.split("m²")[:1] +
                       geo.split("says ")[1:])
        assert total == said  # the frame's areas add up to the result's
        assert re.search(r"first change found for \d+% of the labelled pixels, \d+% of them "
                         r"dated within one quarter", text)
        assert any("xarray.Dataset" in h or "xr-wrap" in h for h in html)  # the timeline
    else:
        assert "bundled sample" in _text(nb)  # says it fell back


@pytest.mark.slow
@pytest.mark.network
def test_live_notebook_against_a_fake_earth_search(tmp_path, monkeypatch):
    """The live path of the bridge notebook, through the real STAC client, on loopback.

    The imagery tests' fake server serves a synthetic Sentinel-2 tile at the bridge
    (scenes in 2021 and 2022, a new roof from 2022-02).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ -> `import fakes`
    from fakes.control import FakeServer
    from fakes.world import SceneSpec, WorldSpec, build_world

    world = tmp_path / "world"
    world.mkdir()
    build_world(world, WorldSpec(scenes=[
        SceneSpec("2021-10-05"), SceneSpec("2021-10-15", platform="sentinel-2b"),
        SceneSpec("2022-03-14", platform="sentinel-2b"), SceneSpec("2022-04-13")],
        roof_date="2022-02-01"))
    path = EXAMPLES / "02_new_yalu_river_bridge.ipynb"
    with FakeServer() as server:
        server.reset(world)
        monkeypatch.delenv("SITEWATCH_OFFLINE", raising=False)
        monkeypatch.setenv("SITEWATCH_EARTH_SEARCH_URL", server.earth_search_url)
        monkeypatch.setenv("SITEWATCH_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("SITEWATCH_HTTP_TIMEOUT", "10")
        monkeypatch.setenv("MPLBACKEND", "Agg")
        nb = _execute(path, tmp_path / "run")
    text = _text(nb)
    assert "live data from earth-search" in text and "bundled sample" not in text
    assert (tmp_path / "run" / "yalu-outputs" / "new-yalu-river-bridge-report.html").exists()
    kinds = [k for c in nb.cells if c.cell_type == "code" for o in c.outputs
             for k in o.get("data", {})]
    assert kinds.count("image/png") >= 2 and "image/gif" in kinds
