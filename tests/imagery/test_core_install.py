"""After `make demo`, the default live source works with nothing more installed.

The test environment has every extra installed, so the command runs through
``tests/fakes/coreonly.py``: every installed distribution outside the dependency closure
of what the Makefile's demo target installs (the core, plus the extras it names; read
from the packages' metadata) is made unimportable, as in the demo's environment. The real
pystac-client and GDAL then fetch from the loopback STAC server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.control import FakeServer

from sitewatch.aoi import Site
from sitewatch.imagery.epochs import load_epochs

pytestmark = pytest.mark.network

CORE_ONLY = Path(__file__).resolve().parents[1] / "fakes" / "coreonly.py"
MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def demo_extras() -> list[str]:
    """The extras the Makefile's demo install asks for (``pip install -e '.[video]'``)."""
    recipe = MAKEFILE.read_text().split("/.core-installed:", 1)[1].split("\n\n", 1)[0]
    m = re.search(r"pip install[^\n]*-e '?\.(?:\[([^\]]*)\])?", recipe)
    assert m, "the demo's install line in the Makefile"
    return [e.strip() for e in (m.group(1) or "").split(",") if e.strip()]


def _core_only(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    extras = ["--extras", ",".join(demo_extras())]
    return subprocess.run([sys.executable, str(CORE_ONLY), *extras, *args],
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=600, check=False)


def test_the_demo_install_blocks_every_other_extra() -> None:
    """The simulation is real: the other extras' packages cannot be imported, the core's can."""
    blocked = set(_core_only(["--blocked"], {}).stdout.split())
    for extra_module in ("sentinelhub", "planetary_computer", "xarray", "rioxarray",
                         "geopandas", "dask", "ipywidgets", "pytest"):
        assert extra_module in blocked, extra_module
    assert ("imageio_ffmpeg" in blocked) == ("video" not in demo_extras())
    for core_module in ("pystac_client", "requests", "rasterio", "numpy", "click", "PIL"):
        assert core_module not in blocked, core_module


def test_fetch_from_the_default_source_with_the_core_install(server: FakeServer,
                                                             test_site: Site,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    bbox = ",".join(f"{v:.6f}" for v in test_site.bounds)
    # no --source: the default live source; the endpoint points it at the loopback server
    proc = _core_only(["fetch", bbox, "--from", "2022-01-01", "--to", "2022-06-30",
                       "--every", "quarter", "--endpoint", server.earth_search_url,
                       "-o", str(out)],
                      {"SITEWATCH_CACHE_DIR": str(tmp_path / "cache"),
                       "SITEWATCH_HTTP_TIMEOUT": "5", "SITEWATCH_HTTP_RETRIES": "2",
                       "SITEWATCH_HTTP_RETRY_DELAY": "0.05"})
    assert proc.returncode == 0, proc.stderr
    assert "from earth-search" in proc.stdout
    assert "Contains modified Copernicus Sentinel data 2022" in proc.stdout
    assert "CORE-ONLY" in proc.stderr and "sitewatch[" not in proc.stderr
    eps = load_epochs(out)
    assert [e.label for e in eps] == ["2022-Q1", "2022-Q2"] and all(e.raster for e in eps)
    manifest = json.loads((out / "epochs.json").read_text())
    assert manifest["request"]["source"] == "earth-search"
    paths = [r["path"] for r in server.log()]
    assert any(p.endswith("/search") for p in paths)  # pystac-client searched the catalogue
    assert any(p.endswith(".tif") for p in paths)  # GDAL read the COG windows
