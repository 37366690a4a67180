"""One cache for every command: after `sitewatch fetch`, the commands that read the same
site and period read the scenes from disk, asserted on the loopback server's request log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes.control import FakeServer

from sitewatch.aoi import Site
from sitewatch.cli.main import cli

pytestmark = pytest.mark.network

PERIOD = ["--from", "2021-10-01", "--to", "2022-06-30"]


@pytest.fixture(autouse=True)
def _fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRIES", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRY_DELAY", "0.05")


def run(args: list[str]) -> object:
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    return res


def test_figure_report_animate_detect_timeline_reuse_the_fetch(
        server: FakeServer, test_site: Site, tmp_path: Path, cache_dir: Path) -> None:
    site = ",".join(f"{v:.6f}" for v in test_site.bounds)
    source = ["--source", "earth-search", "--endpoint", server.earth_search_url]
    run(["fetch", site, *PERIOD, "--every", "quarter", *source, "-o", str(tmp_path / "f")])
    fetched = server.log()
    assert any(r["path"].endswith("/search") for r in fetched)
    assert sum(r["path"].endswith(".tif") for r in fetched) >= 8  # SCL and band windows
    server.reset(None)  # empty the log, keep serving the same world

    same = [*PERIOD, "--every", "quarter", *source]
    figure = run(["figure", site, *same, "--format", "png", "-o", str(tmp_path / "fig")])
    report = run(["report", site, *same, "-o", str(tmp_path / "site.html")])
    run(["animate", site, *same, "--no-mp4", "--width", "300", "-o", str(tmp_path / "anim")])
    assert server.log() == []  # the acceptance: 0 requests after the fetch

    # every other command that reads imagery, and other choices of the same scenes
    detect = run(["detect", site, *same, "-o", str(tmp_path / "det")])
    assert "0 fetched" in detect.stdout  # type: ignore[attr-defined]
    run(["detect", site, *source, "--before", "2021-10-10/2021-12-31",  # a narrower search
         "--after", "2022-04-01/2022-05-31", "-m", "indices",  # and fewer bands
         "-o", str(tmp_path / "det2")])
    run(["timeline", site, *same, "--no-figure", "-o", str(tmp_path / "tl")])
    run(["figure", site, *PERIOD, *source, "--format", "png",  # its default cadence (year)
         "-o", str(tmp_path / "fig2")])
    assert server.log() == []

    # the outputs name the scenes the fetch used
    manifest = json.loads((tmp_path / "f" / "epochs.json").read_text())
    fetched_ids = {s["id"] for e in manifest["epochs"] for s in e.get("scenes", [])}
    prov = json.loads((tmp_path / "fig" / "before_after.provenance.json").read_text())
    used = {s["id"] for s in prov["scenes"]}
    assert used and used <= fetched_ids
    assert str(tmp_path / "site.html") in report.stdout  # type: ignore[attr-defined]
    assert "before_after.png" in figure.stdout  # type: ignore[attr-defined]


def test_without_the_cache_the_report_downloads(server: FakeServer, test_site: Site,
                                                tmp_path: Path, cache_dir: Path) -> None:
    """The measure can fail: --no-cache on the fetch leaves the report to download."""
    site = ",".join(f"{v:.6f}" for v in test_site.bounds)
    same = [*PERIOD, "--every", "quarter", "--source", "earth-search", "--endpoint",
            server.earth_search_url]
    run(["fetch", site, *same, "--no-cache", "-o", str(tmp_path / "f")])
    server.reset(None)
    run(["report", site, *same, "-o", str(tmp_path / "site.html")])
    assert any(r["path"].endswith(".tif") for r in server.log())
    server.reset(None)
    run(["report", site, *same, "-o", str(tmp_path / "site.html"), "--overwrite"])
    assert server.log() == []  # the first report filled the cache
