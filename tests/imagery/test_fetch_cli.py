"""`sitewatch fetch`, `sitewatch cache`, `sitewatch sources` through the real CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fakes.control import FakeServer

from sitewatch.aoi import Site
from sitewatch.cli.main import cli
from sitewatch.imagery.epochs import load_epochs

pytestmark = pytest.mark.network

RANGE = ["--from", "2021-10-01", "--to", "2022-06-30", "--every", "quarter"]
SHORT = ["--from", "2022-01-01", "--to", "2022-06-30", "--every", "quarter"]


@pytest.fixture(autouse=True)
def _fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRIES", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRY_DELAY", "0.05")


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    from planetary_computer.sas import TOKEN_CACHE
    from sentinelhub import SentinelHubDownloadClient

    SentinelHubDownloadClient.clear_cache()
    TOKEN_CACHE.clear()
    yield
    SentinelHubDownloadClient.clear_cache()
    TOKEN_CACHE.clear()


def bbox(site: Site) -> str:
    return ",".join(f"{v:.6f}" for v in site.bounds)


def run(args: list[str]) -> object:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def endpoint_args(source: str, server: FakeServer) -> list[str]:
    if source == "earth-search":
        return ["--source", source, "--endpoint", server.earth_search_url]
    if source == "planetary-computer":
        return ["--source", source, "--endpoint", server.pc_url, "--sas-url", server.sas_url]
    return ["--source", source, "--endpoint", server.sh_url, "--token-url", server.sh_token_url]


def test_fetch_writes_composites_and_a_table(server: FakeServer, test_site: Site,
                                             tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "out"
    res = run(["fetch", bbox(test_site), *RANGE, *endpoint_args("earth-search", server),
               "-o", str(out)])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    stdout = res.stdout  # type: ignore[attr-defined]
    assert "2021-Q4" in stdout and "2022-Q2" in stdout
    assert "median of 3 scene(s)" in stdout and "S2B_51TXE_20211015_1_L2A" in stdout
    assert "S2B_51TXE_20211214_1_L2A                    clear 0%, not used" in stdout
    assert "Contains modified Copernicus Sentinel data 2021, 2022" in stdout
    # no progress bars where stderr is not a terminal (tests/test_cli_grammar.py draws them)
    assert "cloud check" not in res.stderr  # type: ignore[attr-defined]
    assert "cloud check" not in stdout
    assert sorted(p.name for p in out.glob("*.tif")) == [
        "2021-Q4.tif", "2021-Q4_clear_count.tif", "2022-Q1.tif", "2022-Q1_clear_count.tif",
        "2022-Q2.tif", "2022-Q2_clear_count.tif"]
    eps = load_epochs(out)
    assert [len(e.scenes) for e in eps] == [3, 2, 2]
    manifest = json.loads((out / "epochs.json").read_text())
    assert manifest["request"]["source"] == "earth-search"
    scene = manifest["epochs"][1]["scenes"][0]
    assert scene["processing_baseline"] == "04.00" and scene["datetime"].startswith("2022-03")
    assert manifest["epochs"][1]["processing"]["scenes"][scene["id"]]["boa_offset"] == -1000
    assert manifest["epochs"][1]["flags"]["coregistration"]["status"] in ("negligible",
                                                                          "corrected")


@pytest.mark.parametrize("source", ["earth-search", "planetary-computer", "cdse"])
def test_second_identical_fetch_makes_zero_requests(source: str, server: FakeServer,
                                                    test_site: Site, tmp_path: Path,
                                                    cache_dir: Path, sh_env: None) -> None:
    """Acceptance: asserted on the fake servers' request log."""
    args = ["fetch", bbox(test_site), *SHORT, *endpoint_args(source, server),
            "-o", str(tmp_path / "out"), "--overwrite"]
    first = run(args)
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    assert len(server.log()) >= 8  # token, search, 3 SCL windows, 3 band windows at least
    server.reset(None)  # empty the log, keep serving
    before = np.array(load_epochs(tmp_path / "out")[0].raster.data)  # type: ignore[union-attr]
    second = run(args)
    assert second.exit_code == 0, second.output  # type: ignore[attr-defined]
    assert server.log() == []
    assert "0 windows fetched" in second.stdout  # type: ignore[attr-defined]
    after = load_epochs(tmp_path / "out")[0].raster
    assert after is not None
    np.testing.assert_array_equal(after.data, before)


def test_cache_info_and_clear(server: FakeServer, test_site: Site, tmp_path: Path,
                              cache_dir: Path) -> None:
    run(["fetch", bbox(test_site), "--from", "2022-03-01", "--to", "2022-03-31",
         *endpoint_args("earth-search", server), "-o", str(tmp_path / "o")])
    info = run(["cache", "info", "--json"])
    d = json.loads(info.stdout)  # type: ignore[attr-defined]
    assert d["root"] == str(cache_dir) and d["windows"] == 4 and d["searches"] == 1
    assert d["by_source"]["earth-search"]["windows"] == 4
    text = run(["cache", "info"]).stdout  # type: ignore[attr-defined]
    assert "earth-search" in text and "4 windows" in text
    cleared = run(["cache", "clear", "--source", "earth-search", "--yes"])
    # 4 COGs, 4 sidecars, 2 band indexes (one per scene), 1 search and its range index
    assert "removed 12 files" in cleared.stdout  # type: ignore[attr-defined]
    assert json.loads(run(["cache", "info", "--json"]).stdout)["windows"] == 0  # type: ignore[attr-defined]


