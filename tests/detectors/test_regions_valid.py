"""Every polygon traced is valid (OGC), in memory, block by block and for timeline events,
and tracing changes no area: corner-touching pixels, holes, rings touching at a point."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from scipy import ndimage
from shapely.geometry import Polygon, shape

from sitewatch.detectors.polygons import regions_from_mask, trace_polygons, valid_geometry
from sitewatch.detectors.timeline_events import timeline_events
from sitewatch.errors import DataError
from sitewatch.imagery.blocks import row_blocks
from sitewatch.pipeline.blockregions import RegionTracer
from sitewatch.raster import pixel_area_m2

T = Affine(10, 0, 500000, 0, -10, 4000000)
CRS = "EPSG:32651"


def _masks(n: int = 12, seed: int = 1412) -> list[np.ndarray]:
    """Random speckled masks full of diagonal contacts, holes and pinched rings."""
    rng = np.random.default_rng(seed)
    out = [np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], bool),      # an X: corners only
           np.pad(np.ones((5, 5), bool), 1) ^ np.pad(np.eye(5, dtype=bool), 1)]
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False
    ring[4, 4] = True  # the hole touches the ring at one corner
    out.append(ring)
    for _ in range(n):
        m = ndimage.binary_opening(rng.random((48, 56)) < 0.5) | (rng.random((48, 56)) < 0.12)
        out.append(m)
    return out


@pytest.mark.parametrize("k", range(15))
def test_in_memory_regions_are_valid_with_their_pixel_area(k):
    mask = _masks()[k]
    regions = regions_from_mask(mask, T, CRS, min_area_m2=0)
    px = pixel_area_m2(T, CRS, mask.shape)
    assert sum(r.pixels for r in regions) == mask.sum()
    for r in regions:
        assert r.geometry.is_valid and r.geometry_wgs84.is_valid
        assert r.geometry.area == pytest.approx(r.pixels * 100.0, rel=1e-9)  # exact in UTM
    total = sum(r.area_m2 for r in regions)
    assert total == pytest.approx(float((np.broadcast_to(px, mask.shape) * mask).sum()),
                                  rel=1e-3)


def test_gdal_pinches_rings_the_tracer_does_not():
    from rasterio import features

    x = np.array([[1, 0], [0, 1]], "int32")
    (g, _), = list(features.shapes(x, mask=x > 0, connectivity=8))
    assert not shape(g).is_valid  # what the regions were before: a ring pinched at a corner
    traced = trace_polygons(x, T)[1]
    assert traced.is_valid and traced.geom_type == "MultiPolygon" and traced.area == 200


@pytest.mark.parametrize("k", [0, 1, 2, 5, 9])
@pytest.mark.parametrize("block_rows", [3, 7])
def test_block_regions_are_valid_and_equal_the_in_memory_ones(k, block_rows):
    mask = _masks()[k]
    types = np.where(mask, 1 + (np.arange(mask.size).reshape(mask.shape) % 7), 0)
    mem = regions_from_mask(mask, T, CRS, change_type=types, min_area_m2=150)
    scratch = tempfile.mkdtemp()
    tr = RegionTracer(T, CRS, mask.shape, min_area_m2=150, scratch=scratch)
    blocks = row_blocks(mask.shape[0], block_rows)
    tr.link([tr.label_block(b, mask[b.row0:b.row1]) for b in blocks])
    for b in blocks:
        _, regs = tr.trace_block(b, mask[b.row0:b.row1],
                                 {"change_type": types[b.row0:b.row1].astype("uint8")})
        tr.add(b.index, regs)
    path = Path(scratch) / "r.geojson"
    tr.write_geojson(path)
    feats = json.loads(path.read_text())["features"]
    assert len(feats) == len(mem)
    for f, r in zip(feats, mem, strict=True):
        g = shape(f["geometry"])
        assert g.is_valid
        assert g.equals(r.geometry_wgs84)
        assert f["properties"]["area_m2"] == pytest.approx(r.area_m2, abs=0.051)
        assert f["properties"]["composition"] == r.properties()["composition"]
        assert f["properties"]["change_type"] == r.properties()["change_type"]


def test_timeline_events_are_valid():
    mask = _masks()[4]
    date = np.where(mask, (np.arange(mask.size).reshape(mask.shape) // 700) % 3, -1)
    events = timeline_events(date, T, CRS, last_unchanged=np.where(date >= 0, date - 1, -1),
                             change_type=np.where(mask, 3, 0))
    assert events
    for e in events:
        assert e.geometry.is_valid and e.geometry_wgs84.is_valid
        assert e.geometry.area == pytest.approx(e.pixels * 100.0, rel=1e-9)


def test_repair_keeps_the_area_or_refuses():
    pinched = Polygon([(0, 0), (2, 0), (2, 2), (1, 1), (0, 2), (1, 1), (0, 0)])
    fixed = valid_geometry(pinched)
    assert fixed.is_valid and fixed.area == pytest.approx(pinched.area, rel=1e-3)
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])  # signed area 0, true area 2
    with pytest.raises(DataError, match="area"):
        valid_geometry(bowtie)
