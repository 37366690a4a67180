"""Fixtures for figure tests: small rasters with known geometry, rendered with Agg."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer

from sitewatch.raster import Provenance, Raster


@pytest.fixture
def rgb_pair() -> Callable[..., tuple[Raster, Raster]]:
    """``rgb_pair(crs=..., centre_lonlat=..., res=..., shape=...)`` -> (before, after).

    Seeded noise around 0.1 reflectance; ``after`` is 0.05 brighter. Projected
    CRSs get a grid centred on ``centre_lonlat``.
    """

    def factory(crs: str = "EPSG:32651", centre_lonlat: tuple[float, float] = (124.37, 40.04),
                res: float | tuple[float, float] = 10.0, shape: tuple[int, int] = (60, 80),
                dates: tuple[str, str] = ("2020-05-01", "2025-05-01"), seed: int = 12345
                ) -> tuple[Raster, Raster]:
        rows, cols = shape
        rx, ry = (res, res) if isinstance(res, (int, float)) else res
        if crs == "EPSG:4326":
            cx, cy = centre_lonlat
        else:
            cx, cy = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
                *centre_lonlat)
        t = Affine(rx, 0, cx - cols / 2 * rx, 0, -ry, cy + rows / 2 * ry)
        rng = np.random.default_rng(seed)
        data = rng.uniform(0.06, 0.14, (4, rows, cols)).astype("float32")
        names = ("B04", "B03", "B02", "B08")
        before = Raster(data, t, crs, band_names=names, dates=(dates[0],),
                        provenance=Provenance("test", (f"S2A_TEST_{dates[0]}",),
                                              {"processing_baseline": "04.00"}))
        after = Raster(data + 0.05, t, crs, band_names=names, dates=(dates[1],),
                       provenance=Provenance("test", (f"S2B_TEST_{dates[1]}",),
                                             {"processing_baseline": "05.10"}))
        return before, after

    return factory

