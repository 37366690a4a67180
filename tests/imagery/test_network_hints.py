"""Issue 16, case 5 and 6 (network, logs): Retry-After for every image-read retry, the
``--on-error skip`` hint where it applies, and the OAuth client id kept out of DEBUG logs of
a Python session. Real clients against the loopback fakes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes.control import FakeServer
from test_faults import B04, _fresh_sentinelhub_sessions, requests_to  # noqa: F401 (fixture)
from test_sources import make_source

from sitewatch.aoi import Site
from sitewatch.cli.main import cli
from sitewatch.errors import RateLimitError
from sitewatch.pipeline.fetch import run_fetch

pytestmark = pytest.mark.network


def test_every_image_read_retry_waits_what_retry_after_asks(server: FakeServer,
                                                            test_site: Site) -> None:
    """Case 5: a 429 that lasts gets a wait of Retry-After before each retry, and then a
    rate-limit error saying to wait; GDAL's own quick retries never hammer the server."""
    src = make_source("earth-search", server)  # 2 retries
    waits: list[float] = []
    src.reader._sleep = waits.append  # type: ignore[attr-defined]
    scene = src.search(test_site, "2021-10-15", "2021-10-15")[0]
    server.set_faults([{"path": B04, "status": 429, "headers": {"Retry-After": "5"}}])
    with pytest.raises(RateLimitError, match="429 Too Many Requests.*after 3 attempts.*wait"):
        src.load(scene, test_site.grid(), ["B04"])
    assert waits == [5.0, 5.0]
    reads = [e for e in requests_to(server, B04) if e["status"] == 429]
    # three reads (GDAL no longer retries a 429 on its own schedule) and the two Retry-After
    # probes between them; GDAL may stat a file twice when its cache is off
    assert 3 + 2 <= len(reads) <= 3 * 2 + 2


def test_a_file_that_always_fails_suggests_on_error_skip(server: FakeServer, test_site: Site,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 5: HTTP 500 for ever: a bounded number of tries, then one line that says the
    scene can be left out with --on-error skip; with it, the fetch finishes."""
    monkeypatch.setenv("SITEWATCH_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRIES", "2")
    monkeypatch.setenv("SITEWATCH_HTTP_RETRY_DELAY", "0.05")
    monkeypatch.setenv("SITEWATCH_CACHE_DIR", str(tmp_path / "cache"))
    server.set_faults([{"path": B04, "status": 500}])
    site = ",".join(f"{v:.6f}" for v in test_site.bounds)
    args = ["fetch", site, "--from", "2021-10-01", "--to", "2021-12-31",
            "--source", "earth-search", "--endpoint", server.earth_search_url, "--no-cache"]
    r = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "a")])
    assert r.exit_code == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    assert "HTTP 500" in lines[0] and "pass --on-error skip" in lines[0]
    assert "S2B_51TXE_20211015_1_L2A" in lines[0]  # the scene that failed
    # GDAL retries a 5xx itself (3 requests a read); sitewatch adds one more read, not two
    assert len(requests_to(server, B04)) <= 2 * 3
    server.reset(None)
    server.set_faults([{"path": B04, "status": 500}])
    r = CliRunner().invoke(cli, [*args, "--on-error", "skip", "-o", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert "skipped S2B_51TXE_20211015_1_L2A" in r.stdout


def test_oauth_client_id_never_reaches_python_debug_logs(server: FakeServer, test_site: Site,
                                                        tmp_path: Path, sh_env: None,
                                                        caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Case 6: DEBUG logging in a Python session: the client id (and secret) are masked in
    the OAuth libraries' own lines."""
    server.reset(None, credentials={"client-7c1d-id": "SECRET-9b2e"})
    monkeypatch.setenv("SH_CLIENT_ID", "client-7c1d-id")
    monkeypatch.setenv("SH_CLIENT_SECRET", "SECRET-9b2e")
    caplog.set_level(logging.DEBUG)
    src = make_source("cdse", server)
    res = run_fetch(test_site, "2021-10-01", "2021-12-31", "quarter", source=src, cache=None,
                    coregister=False)
    assert not res.epochs[0].is_gap
    oauth = [r for r in caplog.records if r.name.split(".")[0] in ("oauthlib",
                                                                    "requests_oauthlib")]
    assert any("client_id" in r.getMessage() for r in oauth), "no OAuth debug line to check"
    for text in (caplog.text, *(r.getMessage() for r in caplog.records)):
        assert "client-7c1d-id" not in text and "SECRET-9b2e" not in text
