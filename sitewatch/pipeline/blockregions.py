"""Change regions of a mask seen block by block: exact across block edges, streamed to disk.

The same regions as :func:`sitewatch.detectors.polygons.regions_from_mask` after
:func:`sitewatch.detectors.postprocess.minimum_mapping_unit` on the whole mask, in
memory that does not grow with the raster:

1. :meth:`RegionTracer.label_block` labels each block (8-connectivity) and sums the
   ground area of each label; :meth:`RegionTracer.link` joins labels that touch
   across block edges into regions (a sparse graph of the edge pairs) and decides
   the minimum mapping unit on each region's total area;
2. :meth:`RegionTracer.trace_block` traces the kept regions of a block with
   :func:`~sitewatch.detectors.polygons.trace_polygons` in pixel coordinates (exact,
   so pieces of a region cut by block edges join exactly; valid polygons) and sums
   their statistics and the area of each change type. Regions that lie in one block
   are finished there (polygon in the grid's CRS and WGS84, area as the sum of its
   pixels' geodesic areas, centroid, means) and written to a scratch file as GeoJSON
   features; the pieces of the others wait for their last block;
3. :meth:`RegionTracer.write_geojson` writes the FeatureCollection, largest
   region first with ids 1..n, reading the features back one by one.

Examples
--------
>>> import numpy as np, tempfile, json, pathlib
>>> from affine import Affine
>>> from sitewatch.imagery.blocks import row_blocks
>>> m = np.zeros((8, 6), bool); m[1:6, 2:4] = True; m[7, 0] = True
>>> tr = RegionTracer(Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651", m.shape,
...                   min_area_m2=150, scratch=tempfile.mkdtemp())
>>> blocks = row_blocks(8, 3)
>>> tr.link([tr.label_block(b, m[b.row0:b.row1]) for b in blocks])
>>> for b in blocks:
...     final, regs = tr.trace_block(b, m[b.row0:b.row1], {})
...     tr.add(b.index, regs)
>>> path = tempfile.mkdtemp() + "/r.geojson"
>>> tr.write_geojson(path)["regions"]
1
>>> f = json.loads(pathlib.Path(path).read_text())["features"][0]
>>> f["id"], f["properties"]["pixels"], round(f["properties"]["area_m2"])
(1, 10, 1001)
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from sitewatch.atomic import publish, temp_path_beside
from sitewatch.detectors.composition import N_CODES, composition, region_class
from sitewatch.detectors.polygons import (
    Region,
    regions_to_geojson,
    trace_polygons,
    valid_geometry,
)
from sitewatch.imagery.blocks import RowBlock
from sitewatch.raster import pixel_area_m2
from sitewatch.types import ChangeType

__all__ = ["RegionTracer", "LabelInfo", "BlockRegions"]

_NTYPES = N_CODES
_STRUCT8 = np.ones((3, 3), bool)
_ID = '"@@REGION_ID@@"'  # placeholder for the rank, filled in when the collection is written


@dataclass
class LabelInfo:
    """What labelling one block found: label count, area per label, edge rows."""

    n: int
    area: np.ndarray
    top: np.ndarray
    bottom: np.ndarray


@dataclass
class BlockRegions:
    """Regions traced in one block: finished features, and pieces of unfinished ones."""

    pixels: int = 0
    area: float = 0.0
    features: list[tuple[int, float, str]] = field(default_factory=list)  # (rid, area, json)
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    if not mask.any():
        return np.zeros(mask.shape, "int32"), 0
    lab, n = ndimage.label(mask, structure=_STRUCT8)
    return lab.astype("int32", copy=False), int(n)


def _edge_pairs(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """(K, 2) labels touching across a block edge, 8-connectivity."""
    pairs = []
    for d in (-1, 0, 1):
        u = upper[max(0, -d):upper.size - max(0, d)]
        lo = lower[max(0, d):lower.size - max(0, -d)]
        hit = (u > 0) & (lo > 0)
        if hit.any():
            pairs.append(np.stack([u[hit], lo[hit]], axis=1))
    return np.concatenate(pairs).astype("int64") if pairs else np.zeros((0, 2), "int64")


class RegionTracer:
    """Regions, minimum mapping unit and polygons of a mask given in row blocks.

    Parameters
    ----------
    transform : affine.Affine
        Of the whole raster.
    crs : str
    shape : (rows, cols)
        Of the whole raster.
    min_area_m2 : float
        Regions with a smaller geodesic pixel area are dropped.
    scratch : path-like
        Folder for the features file.
    extra : dict, optional
        Copied into every region's statistics (e.g. the two dates).
    """

    def __init__(self, transform: Affine, crs: str, shape: tuple[int, int], *,
                 min_area_m2: float, scratch: str | os.PathLike[str],
                 extra: dict[str, Any] | None = None) -> None:
        self.transform, self.crs, self.shape = transform, crs, shape
        self.min_area_m2 = float(min_area_m2)
        self.extra = dict(extra or {})
        # the whole raster's pixel areas, so every block uses the in-memory values
        self.pixel_area = pixel_area_m2(transform, crs, shape)
        self._features_path = Path(scratch) / "features.jsonl"
        self._fh = open(self._features_path, "w+b")  # noqa: SIM115 - closed in write_geojson
        self._index: list[tuple[int, float, int, int]] = []  # rid, area, offset, length
        self._pending: dict[int, dict[str, Any]] = {}
        self._local = threading.local()
        self.pixels = 0
        self.area = 0.0
        self.largest: list[dict[str, Any]] = []

    # -- 1. labels and the minimum mapping unit -----------------------------------------
    def _areas(self, row0: int, row1: int, shape: tuple[int, int]) -> np.ndarray:
        return np.broadcast_to(self.pixel_area[row0:row1], shape)

    def label_block(self, block: RowBlock, mask: np.ndarray) -> LabelInfo:
        """Label one block's (rows, cols) mask; thread-safe."""
        lab, n = _label(np.asarray(mask, bool))
        area = ndimage.sum_labels(self._areas(block.row0, block.row1, lab.shape), lab,
                                  np.arange(1, n + 1)) if n else np.zeros(0)
        return LabelInfo(n, np.asarray(area, "float64"), lab[0].copy(), lab[-1].copy())

    def link(self, infos: Sequence[LabelInfo]) -> None:
        """Join labels across block edges (blocks in order) and apply the mapping unit."""
        offsets = np.concatenate([[0], np.cumsum([i.n for i in infos])]).astype("int64")
        total = int(offsets[-1])
        edges = [np.zeros((0, 2), "int64")]
        for k in range(1, len(infos)):
            pairs = _edge_pairs(infos[k - 1].bottom, infos[k].top)
            edges.append(pairs + np.array([offsets[k - 1], offsets[k]]) - 1)
        e = np.concatenate(edges)
        ncomp, comp = 0, np.zeros(0, "int64")
        if total:
            graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(total, total))
            ncomp, comp = connected_components(graph, directed=False)
        area = np.zeros(ncomp)
        np.add.at(area, comp, np.concatenate([i.area for i in infos]) if total else [])
        keep = area >= self.min_area_m2 if self.min_area_m2 > 0 else np.ones(ncomp, bool)
        # kept regions get ids 1..K in order of first appearance (raster order)
        kept = comp[keep[comp]]
        first = kept[np.sort(np.unique(kept, return_index=True)[1])]
        rid = np.zeros(ncomp, "int64")
        rid[first] = np.arange(1, first.size + 1)
        self.label_to_region = np.zeros(total + 1, "int64")
        self.label_to_region[1:] = rid[comp]
        # blocks in which each region lies: finished in its last one
        block_of = np.repeat(np.arange(len(infos)), [i.n for i in infos])
        self.first_block = np.full(first.size + 1, len(infos), "int64")
        self.last_block = np.full(first.size + 1, -1, "int64")
        r = self.label_to_region[1:]
        np.minimum.at(self.first_block, r, block_of)
        np.maximum.at(self.last_block, r, block_of)
        self.offsets = offsets
        self.regions_total = int(first.size)

    # -- 2. tracing ---------------------------------------------------------------------
    def _transformers(self) -> Transformer | None:
        if not hasattr(self._local, "to_ll"):
            c = CRS.from_user_input(self.crs)
            self._local.to_ll = None if c.to_epsg() == 4326 else \
                Transformer.from_crs(c, CRS.from_user_input("EPSG:4326"), always_xy=True)
        return self._local.to_ll  # type: ignore[no-any-return]

    def _finish(self, items: list[dict[str, Any]]) -> list[tuple[int, float, str]]:
        """Polygons in pixel coordinates and sums -> GeoJSON features (rid, area, json)."""
        if not items:
            return []
        gt = self.transform.to_gdal()

        def to_crs(xy: np.ndarray) -> np.ndarray:  # GDAL's order of operations, bit for bit
            col, row = xy[:, 0], xy[:, 1]
            return np.stack([gt[0] + col * gt[1] + row * gt[2],
                             gt[3] + col * gt[4] + row * gt[5]], axis=1)

        geoms = shapely.transform(np.array([it["geom"] for it in items], dtype=object), to_crs)
        to_ll = self._transformers()
        if to_ll is None:
            lls = geoms
        else:
            def ll(xy: np.ndarray) -> np.ndarray:
                x, y = to_ll.transform(xy[:, 0], xy[:, 1])
                return np.stack([x, y], axis=1)

            lls = shapely.transform(geoms, ll)
        cents = shapely.centroid(lls)
        out = []
        for it, geom, g_ll, c in zip(items, geoms, lls, cents, strict=True):
            g_ll = valid_geometry(g_ll)
            stats: dict[str, Any] = dict(self.extra)
            with np.errstate(invalid="ignore", divide="ignore"):
                for k in ("magnitude", "probability"):
                    if k in it:
                        stats[f"mean_{k}"] = float(it[k][0] / it[k][1])
            shares = composition(it["types"]) if "types" in it else {}
            ctype = int(region_class(shares)) if shares else int(ChangeType.OTHER)
            area = it["area"]  # the sum of its pixels' areas, as in memory
            region = Region(0, geom, g_ll, area, int(it["count"]), (c.x, c.y), ctype, stats,
                            shares)
            feat = regions_to_geojson([region])["features"][0]
            feat["id"] = feat["properties"]["id"] = "@@REGION_ID@@"
            out.append((it["rid"], area, json.dumps(feat, ensure_ascii=False)))
        return out

    def trace_block(self, block: RowBlock, mask: np.ndarray, arrays: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, BlockRegions]:
        """Final (rows, cols) mask of a block and its regions; thread-safe.

        ``mask`` is the block's mask before the mapping unit; ``arrays`` may hold
        ``magnitude``/``probability`` (averaged per region) and ``change_type``.
        """
        lab, _ = _label(np.asarray(mask, bool))
        reg = self.label_to_region[np.where(lab > 0, lab + self.offsets[block.index], 0)]
        final = reg > 0
        res = BlockRegions(pixels=int(final.sum()))
        ids = np.unique(reg[final])
        if not ids.size:
            return final, res
        px_area = self._areas(block.row0, block.row1, final.shape)[final]
        res.area = float(px_area.sum())
        idx = np.searchsorted(ids, reg[final])
        sums: dict[str, Any] = {"count": np.bincount(idx, minlength=ids.size),
                                "area": np.bincount(idx, px_area, minlength=ids.size)}
        for k in ("magnitude", "probability"):
            if k == "probability" and "magnitude" in sums and \
                    arrays.get(k) is arrays.get("magnitude"):  # one array (cnn, fused)
                sums[k] = sums["magnitude"]
            elif arrays.get(k) is not None:
                v = arrays[k][final].astype("float64")
                ok = np.isfinite(v)
                sums[k] = (np.bincount(idx[ok], v[ok], minlength=ids.size),
                           np.bincount(idx[ok], minlength=ids.size))
        if arrays.get("change_type") is not None:
            ct = arrays["change_type"][final].astype("int64")
            # area per type (the in-memory composition's weights, summed over blocks)
            sums["types"] = np.bincount(idx * _NTYPES + ct, weights=px_area,
                                        minlength=ids.size * _NTYPES
                                        ).reshape(ids.size, _NTYPES)
        # pixel coordinates of the whole raster: exact, so cut pieces join exactly
        traced = trace_polygons(reg, Affine.translation(0, block.row0), mask=final)
        pieces: dict[int, list[BaseGeometry]] = {rid: [g] for rid, g in traced.items()}
        done = []
        for j, rid in enumerate(ids.tolist()):
            it: dict[str, Any] = {"rid": rid, "count": int(sums["count"][j]),
                                  "area": float(sums["area"][j]), "pieces": pieces[rid]}
            for k in ("magnitude", "probability"):
                if k in sums:
                    it[k] = (float(sums[k][0][j]), int(sums[k][1][j]))
            if "types" in sums:
                it["types"] = sums["types"][j]
            if self.first_block[rid] == self.last_block[rid]:
                it["geom"] = it.pop("pieces")[0]
                done.append(it)
            else:
                res.pending[rid] = it
        res.features = self._finish(done)
        return final, res

    def add(self, block_index: int, res: BlockRegions) -> None:
        """Take one block's regions (call in block order); write the finished ones."""
        self.pixels += res.pixels
        self.area += res.area
        items = []
        for rid, it in res.pending.items():
            acc = self._pending.setdefault(rid, it)
            if acc is not it:
                acc["count"] += it["count"]
                acc["area"] += it["area"]
                acc["pieces"].extend(it["pieces"])
                for k in ("magnitude", "probability"):
                    if k in it:
                        acc[k] = (acc[k][0] + it[k][0], acc[k][1] + it[k][1])
                if "types" in it:
                    acc["types"] = acc["types"] + it["types"]
            if self.last_block[rid] == block_index:  # its last piece: complete
                acc = self._pending.pop(rid)
                g = shapely.union_all(acc.pop("pieces"))
                # drop vertices left on joined block edges; the result is checked again
                acc["geom"] = valid_geometry(shapely.simplify(g, 0))
                items.append(acc)
        for rid, area, text in [*res.features, *self._finish(items)]:
            data = text.encode("utf-8")
            self._index.append((rid, area, self._fh.tell(), len(data)))
            self._fh.write(data)

    # -- 3. the collection --------------------------------------------------------------
    def write_geojson(self, dest: str | os.PathLike[str], *,
                      properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write every region as a GeoJSON FeatureCollection, largest first; facts back."""
        if self._pending:  # every region is finished by its last block
            raise RuntimeError(f"{len(self._pending)} regions were never completed")
        idx = np.array([(r, a) for r, a, _, _ in self._index], dtype="float64").reshape(-1, 2)
        # largest first, equal areas (to 1e-6 m², as in memory) in raster order
        order = np.lexsort((idx[:, 0], -np.round(idx[:, 1], 6))) if len(idx) else \
            np.zeros(0, "int64")
        dest = Path(dest)
        tmp = temp_path_beside(dest)
        self.largest = []
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                head: dict[str, Any] = {"type": "FeatureCollection", "features": []}
                if properties:
                    head["properties"] = properties
                text = json.dumps(head, ensure_ascii=False)
                cut = text.index('"features": [') + len('"features": [')
                out.write(text[:cut])
                for rank, i in enumerate(order.tolist(), start=1):
                    _, _, off, n = self._index[i]
                    self._fh.seek(off)
                    feat = self._fh.read(n).decode("utf-8").replace(_ID, str(rank))
                    out.write((", " if rank > 1 else "") + feat)
                    if rank <= 5:
                        self.largest.append(json.loads(feat)["properties"])
                out.write(text[cut:] + "\n")
            publish(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
            self._fh.close()
            self._features_path.unlink(missing_ok=True)
        return {"regions": len(order), "changed_pixels": self.pixels,
                "changed_area_m2": self.area, "largest": self.largest}
