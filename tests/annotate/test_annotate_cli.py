"""`sitewatch figure`, `animate`, `report` and the provenance sidecars they leave."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from sitewatch.annotate.provenance import sidecar_path
from sitewatch.cli.main import cli
from sitewatch.outdir import MANIFEST


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _sidecar(path):
    side = sidecar_path(path)
    assert side.exists(), f"no provenance next to {path.name}"
    return json.loads(side.read_text())


def test_figure_command_writes_formats_with_provenance(tmp_path):
    out = tmp_path / "fig"
    r = run("figure", "cupertino-apple-park", "--format", "png,svg", "--preset", "web",
            "--view", "false", "--overlay", "fill", "--out", str(out))
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
    assert names == ["before_after.png", "before_after.provenance.json", "before_after.svg",
                     "before_after_web.png", "before_after_web.provenance.json"]
    assert sorted(json.loads((out / MANIFEST).read_text())["files"]) == names
    with Image.open(out / "before_after.png") as im:
        assert im.size[0] == 1200
    prov = _sidecar(out / "before_after.svg")
    assert prov["files"] == ["before_after.png", "before_after.svg"]
    assert [s["id"] for s in prov["scenes"]] == [
        "S2A_OPER_MSI_L1C_TL_EPA__20161023T053304_A001254_T10SEG", "T10SEG_20180326T185011"]
    assert prov["dates"] == ["2015-09-18", "2018-03-26"] and prov["source"] == "sample"
    from sitewatch.detectors import DEFAULT_DETECTOR

    assert prov["detector"]["method"] == DEFAULT_DETECTOR and "threshold" in prov["detector"]
    assert prov["command"].startswith("sitewatch figure cupertino-apple-park")
    assert prov["sitewatch_version"] and prov["view"] == "false"
    assert prov["attribution"] == "Contains modified Copernicus Sentinel data 2015, 2018"
    assert any("Daudt" in c for c in prov["credits"])
    # a second run needs --overwrite; a bad format is a one-line error
    assert run("figure", "cupertino-apple-park", "--out", str(out)).exit_code == 1
    bad = CliRunner().invoke(cli, ["figure", "cupertino-apple-park", "--format", "jpg",
                                   "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "png, pdf, svg" in bad.output


def test_animate_command_one_frame_per_epoch(tmp_path):
    out = tmp_path / "anim"
    r = run("animate", "cupertino-apple-park", "--every", "year", "--width", "300",
            "--no-mp4", "--out", str(out))
    assert r.exit_code == 0, r.output
    with Image.open(out / "timelapse.gif") as im:
        assert im.n_frames == 4 and im.size[0] == 300  # 2015..2018, two of them gaps
    prov = _sidecar(out / "timelapse.gif")
    assert prov["kind"] == "animation" and prov["epochs"] == ["2015", "2016", "2017", "2018"]
    assert prov["frames"] == 4 and len(prov["scenes"]) == 2


def test_report_command_writes_one_html(tmp_path):
    path = tmp_path / "r.html"
    r = run("report", "cupertino-apple-park", "--out", str(path))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(path) and path.stat().st_size > 100_000
    again = CliRunner().invoke(cli, ["report", "cupertino-apple-park", "--out", str(path)])
    assert again.exit_code == 1 and "--overwrite" in again.stderr