def test_cache_clear_asks_first(cache_dir: Path) -> None:
    res = CliRunner().invoke(cli, ["cache", "clear"], input="n\n")
    assert res.exit_code == 1 and "Delete cached entries" in res.output


def test_sources_lists_endpoints_and_credentials() -> None:
    res = run(["sources", "--json"])
    rows = {r["name"]: r for r in json.loads(res.stdout)}  # type: ignore[attr-defined]
    assert set(rows) >= {"earth-search", "planetary-computer", "cdse", "sentinelhub", "sample"}
    assert rows["cdse"]["endpoint_env"] == "SITEWATCH_CDSE_URL"
    assert rows["cdse"]["token_url"].startswith("https://identity.dataspace.copernicus.eu")
    assert rows["earth-search"]["account"] == "none" and rows["earth-search"]["installed"]
    assert "SITEWATCH_EARTH_SEARCH_URL" in run(["sources"]).stdout  # type: ignore[attr-defined]


def test_endpoint_from_environment(server: FakeServer, test_site: Site, tmp_path: Path,
                                   cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_EARTH_SEARCH_URL", server.earth_search_url)
    res = run(["fetch", bbox(test_site), "--from", "2022-03-01", "--to", "2022-03-31",
               "-o", str(tmp_path / "o"), "--no-cache"])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert any(e["path"] == "/es/v1/search" for e in server.log())
    assert not cache_dir.exists()  # --no-cache


@pytest.mark.parametrize(("args", "message"), [
    (["--token-url", "http://x"], "--token-url applies to --source cdse or sentinelhub only"),
    (["--product", "s1-grd"], "--product s1-grd is available from --source cdse"),
    (["--every", "fortnight"], "use month, quarter, year or explicit windows"),
    (["--source", "nope"], "unknown source 'nope'"),
])
def test_bad_options_are_one_line_errors(args: list[str], message: str, test_site: Site,
                                         tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["fetch", bbox(test_site), "--from", "2022-03-01", "--to",
                                   "2022-03-31", "-o", str(tmp_path / "o"), *args])
    assert res.exit_code == 2  # a usage error: the command line is wrong, nothing ran
    assert message in res.stderr and "Traceback" not in res.output


def test_fault_is_a_one_line_error(server: FakeServer, test_site: Site, tmp_path: Path,
                                   cache_dir: Path) -> None:
    server.set_faults([{"path": "/es/v1/search", "status": 503}])
    res = CliRunner().invoke(cli, ["fetch", bbox(test_site), *RANGE,
                                   *endpoint_args("earth-search", server),
                                   "-o", str(tmp_path / "o")])
    assert res.exit_code == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "HTTP 503" in lines[0] and "try again later" in lines[0]


@pytest.mark.parametrize("source", ["cdse", "planetary-computer"])
def test_credentials_never_reach_logs_caches_or_outputs(
        source: str, server: FakeServer, test_site: Site, tmp_path: Path, cache_dir: Path,
        sh_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    secret = "SECRET-7f3a9-do-not-leak"
    server.reset(None, credentials={"client-xyz-id": secret})
    monkeypatch.setenv("SH_CLIENT_ID", "client-xyz-id")
    monkeypatch.setenv("SH_CLIENT_SECRET", secret)
    caplog.set_level(logging.DEBUG)  # every logger, libraries included
    out = tmp_path / "out"
    res = run(["-vv", "fetch", bbox(test_site), *SHORT, *endpoint_args(source, server),
               "-o", str(out)])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    issued = server.issued_secrets()
    assert issued, "the fake issued no token: the test would prove nothing"
    secrets = [secret, *issued]
    if source == "cdse":  # the OAuth client id too (issue 16: two library debug lines had it)
        assert "client_id" in caplog.text, "no OAuth debug line: the test would prove nothing"
        secrets.append("client-xyz-id")
    texts = {"logs": caplog.text, "stdout": res.stdout,  # type: ignore[attr-defined]
             "stderr": res.stderr}  # type: ignore[attr-defined]
    for folder in (out, cache_dir):
        for p in folder.rglob("*"):
            if p.is_file():
                texts[str(p)] = p.read_bytes().decode("latin-1")
    for where, text in texts.items():
        for s in secrets:
            assert s not in text, f"a credential reached {where}"


@pytest.mark.slow
def test_two_processes_fetching_the_same_site_at_once(server: FakeServer, test_site: Site,
                                                       tmp_path: Path) -> None:
    env = {**os.environ, "SITEWATCH_CACHE_DIR": str(tmp_path / "cache"),
           "SITEWATCH_HTTP_TIMEOUT": "5", "SITEWATCH_HTTP_RETRIES": "2",
           "SITEWATCH_HTTP_RETRY_DELAY": "0.05"}
    exe = str(Path(sys.executable).parent / "sitewatch")
    cmd = [exe, "-q", "fetch", bbox(test_site),
           "--from", "2021-10-01", "--to", "2021-12-31", *endpoint_args("earth-search", server)]
    procs = [subprocess.Popen([*cmd, "-o", str(tmp_path / f"out{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr
    a, b = (load_epochs(tmp_path / f"out{i}")[0].raster for i in range(2))
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.data, b.data)
    from test_faults import assert_cache_consistent

    assert_cache_consistent(tmp_path / "cache")
    # the per-window lock means each window was downloaded once: 4 SCL + 4 band sets
    scl_heads = [e for e in server.log() if e["method"] == "HEAD" and e["path"].endswith("SCL.tif")]
    assert len(scl_heads) == 4
