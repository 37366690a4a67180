"""Provenance records and sidecars: scenes, baselines, detector, version, command."""

from __future__ import annotations

import json

from sitewatch.annotate.provenance import (
    command_line,
    provenance_record,
    sidecar_path,
    write_sidecar,
)
from sitewatch.imagery.scene import SceneRecord


def test_record_prefers_scene_records_and_keeps_baselines(rgb_pair):
    before, after = rgb_pair()
    scenes = [SceneRecord("S2A_TEST_2020-05-01", "2020-05-01T02:43:11Z", source="earth-search",
                          platform="sentinel-2a", cloud_cover=3.5, processing_baseline="02.14",
                          collection="sentinel-2-c1-l2a")]
    rec = provenance_record(rasters=[before, None, after], scenes=scenes,
                            detector={"method": "cva", "params": {"k": 1}},
                            command=["sitewatch", "figure", "x y"])
    first, second = rec["scenes"]
    assert first == {"id": "S2A_TEST_2020-05-01", "date": "2020-05-01",
                     "datetime": "2020-05-01T02:43:11Z", "source": "earth-search",
                     "platform": "sentinel-2a", "collection": "sentinel-2-c1-l2a",
                     "processing_baseline": "02.14", "cloud_cover": 3.5}
    assert second["id"] == "S2B_TEST_2025-05-01" and second["processing_baseline"] == "05.10"
    assert rec["processing_baselines"] == ["02.14", "05.10"]
    assert rec["dates"] == ["2020-05-01", "2025-05-01"]
    assert rec["command"] == "sitewatch figure 'x y'"
    assert rec["detector"]["params"] == {"k": 1} and rec["sitewatch_version"]
    assert rec["grid"]["crs"] == "EPSG:32651" and rec["grid"]["width"] == 80


def test_sidecar_is_shared_by_the_formats_of_one_output(tmp_path):
    for name in ("fig.png", "fig.svg", "fig.png"):
        (tmp_path / name).write_bytes(b"x")
        side = write_sidecar(tmp_path / name, {"dates": ["2020-01-01"]}, kind="figure")
    assert side == sidecar_path(tmp_path / "fig.pdf") == tmp_path / "fig.provenance.json"
    doc = json.loads(side.read_text())
    assert doc["files"] == ["fig.png", "fig.svg"] and doc["kind"] == "figure"


def test_notebook_kernels_are_named_not_quoted():
    assert command_line(["/x/ipykernel_launcher.py", "-f", "/tmp/k.json"]) == \
        "python (Jupyter kernel)"
