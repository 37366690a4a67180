"""The example notebooks run top to bottom (offline) and show what they promise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_two_notebooks_at_least():
    names = [p.name for p in NOTEBOOKS]
    assert "01_walkthrough_sample.ipynb" in names and "02_new_yalu_river_bridge.ipynb" in names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("SITEWATCH_OFFLINE", "1")  # the live notebook falls back to the sample
    monkeypatch.setenv("MPLBACKEND", "Agg")
    work = tmp_path / path.stem
    work.mkdir()
    shutil.copy(path, work / path.name)
    nb = nbformat.read(work / path.name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}}).execute()
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
    else:
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                       for o in c.outputs)
        assert "bundled sample" in text  # says it fell back
