"""Every fault ends in a retry that succeeds or a sitewatch error saying what to do;
never a hang, never partial data in the cache."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST_HTTP
from fakes.control import FakeServer
from test_sources import make_source

from sitewatch.aoi import Site
from sitewatch.errors import (
    CorruptFileError,
    CredentialsError,
    FetchError,
    NoClearSceneError,
    NoSceneError,
    QuotaExceededError,
    RateLimitError,
    SitewatchError,
)
from sitewatch.imagery.cache import TileCache
from sitewatch.imagery.sources.cached import CachedSource
from sitewatch.pipeline.fetch import run_fetch

pytestmark = pytest.mark.network

B04 = r"/raw/S2B_51TXE_20211015_0_L2A/B04\.tif"  # a clear scene every fetch below uses


@pytest.fixture(autouse=True)
def _fresh_sentinelhub_sessions() -> Iterator[None]:
    from sentinelhub import SentinelHubDownloadClient

    SentinelHubDownloadClient.clear_cache()
    yield
    SentinelHubDownloadClient.clear_cache()


def fetch(server: FakeServer, site: Site, cache: Path, source: str = "earth-search",
          start: str = "2021-10-01", end: str = "2021-12-31", **kw: Any) -> Any:
    src = make_source(source, server, **kw.pop("source_kw", {}))
    return run_fetch(site, start, end, "quarter", source=src, cache=TileCache(cache),
                     coregister=False, **kw)


def assert_cache_consistent(cache: Path) -> None:
    """Every cached COG has its sidecar with a matching checksum; no temporary files."""
    assert not list(cache.rglob("*.tmp"))
    for tif in cache.rglob("*.tif"):
        side = json.loads(tif.with_suffix(".json").read_text())
        assert side["sha256"] == hashlib.sha256(tif.read_bytes()).hexdigest()


def requests_to(server: FakeServer, pattern: str) -> list[dict[str, Any]]:
    import re

    return [e for e in server.log() if re.search(pattern, e["path"])]


# -- 429 with Retry-After ------------------------------------------------------------------
def test_429_on_search_is_retried(server: FakeServer, test_site: Site, tmp_path: Path) -> None:
    server.set_faults([{"path": "/es/v1/search", "status": 429, "times": 2,
                        "headers": {"Retry-After": "0"}}])
    res = fetch(server, test_site, tmp_path)
    assert [r["status"] for r in requests_to(server, "/es/v1/search")][:3] == [429, 429, 200]
    assert not res.epochs[0].is_gap


def test_429_on_cog_is_retried(server: FakeServer, test_site: Site, tmp_path: Path) -> None:
    server.set_faults([{"path": B04, "status": 429, "times": 2,
                        "headers": {"Retry-After": "0"}}])
    res = fetch(server, test_site, tmp_path)
    statuses = [r["status"] for r in requests_to(server, B04)]
    assert statuses[:2] == [429, 429] and 206 in statuses
    assert "S2B_51TXE_20211015_1_L2A" in res.epochs[0].scene_ids


def test_429_retry_after_is_honoured_for_cog_reads(server: FakeServer, test_site: Site) -> None:
    """GDAL ignores Retry-After, so it leaves 429s to sitewatch, which waits what the server
    asks before every retry of an image read (issue 16: not only after GDAL's own tries)."""
    src = make_source("earth-search", server)
    waits: list[float] = []
    src.reader._sleep = waits.append  # type: ignore[attr-defined]
    scene = src.search(test_site, "2021-10-15", "2021-10-15")[0]
    server.set_faults([{"path": B04, "status": 429, "times": 4,
                        "headers": {"Retry-After": "7"}}])  # two reads, each + our HEAD
    r = src.load(scene, test_site.grid(), ["B04"])
    assert r.band_names == ("B04",)
    assert waits == [7.0, 7.0]  # one wait as asked after each refused read, none shorter
    statuses = [(e["method"], e["status"]) for e in requests_to(server, B04)]
    assert statuses[:4] == [("HEAD", 429)] * 4 and ("GET", 206) in statuses


def test_429_on_process_api_is_retried(server: FakeServer, test_site: Site, tmp_path: Path,
                                       sh_env: None) -> None:
    server.set_faults([{"path": "/sh/api/v1/process", "status": 429, "times": 2,
                        "headers": {"Retry-After": "50"}}])  # milliseconds, as the service
    with pytest.warns(Warning, match="rate limit"):  # sentinelhub's own SHRateLimitWarning
        res = fetch(server, test_site, tmp_path, source="cdse")
    assert [r["status"] for r in requests_to(server, "/process")][:3] == [429, 429, 200]
    assert not res.epochs[0].is_gap


@pytest.mark.parametrize(("source", "path"), [("earth-search", "/es/v1/search"),
                                              ("earth-search", B04),
                                              ("cdse", "/sh/api/v1/process")])
def test_429_forever_is_a_rate_limit_error(source: str, path: str, server: FakeServer,
                                           test_site: Site, tmp_path: Path,
                                           sh_env: None) -> None:
    server.set_faults([{"path": path, "status": 429, "headers": {"Retry-After": "0"}}])
    kw = {"source_kw": {"max_rate_retries": 3}} if source == "cdse" else {}
    with pytest.warns(Warning) if source == "cdse" else _nothing(), \
            pytest.raises(RateLimitError, match="429 Too Many Requests.*(wait|run)"):
        fetch(server, test_site, tmp_path, source=source, **kw)
    assert_cache_consistent(tmp_path)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


# -- 5xx ------------------------------------------------------------------------------------
def test_transient_503_on_cog_is_retried(server: FakeServer, test_site: Site,
                                         tmp_path: Path) -> None:
    server.set_faults([{"path": B04, "status": 503, "times": 1}])
    res = fetch(server, test_site, tmp_path)
    assert [r["status"] for r in requests_to(server, B04)][0] == 503
    assert not res.epochs[0].is_gap


@pytest.mark.parametrize(("source", "path", "what"), [
    ("earth-search", "/es/v1/search", "HTTP 502"),
    ("earth-search", B04, "HTTP 502"),
    ("cdse", "/sh/api/v1/process", "HTTP 502"),
    ("planetary-computer", "/pc/api/sas/v1/token", "HTTP 502")])
def test_persistent_5xx_is_a_fetch_error(source: str, path: str, what: str,
                                         server: FakeServer, test_site: Site, tmp_path: Path,
                                         sh_env: None) -> None:
    server.set_faults([{"path": path, "status": 502}])
    with pytest.raises(FetchError, match=f"{what}.*try again later") as err:
        fetch(server, test_site, tmp_path, source=source)
    assert not isinstance(err.value, CredentialsError)
    assert_cache_consistent(tmp_path)


# -- timeouts -------------------------------------------------------------------------------
def test_slow_cog_is_retried(server: FakeServer, test_site: Site, tmp_path: Path) -> None:
    server.set_faults([{"path": B04, "delay": 2.5, "times": 1}])  # timeout is 2 s
    res = fetch(server, test_site, tmp_path)
    assert not res.epochs[0].is_gap and len(requests_to(server, B04)) >= 2


def test_search_that_never_answers_in_time(server: FakeServer, test_site: Site,
                                           tmp_path: Path) -> None:
    server.set_faults([{"path": "/es/v1/search", "delay": 3}])
    http = FAST_HTTP.with_(timeout=1, retries=1)
    with pytest.raises(FetchError, match="did not answer within 1 s.*SITEWATCH_HTTP_TIMEOUT"):
        fetch(server, test_site, tmp_path, source_kw={"http": http})


def test_cog_that_always_stalls(server: FakeServer, test_site: Site, tmp_path: Path) -> None:
    server.set_faults([{"path": B04, "method": "GET", "delay": 3}])
    http = FAST_HTTP.with_(timeout=1, retries=1)
    with pytest.raises(FetchError, match="timed out reading B04 .*no data for 1 s in 2 tries"):
        fetch(server, test_site, tmp_path, source_kw={"http": http})
    assert_cache_consistent(tmp_path)


def test_cut_transfer_is_retried(server: FakeServer, test_site: Site, tmp_path: Path) -> None:
    server.set_faults([{"path": B04, "method": "GET", "cut_body": 500, "times": 1}])
    res = fetch(server, test_site, tmp_path)
    assert "S2B_51TXE_20211015_1_L2A" in res.epochs[0].scene_ids
    assert_cache_consistent(tmp_path)


# -- truncated and corrupt COGs ---------------------------------------------------------------
@pytest.mark.parametrize("fault", [{"truncate": 0.4}, {"scramble_after": 20000},
                                   {"status": 200, "body": "<html>Service Unavailable</html>",
                                    "content_type": "text/html"}])
def test_broken_cog_is_a_corrupt_file_error(fault: dict[str, Any], server: FakeServer,
                                            test_site: Site, tmp_path: Path) -> None:
    server.set_faults([{"path": B04, **fault}])
    with pytest.raises(CorruptFileError, match="not a readable COG.*nothing was cached"):
        fetch(server, test_site, tmp_path)
    assert_cache_consistent(tmp_path)
    sides = [json.loads(p.read_text()) for p in tmp_path.rglob("*.json") if "windows" in str(p)]
    assert sides, "the SCL pass and the other scenes' complete windows are cached"
    broken = [d for d in sides if d["scene"] == "S2B_51TXE_20211015_1_L2A" and "B04" in
              d["bands"]]
    assert broken == []  # nothing of the scene whose file is broken


def test_broken_scene_can_be_skipped_and_is_reported(server: FakeServer, test_site: Site,
                                                     tmp_path: Path) -> None:
    server.set_faults([{"path": B04, "truncate": 0.4}])
    res = fetch(server, test_site, tmp_path, on_error="skip")
    e = res.epochs[0]
    assert "S2B_51TXE_20211015_1_L2A" in e.flags["skipped"]
    assert "S2B_51TXE_20211015_1_L2A" not in e.scene_ids and not e.is_gap


# -- Planetary Computer signatures ----------------------------------------------------------
def test_expired_signature_is_renewed(server: FakeServer, test_site: Site,
                                      tmp_path: Path) -> None:
    src = make_source("planetary-computer", server)
    scenes = src.search(test_site, "2021-10-15", "2021-10-15")
    grid = test_site.grid()
    src.load(scenes[0], grid, ["B04"])
    server.expire_sas()  # every token issued so far is now refused by the storage
    r = src.load(scenes[0], grid, ["B08"])
    assert r.band_names == ("B08",)
    log = server.log()
    assert any(e["status"] == 403 for e in log)
    refused = max(i for i, e in enumerate(log) if e["status"] == 403)
    assert any("/sas/v1/token" in e["path"] for e in log[refused:])  # signed again
    assert log[-1]["status"] == 206


def test_storage_refusing_every_signature(server: FakeServer, test_site: Site,
                                          tmp_path: Path) -> None:
    server.set_faults([{"path": "^/sentinel2l2a01/", "status": 403,
                        "body": "<Error><Code>AuthenticationFailed</Code></Error>"}])
    with pytest.raises(CredentialsError, match="refused even after signing it again"):
        fetch(server, test_site, tmp_path, source="planetary-computer")
    assert_cache_consistent(tmp_path)


def test_token_about_to_expire_is_renewed_before_use(server: FakeServer, standard_world: Path,
                                                     test_site: Site) -> None:
    from planetary_computer.sas import TOKEN_CACHE

    TOKEN_CACHE.clear()
    server.reset(standard_world, sas_ttl=120)  # tokens live 2 minutes: below 5 minutes left
    src = make_source("planetary-computer", server)
    scenes = src.search(test_site, "2021-10-15", "2021-10-15")
    src.load(scenes[0], test_site.grid(), ["B04", "B08"])
    tokens = [e for e in server.log() if "/sas/v1/token" in e["path"]]
    assert len(tokens) >= 2  # each band read finds the last token too close to expiry


# -- Sentinel Hub accounts ----------------------------------------------------------------------
def test_exhausted_quota(server: FakeServer, test_site: Site, tmp_path: Path,
                         sh_env: None) -> None:
    body = json.dumps({"error": {"status": 403, "reason": "Forbidden", "message":
                                 "You have exceeded your monthly processing units quota.",
                                 "code": "COMMON_INSUFFICIENT_PERMISSIONS"}})
    server.set_faults([{"path": "/sh/api/v1/process", "status": 403, "body": body,
                        "content_type": "application/json"}])
    with pytest.raises(QuotaExceededError, match="quota is used up.*10,000.*earth-search"):
        fetch(server, test_site, tmp_path, source="cdse")
    assert_cache_consistent(tmp_path)


def test_missing_credentials(server: FakeServer, test_site: Site, tmp_path: Path, sh_env: None,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SH_CLIENT_ID")
    monkeypatch.delenv("SH_CLIENT_SECRET")
    with pytest.raises(CredentialsError, match="no cdse credentials.*dataspace.copernicus.eu.*"
                                               "SH_CLIENT_ID"):
        fetch(server, test_site, tmp_path, source="cdse")
    assert server.log() == []  # failed before any request


def test_wrong_credentials(server: FakeServer, test_site: Site, tmp_path: Path, sh_env: None,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SH_CLIENT_SECRET", "not-the-secret")
    with pytest.raises(CredentialsError, match="refused the credentials \\(invalid_client\\)"):
        fetch(server, test_site, tmp_path, source="cdse")
    assert [e["status"] for e in server.log()] == [401]


# -- nothing to fetch -----------------------------------------------------------------------
@pytest.mark.parametrize("source", ["earth-search", "planetary-computer", "cdse"])
def test_no_scene_in_range(source: str, server: FakeServer, test_site: Site, tmp_path: Path,
                           sh_env: None) -> None:
    with pytest.raises(NoSceneError, match="no scene over .* widen the dates") as err:
        fetch(server, test_site, tmp_path, source=source, start="2019-01-01", end="2019-12-31")
    assert not isinstance(err.value, NoClearSceneError)


def test_every_scene_cloudy(server: FakeServer, test_site: Site, tmp_path: Path) -> None:
    with pytest.raises(NoClearSceneError, match="too cloudy over the site.*lower --min-clear"):
        fetch(server, test_site, tmp_path, start="2021-12-01", end="2021-12-31",
              min_clear=0.5)
    assert_cache_consistent(tmp_path)


def test_unreachable_endpoint(test_site: Site, tmp_path: Path) -> None:
    from sitewatch.imagery.sources import get_source

    src = get_source("earth-search", url="http://127.0.0.1:9/v1",
                     http=FAST_HTTP.with_(retries=0))
    with pytest.raises(FetchError, match="cannot reach .*127.0.0.1:9.*SITEWATCH_EARTH_SEARCH_URL"):
        CachedSource(src, TileCache(tmp_path)).search(test_site, "2021-01-01", "2021-12-31")


def test_errors_are_sitewatch_errors() -> None:
    for cls in (RateLimitError, QuotaExceededError, CredentialsError, CorruptFileError,
                NoClearSceneError):
        assert issubclass(cls, SitewatchError)
