"""Block I/O for rasters larger than memory: row blocks, a pair reader, scratch arrays, COGs.

- :func:`row_blocks` cuts a raster into full-width row blocks, each optionally
  read with ``halo`` extra rows above and below (context for neighbourhood
  operations), so a block's result equals the whole-array result on its rows.
- :class:`PairReader` reads the same rows of a before/after pair of files as
  float32 reflectance with NaN for missing pixels, exactly as the ``local`` source
  loads a whole file (integers times the file's scale, 1e-4 by default; no-data,
  the internal mask and non-finite values are missing).
- :class:`ScratchArray` is a plain row-major file on disk for intermediate
  (M, N) arrays, written and read by rows from any thread (``pwrite``/``pread``);
  it never counts against memory.
- :func:`scratch_to_cog` turns scratch arrays into a Cloud-Optimized GeoTIFF
  through a VRT, without another copy, with sitewatch's tags (band names, dates,
  provenance, attribution), atomically.

Examples
--------
>>> [(b.row0, b.row1, b.read0, b.read1) for b in row_blocks(10, 4, halo=1)]
[(0, 4, 0, 5), (4, 8, 3, 9), (8, 10, 7, 10)]
>>> import tempfile, numpy as np
>>> s = ScratchArray(tempfile.mkdtemp() + "/a.raw", (3, 4), "float32")
>>> s.write_rows(1, np.ones((2, 4), "float32"))
>>> s.read_rows(0, 3).sum(axis=1).tolist()
[0.0, 4.0, 4.0]
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from sitewatch.atomic import publish, temp_path_beside
from sitewatch.attribution import copernicus_attribution
from sitewatch.errors import CorruptFileError, DataError
from sitewatch.imagery.io import _json_tag
from sitewatch.raster import Provenance, normalize_crs

__all__ = ["RowBlock", "row_blocks", "PairReader", "StackReader", "ScratchArray", "scratch_to_cog",
           "file_tile_rows"]

log = logging.getLogger(__name__)

_TAG_BANDS = "SITEWATCH_BAND_NAMES"
_TAG_DATES = "SITEWATCH_DATES"
_TAG_PROV = "SITEWATCH_PROVENANCE"
_TAG_ATTRS = "SITEWATCH_ATTRS"


@dataclass(frozen=True)
class RowBlock:
    """Rows ``row0:row1`` of a raster, read as ``read0:read1`` (with the halo)."""

    index: int
    row0: int
    row1: int
    read0: int
    read1: int

    @property
    def core(self) -> slice:
        """The block's own rows inside the array read for it."""
        return slice(self.row0 - self.read0, self.row1 - self.read0)

    @property
    def height(self) -> int:
        return self.row1 - self.row0


def row_blocks(height: int, block_rows: int, *, halo: int = 0) -> list[RowBlock]:
    """Full-width blocks of ``block_rows`` rows covering ``height`` rows."""
    if block_rows < 1:
        raise DataError(f"block_rows must be at least 1, got {block_rows}")
    out = []
    for i, r0 in enumerate(range(0, height, block_rows)):
        r1 = min(r0 + block_rows, height)
        out.append(RowBlock(i, r0, r1, max(0, r0 - halo), min(height, r1 + halo)))
    return out


@dataclass(frozen=True)
class _FileInfo:
    path: str
    names: tuple[str, ...]
    dates: tuple[str, ...]
    provenance: Provenance
    scale: float
    integer: bool
    nodata: float | None
    per_dataset_mask: bool
    crs: str
    transform: Affine
    shape: tuple[int, int]
    block_rows: int


