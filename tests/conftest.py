"""Shared fixtures: tiny georeferenced rasters, the real-data folder, a network guard."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from sitewatch.raster import Provenance, Raster

os.environ.setdefault("MPLBACKEND", "Agg")

#: ../shared/data relative to the repository (absent on CI without the data).
SHARED_DATA = Path(os.environ.get("SITEWATCH_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
OSCD_ROOT = SHARED_DATA / "oscd"


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False
    return True  # AF_UNIX paths


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any connection from Python to a non-loopback address fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self: socket.socket, address: object) -> object:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def guarded_ex(self: socket.socket, address: object) -> object:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)
    yield


@pytest.fixture
def oscd_root() -> Path:
    """The real OSCD dataset, or a clean skip where ../shared/data is absent."""
    if not (OSCD_ROOT / "Onera Satellite Change Detection dataset - Images").is_dir():
        pytest.skip(f"real OSCD data not found at {OSCD_ROOT} (set SITEWATCH_SHARED_DATA)")
    return OSCD_ROOT


@pytest.fixture
def make_raster() -> Callable[..., Raster]:
    """Factory for small UTM rasters: ``make_raster(bands=3, size=10, value=0.1, seed=...)``."""

    def factory(bands: int | tuple[str, ...] = 3, size: int | tuple[int, int] = 10,
                value: float | None = 0.1, seed: int = 12345, res: float = 10.0,
                crs: str = "EPSG:32651", origin: tuple[float, float] = (500000.0, 4000000.0),
                dates: tuple[str, ...] = ("2020-05-01",), dtype: str = "float32") -> Raster:
        names = bands if isinstance(bands, tuple) else tuple(f"B{i + 2:02d}" for i in
                                                              range(bands))
        rows, cols = (size, size) if isinstance(size, int) else size
        rng = np.random.default_rng(seed)
        data = rng.normal(0.1, 0.01, (len(names), rows, cols)) if value is None \
            else np.full((len(names), rows, cols), value)
        return Raster(data.astype(dtype), Affine(res, 0, origin[0], 0, -res, origin[1]), crs,
                      band_names=names, dates=dates,
                      provenance=Provenance("test", (f"TEST_{dates[0]}",)))

    return factory
