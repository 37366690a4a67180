"""The timeline on real data: a semi-synthetic OSCD series and the Slovenia NDVI series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from scipy import ndimage
from timeline_helpers import make_epochs

from sitewatch.detectors.timeline_synth import semisynthetic_series
from sitewatch.imagery.epochs import Epoch, composite_median, epoch_windows
from sitewatch.imagery.oscd import read_oscd_labels, read_oscd_pair
from sitewatch.imagery.scene import SceneRecord
from sitewatch.pipeline.timeline import run_timeline
from sitewatch.raster import Provenance, Raster

pytestmark = pytest.mark.realdata

SLOVENIA = Path(__file__).resolve().parents[3] / "shared" / "data" / "eolearn-slovenia" / \
    "example_data" / "TestEOPatch"


def test_semisynthetic_cupertino_changes_are_found_and_dated(oscd_root: Path):
    bands = ("B02", "B03", "B04", "B08", "B11", "B12")
    before, after = read_oscd_pair(oscd_root, "cupertino", bands=bands)
    label = read_oscd_labels(oscd_root, "cupertino")
    assert label is not None
    win = (slice(600, 800), slice(300, 500))      # where the label holds the most change
    b, a = before.data[(slice(None), *win)], after.data[(slice(None), *win)]
    lab = label.data[0][win] == 1
    s = semisynthetic_series(b, a, lab, epochs=10, band_names=bands, seed=1)
    res = run_timeline(make_epochs(s.stack, bands=bands), min_area_m2=200)
    big = lab & ndimage.binary_erosion(lab, iterations=2)   # away from jittered edges
    found = res.changed & big
    assert found.sum() > 0.5 * big.sum()
    ok = np.abs(res.date[found].astype(int) - s.truth_epoch[found]) <= 1
    assert ok.mean() > 0.9


def _slovenia_epochs() -> list[Epoch]:
    ndvi = np.load(SLOVENIA / "data" / "NDVI.npy")[..., 0]
    clp = np.load(SLOVENIA / "data" / "CLP.npy")[..., 0]
    days = [t[:10] for t in json.loads((SLOVENIA / "timestamps.json").read_text())]
    bbox = json.loads((SLOVENIA / "bbox.geojson").read_text())["coordinates"][0]
    x0, y1 = min(p[0] for p in bbox), max(p[1] for p in bbox)
    transform = Affine(10, 0, x0, 0, -10, y1)
    out = []
    for w in epoch_windows(days[0], days[-1], "quarter"):
        idx = [i for i, d in enumerate(days) if w.contains(d)]
        rasters = [Raster(ndvi[i][None], transform, "EPSG:32633", band_names=("NDVI",),
                          dates=(days[i],), provenance=Provenance("eolearn", (f"S2_{days[i]}",)))
                   for i in idx]
        # s2cloudless' own defaults: probability 0.4, clouds grown by 2 pixels
        clear = [~ndimage.binary_dilation(clp[i] >= 0.4, iterations=2) for i in idx]
        comp, count = composite_median(rasters, clear)
        r = Raster(comp, transform, "EPSG:32633", band_names=("NDVI",),
                   dates=tuple(days[i] for i in idx), provenance=Provenance(
                       "eolearn", tuple(f"S2_{days[i]}" for i in idx)))
        out.append(Epoch(w, r, count, [SceneRecord(f"S2_{days[i]}", days[i]) for i in idx]))
    return out


def test_slovenia_series_raises_almost_no_false_events():
    if not SLOVENIA.is_dir():
        pytest.skip(f"eo-learn Slovenia data not found at {SLOVENIA}")
    res = run_timeline(_slovenia_epochs())
    years = 2.45
    # a forest and meadows through three seasons and snow: at most one small event
    assert len(res.events) <= 1
    assert len(res.events) / (res.site_area_m2 / 1e6) / years <= 0.5
    assert res.changed.mean() < 0.005