def _file_info(path: str | os.PathLike[str]) -> _FileInfo:
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            names = _json_tag(tags, _TAG_BANDS, None, path) or \
                [d or f"band{i + 1}" for i, d in enumerate(src.descriptions)]
            attrs = _json_tag(tags, _TAG_ATTRS, {}, path)
            if src.crs is None:
                raise DataError(f"{path} has no CRS: it is not georeferenced")
            return _FileInfo(
                str(path), tuple(names), tuple(_json_tag(tags, _TAG_DATES, [], path)),
                Provenance.from_dict(_json_tag(tags, _TAG_PROV, {}, path)),
                float(attrs.get("scale", 1e-4)), np.issubdtype(src.dtypes[0], np.integer),
                src.nodata, MaskFlags.per_dataset in src.mask_flag_enums[0],
                normalize_crs(src.crs), src.transform, (src.height, src.width),
                int(src.block_shapes[0][0]))
    except RasterioIOError as err:
        raise CorruptFileError(f"cannot read {path} as a raster ({err}); check the path") from err
    except RasterioError as err:
        raise CorruptFileError(f"{path} is damaged ({err}); fetch it again") from err


def file_tile_rows(path: str | os.PathLike[str]) -> int:
    """Height of the file's internal tiles (blocks aligned to it decode each tile once)."""
    return _file_info(path).block_rows


