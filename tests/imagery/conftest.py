"""Fixtures of the imagery tests: the fake server process, synthetic worlds, the test site."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ -> `import fakes`

from fakes.control import FakeServer  # noqa: E402
from fakes.world import S1Spec, SceneSpec, WorldSpec, build_world, site_wgs84  # noqa: E402

from sitewatch.aoi import Site, parse_site  # noqa: E402
from sitewatch.imagery.gdal_env import HttpSettings  # noqa: E402

#: Fast HTTP policy for tests: short timeouts, quick retries.
FAST_HTTP = HttpSettings(timeout=2, connect_timeout=2, retries=2, retry_delay=0.05)

# A passing cloud (with shadow) over the site's west, and one over its east.
CLOUD_W = [(616400.0, 4431000.0, 260.0)]
CLOUD_E = [(617200.0, 4430500.0, 300.0)]


def standard_spec() -> WorldSpec:
    """Eight acquisitions 2021-2022 on both sides of baseline 04.00, a roof from 2022-02."""
    return WorldSpec(
        scenes=[
            SceneSpec("2021-10-05", clouds=CLOUD_W),
            SceneSpec("2021-10-15", platform="sentinel-2b"),
            SceneSpec("2021-11-04", clouds=CLOUD_E),
            SceneSpec("2021-12-14", platform="sentinel-2b", clouds=[(616800, 4430700, 1400)]),
            SceneSpec("2022-03-04", clouds=CLOUD_E),
            # the site's west lies on the neighbouring tile of the same overpass
            SceneSpec("2022-03-14", platform="sentinel-2b", nodata_cols=150, twin_cols=160),
            SceneSpec("2022-04-03", es_flag=False),  # offset removed, flag says not (issue 66)
            SceneSpec("2022-04-13", platform="sentinel-2b", clouds=CLOUD_W,
                      es_collections=("sentinel-2-l2a",)),
        ],
        s1=[S1Spec("2021-10-07", absolute_orbit=40012), S1Spec("2021-11-12", absolute_orbit=40537),
            S1Spec("2022-03-10", orbit_state="descending", absolute_orbit=42025),
            S1Spec("2022-04-15", absolute_orbit=42537)],
        roof_date="2022-02-01")


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    """One fake server process per test worker."""
    with FakeServer() as fs:
        yield fs


@pytest.fixture(scope="session")
def standard_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world-standard")
    build_world(folder, standard_spec())
    return folder


@pytest.fixture
def server(fake_server: FakeServer, standard_world: Path) -> Iterator[FakeServer]:
    """The fake server serving the standard world, with no faults and an empty log."""
    fake_server.reset(standard_world)
    yield fake_server
    fake_server.reset(standard_world)


@pytest.fixture
def test_site() -> Site:
    return parse_site(",".join(f"{v:.6f}" for v in site_wgs84()), name="fake site")


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("SITEWATCH_CACHE_DIR", str(d))
    return d


@pytest.fixture
def sh_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Plain-http OAuth to the loopback fake; sentinelhub's config file lives in a temp dir."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("SH_CLIENT_ID", "test-client")
    monkeypatch.setenv("SH_CLIENT_SECRET", "test-secret")
    monkeypatch.delenv("SH_PROFILE", raising=False)
