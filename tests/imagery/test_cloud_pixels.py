"""Cloud and shadow screening from the pixels (no SCL), on small series with known answers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "timeline"))
from timeline_helpers import ASPHALT, BANDS, CRS, FIELD, TRANSFORM, make_series  # noqa: E402

from sitewatch.aoi import Site  # noqa: E402
from sitewatch.errors import DataError  # noqa: E402
from sitewatch.geometry import reproject_geometry  # noqa: E402
from sitewatch.imagery.cloud_pixels import PixelScreen, screen_pixels  # noqa: E402
from sitewatch.imagery.epochs import build_epochs  # noqa: E402
from sitewatch.imagery.io import write_cog  # noqa: E402
from sitewatch.imagery.sources.local import LocalSource  # noqa: E402
from sitewatch.raster import Provenance, Raster  # noqa: E402

CLOUD = (slice(2, 12), slice(2, 12))
SHADOW = (slice(18, 26), slice(14, 24))
ROOF = (slice(20, 28), slice(2, 10))
#: a cloud's top-of-atmosphere spectrum (B02 B03 B04 B08 B11 B12)
WHITE = np.array([0.45, 0.44, 0.43, 0.42, 0.28, 0.2], "float32")
BRIGHT_ROOF = np.array([0.28, 0.29, 0.3, 0.33, 0.36, 0.33], "float32")


def _series(n: int = 10, seed: int = 3) -> np.ndarray:
    s = make_series(n, (30, 30), seed=seed)
    return s.stack


def test_a_cloud_and_a_shadow_are_found_and_nothing_else():
    x = _series()
    x[4][(slice(None), *CLOUD)] = WHITE[:, None, None]
    x[4][(slice(None), *SHADOW)] *= np.array([0.6, 0.5, 0.45, 0.35, 0.3, 0.3])[:, None, None]
    res = screen_pixels(list(x), BANDS, policy=PixelScreen(buffer_px=0))
    assert not res[4].clear[CLOUD].any() and not res[4].clear[SHADOW].any()
    assert res[4].fractions["cloud"] == pytest.approx(100 / 900)
    assert res[4].fractions["shadow"] == pytest.approx(80 / 900)
    others = [r for i, r in enumerate(res) if i != 4]
    assert all(r.clear.all() for r in others)
    assert res[4].clear.sum() == 900 - 180


def test_new_bright_roof_and_new_asphalt_are_kept():
    # bright in blue, but not transient: every later scene shows it
    x = _series(12)
    for t in range(5, 12):
        x[t][(slice(None), *ROOF)] = BRIGHT_ROOF[:, None, None]
        x[t][(slice(None), *SHADOW)] = (ASPHALT * 0.6)[:, None, None]   # dark new asphalt
    x[8][(slice(None), *CLOUD)] = WHITE[:, None, None]
    res = screen_pixels(list(x), BANDS)
    assert all(r.clear[ROOF].all() and r.clear[SHADOW].all() for r in res)
    assert not res[8].clear[CLOUD].any()


def test_the_ends_of_the_series_need_absolute_evidence():
    # a two-scene series: a new surface in the second scene is a change, not a cloud;
    # a thick cloud (blue far above 0.25) is a cloud on either end
    x = _series(2)
    x[1][(slice(None), *ROOF)] = BRIGHT_ROOF[:, None, None] * 0.7
    x[0][(slice(None), *CLOUD)] = WHITE[:, None, None]
    res = screen_pixels(list(x), BANDS, policy=PixelScreen(buffer_px=0))
    assert res[1].clear[ROOF].all()
    assert not res[0].clear[CLOUD].any() and res[1].clear[CLOUD].all()


def test_a_buffer_takes_the_thin_edges_and_specks_are_dropped():
    x = _series()
    x[3][(slice(None), *CLOUD)] = WHITE[:, None, None]
    x[3][:, 20, 20] += 0.2                      # one bright pixel: noise, a car, not a cloud
    res = screen_pixels(list(x), BANDS, policy=PixelScreen(buffer_px=1))
    assert not res[3].clear[1:13, 1:13].any() and res[3].clear[20, 20]
    assert res[3].clear_fraction == pytest.approx(1 - 144 / 900)


def test_screening_needs_a_blue_band():
    with pytest.raises(DataError, match="blue band"):
        screen_pixels([np.zeros((1, 4, 4))] * 3, ["NDVI"])


def test_local_files_without_masks_are_screened_and_reported(tmp_path: Path):
    x = _series(8)
    x[2][(slice(None), *CLOUD)] = WHITE[:, None, None]
    x[5][(slice(None), *SHADOW)] *= 0.4
    folder = tmp_path / "scenes"
    for t in range(8):
        day = f"{2020 + t // 4}-{['02', '05', '08', '11'][t % 4]}-15"
        data = np.round(x[t] * 10000).astype("uint16")
        write_cog(Raster(data, TRANSFORM, CRS, band_names=BANDS, dates=(day,), nodata=0,
                         provenance=Provenance("test", (f"S2TEST_{day}",))),
                  folder / f"site_{day}.tif", overviews=False)
    from shapely.geometry import box

    geom = reproject_geometry(box(616000, 4431500 - 300, 616300, 4431500), CRS, "EPSG:4326")
    src = LocalSource(folder)
    assert src.default_bands == BANDS
    eps = build_epochs(src, Site("t", "T", geom.buffer(-1e-6)), "2020-01-01", "2021-12-31",
                       "quarter", bands=["B04", "B08"])      # blue is read for the screening
    assert [e.raster.band_names for e in eps] == [("B04", "B08")] * 8
    shares = [e.screens[0]["fractions"] for e in eps]
    assert shares[2]["cloud"] > 0.1 and shares[5]["shadow"] > 0.08
    assert eps[2].clear_count[CLOUD].max() == 0 and eps[5].clear_count[SHADOW].max() == 0
    assert all(e.clear_fraction == 1.0 for i, e in enumerate(eps) if i not in (2, 5))
    assert eps[0].raster.provenance.processing["screening"]["method"].startswith("spectral")
    assert np.isfinite(eps[1].raster.data).all() and np.allclose(
        eps[1].raster.data[:, 0, 0], FIELD[[2, 3]], atol=0.02)