def _read_raw(src: Any, info: _FileInfo, bands: Sequence[str], r0: int, r1: int,
              c0: int = 0, c1: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw (B, rows, cols) pixels of the named bands in rows r0:r1, cols c0:c1 (default:
    full width) and the (rows, cols) valid mask."""
    idx = [info.names.index(n) + 1 for n in bands]
    c1 = info.shape[1] if c1 is None else c1
    win = Window(c0, r0, c1 - c0, r1 - r0)
    try:
        raw = src.read(idx, window=win)
        ok = np.ones(raw.shape[1:], bool)
        if info.per_dataset_mask:
            ok &= src.dataset_mask(window=win) > 0
    except RasterioError as err:
        raise CorruptFileError(f"{info.path} rows {r0}-{r1}, cols {c0}-{c1} cannot be "
                               f"decoded ({err}); "
                               "the file is damaged: fetch it again") from err
    nodata = info.nodata
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        ok &= (raw != nodata).all(axis=0)
    return raw, ok


#: Pixels per band converted at a time from a small raw buffer (cache-sized chunks).
_CHUNK_PIXELS = 1 << 18
#: Arrays a PairReader keeps for reuse (the two dates of a block: a thread that has
#: finished one takes them for its next; more would only hold memory).
_POOL_SIZE = 2


def _convert(raw: np.ndarray, ok: np.ndarray, info: _FileInfo, *,
             out: np.ndarray | None = None) -> np.ndarray:
    """float32 reflectance (into ``out`` if given): integers times the scale; NaN where not
    ``ok`` or not finite."""
    if info.integer:
        data = np.multiply(raw, np.float32(info.scale), dtype="float32", out=out)
    else:
        data = raw.astype("float32", copy=False) if out is None else out
        if out is not None:
            np.copyto(out, raw, casting="same_kind")
        ok = ok & np.isfinite(data).all(axis=0)
    if not ok.all():
        data[:, ~ok] = np.nan
    return data  # type: ignore[no-any-return]


@dataclass
class _DecodeCache:
    """One file's decoded pixels in scratch files, filled a decode unit at a time."""

    bands: list[ScratchArray]
    ok: ScratchArray
    unit: int
    locks: list[threading.Lock]
    done: np.ndarray


class PairReader:
    """Reads row blocks of a before/after pair of files on one grid.

    Parameters
    ----------
    before, after : path-like
        GeoTIFFs on the same grid (CRS, transform, size), e.g. COGs written by
        sitewatch or any source.
    bands : sequence of str, optional
        Bands to read, by name (default: the bands both files have, in before's order).

    Each thread gets its own open datasets, so blocks can be read in parallel.
    """

    def __init__(self, before: str | os.PathLike[str], after: str | os.PathLike[str], *,
                 bands: Sequence[str] | None = None) -> None:
        self.before, self.after = _file_info(before), _file_info(after)
        b, a = self.before, self.after
        if b.crs != a.crs or b.shape != a.shape or not b.transform.almost_equals(a.transform):
            raise DataError(f"{b.path} and {a.path} are on different grids ({b.shape} {b.crs} "
                            f"vs {a.shape} {a.crs}): warp one onto the other's grid first")
        common = [n for n in b.names if n in a.names]
        self.bands = tuple(bands) if bands is not None else tuple(common)
        for info in (b, a):
            missing = [n for n in self.bands if n not in info.names]
            if missing:
                raise DataError(f"{info.path} has no band {', '.join(missing)} (has "
                                f"{', '.join(info.names)})")
        if not self.bands:
            raise DataError(f"{b.path} and {a.path} share no band name")
        self._local = threading.local()
        self._opened: list[tuple[Any, Any]] = []
        self._cache: dict[str, _DecodeCache] | None = None
        self._pool: list[np.ndarray] = []
        self._pool_lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, int]:
        return self.before.shape

    @property
    def transform(self) -> Affine:
        return self.before.transform

    @property
    def crs(self) -> str:
        return self.before.crs

    def _datasets(self) -> tuple[Any, Any]:
        ds = getattr(self._local, "ds", None)
        if ds is None:
            ds = (rasterio.open(self.before.path), rasterio.open(self.after.path))
            self._local.ds = ds
            self._opened.append(ds)
        return ds  # type: ignore[no-any-return]

    def enable_cache(self, folder: str | os.PathLike[str]) -> None:
        """Decode each file once, into scratch files, and serve every later read from there.

        From now on a read decodes the whole *decode units* its rows touch (runs of
        the file's internal tile rows, at least 256 rows, read with one full-width
        window so GDAL decodes each compressed tile exactly once, on its own
        threads), keeps their raw pixels in scratch files and reads the block's rows
        back from them: blocks with halos, blocks sharing a tile row and later passes
        (detectors that need several) decode nothing again. About ``2 x bands x
        bytes per sample + 2`` bytes per pixel of disk, and no memory.
        """
        folder = Path(folder)
        self._cache = {}
        for tag, info in (("before", self.before), ("after", self.after)):
            dtype = _dtype_of(info.path)
            bands = [ScratchArray(folder / f"{tag}_{n}.raw", self.shape, dtype)
                     for n in self.bands]
            unit = info.block_rows * max(1, -(-256 // max(info.block_rows, 1)))
            n = -(-self.shape[0] // unit)
            self._cache[tag] = _DecodeCache(bands, ScratchArray(folder / f"{tag}_ok.raw",
                                                                self.shape, "uint8"),
                                            unit, [threading.Lock() for _ in range(n)],
                                            np.zeros(n, bool))

    def _decode_units(self, r0: int, r1: int) -> None:
        """Decode the cache units of both files that rows r0:r1 touch and are not yet done.

        A unit another thread is decoding is waited for last: first this thread decodes
        what nobody else is on (the other file's unit, say), so two threads needing the
        same rows decode in parallel instead of one after the other.
        """
        assert self._cache is not None
        todo = []
        for which, (tag, info) in enumerate((("before", self.before), ("after", self.after))):
            c = self._cache[tag]
            todo += [(which, info, c, u) for u in range(r0 // c.unit, -(-r1 // c.unit))]
        for blocking in (False, True):
            for which, info, c, u in todo:
                if c.done[u] or not c.locks[u].acquire(blocking=blocking):
                    continue
                try:  # one thread decodes a unit; others needing it wait for it
                    if not c.done[u]:
                        s0, s1 = u * c.unit, min(self.shape[0], (u + 1) * c.unit)
                        raw, ok = _read_raw(self._datasets()[which], info, self.bands, s0, s1)
                        for i, b in enumerate(c.bands):
                            b.write_rows(s0, raw[i])
                        c.ok.write_rows(s0, ok)
                        del raw
                        c.done[u] = True
                finally:
                    c.locks[u].release()

    def _read_one(self, which: int, r0: int, r1: int) -> np.ndarray:
        info = (self.before, self.after)[which]
        cache = self._cache
        if cache is None:
            raw, ok = _read_raw(self._datasets()[which], info, self.bands, r0, r1)
            return _convert(raw, ok, info)
        self._decode_units(r0, r1)
        c = cache[("before", "after")[which]]
        ok = c.ok.read_rows(r0, r1).view(bool)
        cols = self.shape[1]
        out = self._take((len(c.bands), r1 - r0, cols))
        # a few rows at a time through a small raw buffer: no block-sized temporary
        step = max(1, _CHUNK_PIXELS // max(cols, 1))
        raw = np.empty((len(c.bands), min(step, r1 - r0), cols), c.bands[0].dtype)
        for s0 in range(r0, r1, step):
            s1 = min(r1, s0 + step)
            part = raw[:, :s1 - s0]
            for i, b in enumerate(c.bands):
                b.read_rows(s0, s1, out=part[i])
            _convert(part, ok[s0 - r0:s1 - r0], info, out=out[:, s0 - r0:s1 - r0])
        return out

    def _take(self, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of this shape: a recycled one if any (no fresh pages to fault)."""
        with self._pool_lock:
            for i, arr in enumerate(self._pool):
                if arr.shape == shape:
                    return self._pool.pop(i)
            self._pool = []  # of other shapes (another pass's blocks): free them
        return np.empty(shape, "float32")

    def recycle(self, *arrays: np.ndarray) -> None:
        """Give arrays returned by :meth:`read` back for reuse by later reads.

        Only for arrays the caller and everything it made no longer use: later reads
        overwrite them. Keeps at most a few (about two blocks per reading thread).
        """
        with self._pool_lock:
            for arr in arrays:
                if arr.dtype == np.float32 and arr.flags.c_contiguous and arr.flags.owndata:
                    self._pool.append(arr)
            del self._pool[:-_POOL_SIZE]  # the oldest go (blocks of another shape)

    def read(self, block: RowBlock) -> tuple[np.ndarray, np.ndarray]:
        """(before, after) float32 (B, rows, N) of the block's read rows; NaN = missing."""
        return self._read_one(0, block.read0, block.read1), \
            self._read_one(1, block.read0, block.read1)

    def read_window(self, r0: int, r1: int, c0: int, c1: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(before, after) float32 (B, rows, cols) of rows r0:r1, cols c0:c1; NaN = missing.

        Full-width rows come as :meth:`read` gives them (from the decode cache if it is
        on); a narrower window is decoded from the files (only its own tiles).
        """
        if c0 == 0 and c1 == self.shape[1]:
            return self._read_one(0, r0, r1), self._read_one(1, r0, r1)
        out = []
        for which, info in enumerate((self.before, self.after)):
            raw, ok = _read_raw(self._datasets()[which], info, self.bands, r0, r1, c0, c1)
            out.append(_convert(raw, ok, info, out=self._take(raw.shape)))
        return out[0], out[1]

    def close(self) -> None:
        for pair in self._opened:
            for ds in pair:
                ds.close()
        self._opened = []
        self._local = threading.local()
        for c in (self._cache or {}).values():
            for b in [*c.bands, c.ok]:
                b.close()
        self._cache = None
        self._pool = []


def _dtype_of(path: str) -> str:
    with rasterio.open(path) as src:
        return str(src.dtypes[0])


class ScratchArray:
    """A (M, N) array kept in a plain file, written and read by row ranges."""

    def __init__(self, path: str | os.PathLike[str], shape: tuple[int, int],
                 dtype: str | np.dtype, *, fill: float | None = None) -> None:
        self.path = Path(path)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.ftruncate(self._fd, self._row_bytes * self.shape[0])  # sparse zeros
        if fill not in (None, 0):
            row = np.full((min(self.shape[0], 256), self.shape[1]), fill, self.dtype)
            for r in range(0, self.shape[0], row.shape[0]):
                self.write_rows(r, row[:min(row.shape[0], self.shape[0] - r)])

    def write_rows(self, row0: int, data: np.ndarray) -> None:
        arr = np.ascontiguousarray(data, dtype=self.dtype)
        if arr.ndim != 2 or arr.shape[1] != self.shape[1] or row0 + arr.shape[0] > self.shape[0]:
            raise DataError(f"rows {row0}+{arr.shape} do not fit scratch {self.shape}")
        view = arr.reshape(-1).view(np.uint8).data
        off = row0 * self._row_bytes
        while view:
            n = os.pwrite(self._fd, view, off)
            view, off = view[n:], off + n

    def read_rows(self, row0: int, row1: int, *, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``row0:row1`` (into ``out``, a C-contiguous array of their shape, if given)."""
        if out is None:
            out = np.empty((row1 - row0, self.shape[1]), self.dtype)
        elif out.shape != (row1 - row0, self.shape[1]) or out.dtype != self.dtype \
                or not out.flags.c_contiguous:
            raise DataError(f"cannot read rows {row0}-{row1} of scratch {self.shape} "
                            f"{self.dtype} into {out.shape} {out.dtype}")
        view = out.reshape(-1).view(np.uint8).data
        off = row0 * self._row_bytes
        while view:
            n = os.preadv(self._fd, [view], off)
            if n == 0:
                raise CorruptFileError(f"scratch file {self.path} is shorter than expected")
            view, off = view[n:], off + n
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # pragma: no cover - safety net
        try:
            self.close()
        except OSError:
            pass


_GDAL_TYPES = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
               "int32": "Int32", "float32": "Float32", "float64": "Float64"}


def _vrt(arrays: Sequence[ScratchArray], names: Sequence[str], transform: Affine, crs: str,
         nodata: float | None, tags: dict[str, str]) -> str:
    rows, cols = arrays[0].shape
    wkt = rasterio.crs.CRS.from_user_input(crs).to_wkt()
    gt = ", ".join(repr(v) for v in transform.to_gdal())
    meta = "".join(f'<MDI key="{escape(k)}">{escape(v)}</MDI>' for k, v in tags.items())
    bands = []
    for i, (arr, name) in enumerate(zip(arrays, names, strict=True), start=1):
        nd = "" if nodata is None else f"<NoDataValue>{nodata!r}</NoDataValue>"
        bands.append(
            f'<VRTRasterBand dataType="{_GDAL_TYPES[arr.dtype.name]}" band="{i}" '
            f'subClass="VRTRawRasterBand"><Description>{escape(name)}</Description>{nd}'
            f'<SourceFilename relativetoVRT="0">{escape(str(arr.path))}</SourceFilename>'
            f"<ImageOffset>0</ImageOffset><PixelOffset>{arr.dtype.itemsize}</PixelOffset>"
            f"<LineOffset>{cols * arr.dtype.itemsize}</LineOffset><ByteOrder>LSB</ByteOrder>"
            "</VRTRasterBand>")
    return (f'<VRTDataset rasterXSize="{cols}" rasterYSize="{rows}"><SRS>{escape(wkt)}</SRS>'
            f"<GeoTransform>{gt}</GeoTransform><Metadata>{meta}</Metadata>"
            + "".join(bands) + "</VRTDataset>")


def scratch_to_cog(arrays: Sequence[ScratchArray], dest: str | os.PathLike[str], *,
                   band_names: Sequence[str], transform: Affine, crs: str,
                   nodata: float | None = None, dates: Sequence[str] = (),
                   provenance: Provenance | None = None, attrs: dict[str, Any] | None = None,
                   compress: str = "DEFLATE", level: int = 6, overview_resampling: str = "nearest",
                   threads: int | str = "ALL_CPUS") -> Path:
    """Write scratch arrays (one per band, same shape and dtype) as a COG, atomically.

    The tags are those of :func:`sitewatch.imagery.io.write_cog`, so
    :func:`~sitewatch.imagery.io.read_raster` reads band names, dates and provenance back.
    """
    if len({a.dtype for a in arrays}) != 1 or len({a.shape for a in arrays}) != 1:
        raise DataError("scratch arrays of one COG must share shape and dtype")
    dest = Path(dest)
    tags = {_TAG_BANDS: json.dumps(list(band_names)), _TAG_DATES: json.dumps(list(dates)),
            _TAG_PROV: json.dumps((provenance or Provenance()).to_dict(), default=str),
            _TAG_ATTRS: json.dumps(attrs or {}, default=str), "TIFFTAG_SOFTWARE": "sitewatch"}
    if dates:
        tags["TIFFTAG_COPYRIGHT"] = copernicus_attribution(dates)
    vrt = _vrt(arrays, band_names, transform, crs, nodata, tags)
    dtype = arrays[0].dtype
    predictor = 3 if np.issubdtype(dtype, np.floating) else 2
    tmp = temp_path_beside(dest)
    try:
        with rasterio.Env(GDAL_NUM_THREADS=str(threads)):
            rasterio.shutil.copy(vrt, tmp, driver="COG", compress=compress, level=level,
                                 predictor=predictor, blocksize=512, overviews="AUTO",
                                 overview_resampling=overview_resampling, BIGTIFF="IF_SAFER",
                                 num_threads=str(threads))
        publish(tmp, dest)
    except RasterioError as err:
        raise DataError(f"cannot write {dest}: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)
    return dest


class StackReader:
    """Reads the same rows of a series of files on one grid (epoch composites, counts).

    Parameters
    ----------
    paths : sequence of path-like or None
        One file per epoch; None for a gap.

    Each thread gets its own open datasets. Pixels are read as
    :class:`PairReader` reads them (float32, NaN where missing) or raw.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str] | None]) -> None:
        self.infos = [None if p is None else _file_info(p) for p in paths]
        present = [i for i in self.infos if i is not None]
        if not present:
            raise DataError("every epoch is a gap: no file to read")
        ref = present[0]
        for info in present[1:]:
            if info.crs != ref.crs or info.shape != ref.shape or \
                    not info.transform.almost_equals(ref.transform):
                raise DataError(f"{info.path} is on another grid than {ref.path}: build all "
                                "epochs on the site's grid")
        self.shape, self.transform, self.crs = ref.shape, ref.transform, ref.crs
        self._local = threading.local()
        self._opened: list[Any] = []

    def _ds(self, i: int) -> Any:
        ds = getattr(self._local, "ds", None)
        if ds is None:
            ds = self._local.ds = {}
        if i not in ds:
            info = self.infos[i]
            assert info is not None
            ds[i] = rasterio.open(info.path)
            self._opened.append(ds[i])
        return ds[i]

    def read(self, i: int, r0: int, r1: int, bands: Sequence[str] | None = None
             ) -> np.ndarray | None:
        """(B, rows, N) float32 of file ``i`` (NaN where missing); None for a gap."""
        info = self.infos[i]
        if info is None:
            return None
        names = tuple(bands) if bands is not None else info.names
        missing = [n for n in names if n not in info.names]
        if missing:
            raise DataError(f"{info.path} has no band {', '.join(missing)}")
        raw, ok = _read_raw(self._ds(i), info, names, r0, r1)
        return _convert(raw, ok, info)

    def read_raw(self, i: int, r0: int, r1: int) -> np.ndarray | None:
        """(rows, N) first band of file ``i`` as stored (e.g. clear counts); None for a gap."""
        info = self.infos[i]
        if info is None:
            return None
        return self._ds(i).read(1, window=Window(0, r0, info.shape[1], r1 - r0))  # type: ignore[no-any-return]

    def band_names(self, i: int) -> tuple[str, ...]:
        info = self.infos[i]
        return () if info is None else info.names

    def provenance(self, i: int) -> Provenance | None:
        info = self.infos[i]
        return None if info is None else info.provenance

    def close(self) -> None:
        for ds in self._opened:
            ds.close()
        self._opened = []
        self._local = threading.local()
