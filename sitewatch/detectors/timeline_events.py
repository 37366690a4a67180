"""From per-pixel histories to events: dates agreed by neighbours, regions that changed together.

A pixel's change is known to lie in an interval of epochs: after its last
clear observation of the old state (``last_unchanged``) and no later than its
first clear observation of the new one (``first_epoch``). Under clouds that
interval is wide, but the pixel's neighbours, which changed with it (a road is
paved in one go), were often seen when it was not. :func:`refine_dates` gives
each connected changed region the epoch that the most of its pixels'
intervals contain (the interval-stabbing maximum; on a tie the latest, so that
without better evidence a change is dated when it was seen), and every pixel whose
interval holds that epoch takes it; the others keep theirs, in turn agreed
with the rest of their region. A pixel never gets a date outside its own
interval.

Regions are cut by change type first (:func:`smooth_types` removes the
speckle of types): a road paved next to a yard being filled are two regions
even when one epoch holds both. :func:`timeline_events` then cuts the changed
pixels into **events**: connected regions (8-connected) that changed in the
same epoch and in the same way, each with the window
between the last epoch any part of it was seen unchanged and the epoch it was
first seen changed, its type, area (geodesic m²) and polygon.

Examples
--------
>>> import numpy as np
>>> changed = np.zeros((3, 4), bool); changed[1, :] = True
>>> first = np.array([[-1] * 4, [3, 5, 3, 3], [-1] * 4], "int16")   # one pixel was cloudy at 3, 4
>>> last = np.array([[-1] * 4, [2, 2, 2, 2], [-1] * 4], "int16")
>>> refine_dates(changed, first, last)[1].tolist()
[3, 3, 3, 3]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from scipy import ndimage
from skimage import measure

from sitewatch.detectors.composition import composition, region_class, type_areas
from sitewatch.detectors.polygons import Region, trace_polygons, valid_geometry
from sitewatch.errors import DataError
from sitewatch.raster import pixel_area_m2
from sitewatch.types import ChangeType

__all__ = ["refine_dates", "absorb_slivers", "smooth_types", "timeline_events"]

_EIGHT = np.ones((3, 3), bool)


def refine_dates(changed: np.ndarray, first_epoch: np.ndarray, last_unchanged: np.ndarray, *,
                 groups: np.ndarray | None = None, connectivity: int = 8,
                 rounds: int = 4) -> np.ndarray:
    """Epoch of each changed pixel, agreed with its connected region (see the module docs).

    Parameters
    ----------
    changed : (M, N) bool
    first_epoch, last_unchanged : (M, N) int
        The pixel's interval: changed after ``last_unchanged``, by ``first_epoch``.
    groups : (M, N) int, optional
        Regions agree only within one group (the change type: a road paved next to
        a yard being filled is two regions, each with its own date).
    connectivity : {4, 8}
    rounds : int
        Times the pixels left undated are agreed among themselves.

    Returns
    -------
    (M, N) int16
        Epoch of the change (``last_unchanged < date <= first_epoch``), -1 where unchanged.
    """
    changed = np.asarray(changed, bool)
    first = np.asarray(first_epoch).astype("int64")
    last = np.asarray(last_unchanged).astype("int64")
    if first.shape != changed.shape or last.shape != changed.shape:
        raise DataError("changed, first_epoch and last_unchanged must have one shape")
    date = np.full(changed.shape, -1, "int16")
    if not changed.any():
        return date
    if (first[changed] <= last[changed]).any():
        raise DataError("first_epoch must come after last_unchanged for every changed pixel")
    if groups is None:
        labels, n = ndimage.label(changed, structure=_EIGHT if connectivity == 8 else None)
    else:
        labels = measure.label(np.where(changed, np.asarray(groups).astype("int64") + 1, 0),
                               background=0, connectivity=2 if connectivity == 8 else 1)
        n = int(labels.max())
    n_epochs = int(first[changed].max()) + 2
    flat = np.flatnonzero(changed)
    lab, lo, hi = labels.ravel()[flat], last.ravel()[flat] + 1, first.ravel()[flat]
    todo = np.ones(flat.size, bool)
    out = date.ravel()
    for _ in range(max(rounds, 1)):
        if not todo.any():
            break
        count = np.zeros((n + 1) * n_epochs, "int64")  # +1 from lo, -1 after hi
        np.add.at(count, lab[todo] * n_epochs + lo[todo], 1)
        np.add.at(count, lab[todo] * n_epochs + hi[todo] + 1, -1)
        stab = np.cumsum(count.reshape(n + 1, n_epochs), axis=1)
        # the epoch most intervals hold; on a tie the latest (nearest the observed date)
        best = n_epochs - 1 - stab[:, ::-1].argmax(axis=1)
        e = best[lab]
        hit = todo & (lo <= e) & (e <= hi)
        out[flat[hit]] = e[hit]
        todo &= ~hit
    out[flat[todo]] = hi[todo]  # cannot happen after enough rounds; keep the observed date
    return date


def _neighbour_mode(labels: np.ndarray, values: np.ndarray, small: np.ndarray,
                    accept: Any) -> np.ndarray:
    """Per patch label, the most common neighbouring value (8-connected) of the pixels
    around the ``small`` patches that ``accept(value, neighbour_slices)`` allows; -1 if none.

    ``values`` are >= 0 where set, -1 elsewhere; ``accept`` gets the neighbour values and the
    (row, col) slices that select the neighbours in an array padded by one pixel.
    """
    rows, cols = labels.shape
    n = int(labels.max())
    pad_l = np.pad(labels, 1)
    pad_v = np.pad(values.astype("int64"), 1, constant_values=-1)
    span = int(values.max()) + 1
    pairs = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == dc == 0:
                continue
            sl = (slice(1 + dr, 1 + dr + rows), slice(1 + dc, 1 + dc + cols))
            nl, nv = pad_l[sl], pad_v[sl]
            hit = small[labels] & (nv >= 0) & (nl != labels) & accept(nv, sl)
            pairs.append(labels[hit].astype("int64") * span + nv[hit])
    target = np.full(n + 1, -1, "int64")
    allp = np.concatenate(pairs)
    if allp.size == 0:
        return target
    keys, counts = np.unique(allp, return_counts=True)
    lab_k, val_k = keys // span, keys % span
    order = np.lexsort((-counts, lab_k))  # most common neighbour value first per patch
    lab_k, val_k = lab_k[order], val_k[order]
    first = np.r_[True, lab_k[1:] != lab_k[:-1]]
    target[lab_k[first]] = val_k[first]
    return target


def absorb_slivers(date: np.ndarray, last_unchanged: np.ndarray, min_pixels: int, *,
                   groups: np.ndarray | None = None, rounds: int = 3) -> np.ndarray:
    """Give small same-date slivers the date of the larger neighbour whose epoch they allow.

    A region that changed in one go is sometimes split by a few pixels dated
    later (their interval did not reach back to their neighbours' date, or the
    agreement went the other way). A connected same-date patch smaller than
    ``min_pixels`` takes the most common earlier date among its changed
    neighbours (8-connected), if every pixel of the patch was last seen
    unchanged before it; a patch is never moved after its own first change.
    With ``groups`` (the change type), only a neighbour of the same group counts.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.full((3, 6), 4, "int16"); d[1, 2] = 5; d[0, 5] = -1
    >>> last = np.full((3, 6), 2, "int16")
    >>> int(absorb_slivers(d, last, 2)[1, 2])
    4
    """
    date = np.array(date, dtype="int16", copy=True)
    last = np.asarray(last_unchanged).astype("int64")
    grp = np.zeros(date.shape, "int64") if groups is None else np.asarray(groups, "int64")
    for _ in range(rounds):
        labels = measure.label(np.where(date >= 0, date.astype("int64") * 256 + grp, -1),
                               background=-1, connectivity=2)
        n = int(labels.max())
        if n == 0:
            break
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        ldate = np.full(n + 1, -1, "int64")
        ldate[labels.ravel()] = date.ravel()
        small = (sizes < min_pixels) & (ldate >= 0)
        if not small.any():
            break
        pad_g = np.pad(grp, 1, constant_values=-1)
        target = _neighbour_mode(
            labels, date, small,
            lambda nv, sl, own=ldate[labels], pg=pad_g: (nv < own) & (pg[sl] == grp))
        latest = np.full(n + 1, -1, "int64")
        np.maximum.at(latest, labels.ravel(), last.ravel())
        ok = (target >= 0) & (latest < target)
        if not ok.any():
            break
        move = ok[labels]
        date[move] = target[labels][move]
    return date


def smooth_types(change_type: np.ndarray, min_pixels: int, *, rounds: int = 3) -> np.ndarray:
    """Give type patches smaller than ``min_pixels`` the most common type around them.

    Types come from each pixel's own old and new spectra and speckle at the
    edges of a region; a speck of another type inside a road is the road. A
    connected same-type patch (8-connected) smaller than ``min_pixels`` takes
    the type most of its changed neighbours have; 0 (unchanged) stays 0.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((3, 6), "uint8"); t[1, :] = 1; t[1, 2] = 2
    >>> smooth_types(t, 2)[1].tolist()
    [1, 1, 1, 1, 1, 1]
    """
    out = np.array(change_type, dtype="uint8", copy=True)
    for _ in range(rounds):
        labels = measure.label(out, background=0, connectivity=2)
        n = int(labels.max())
        if n == 0:
            break
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        small = sizes < min_pixels
        small[0] = False
        if not small.any():
            break
        target = _neighbour_mode(labels, np.where(out > 0, out.astype("int64"), -1), small,
                                 lambda nv, sl: nv > 0)
        move = (target > 0)[labels] & small[labels]
        if not move.any():
            break
        out[move] = target[labels][move]
    return out


def timeline_events(date: np.ndarray, transform: Affine, crs: Any, *,
                    last_unchanged: np.ndarray, change_type: np.ndarray | None = None,
                    confidence: np.ndarray | None = None, magnitude: np.ndarray | None = None,
                    min_area_m2: float = 0.0) -> list[Region]:
    """Connected regions that changed in the same epoch and way, as polygons with their window.

    Regions are 8-connected; polygons are traced in one pass over all events with
    :func:`~sitewatch.detectors.polygons.trace_polygons` (valid geometries), areas are
    the sums of the pixels' geodesic areas, and an event's type comes from the area
    shares of its pixels' types (:mod:`sitewatch.detectors.composition`).

    Parameters
    ----------
    date : (M, N) int
        Epoch of each pixel's change, -1 where unchanged (:func:`refine_dates`).
    transform, crs
        The grid.
    last_unchanged : (M, N) int
        Each pixel's last clear epoch of the old state.
    change_type : (M, N) uint8, optional
        :class:`~sitewatch.types.ChangeType` codes: an event is one type (adjacent
        changes of different types are separate events), so its composition is that
        type alone; a map cut otherwise would take its dominant type, or ``MIXED``.
    confidence, magnitude : (M, N) float, optional
        Averaged over each event (``mean_probability``, ``mean_magnitude``).
    min_area_m2 : float
        Smaller events are left out.

    Returns
    -------
    list of Region
        In time order, largest first within an epoch; ``stats`` hold ``epoch``
        (first seen changed) and ``after_epoch`` (last seen unchanged, the
        latest over the region; -1 if never).

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> d = np.full((6, 6), -1); d[1:3, 1:4] = 2; d[4:6, 4:6] = 5
    >>> ev = timeline_events(d, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32651",
    ...                      last_unchanged=np.where(d >= 0, d - 1, -1))
    >>> [(e.stats["epoch"], e.stats["after_epoch"], round(e.area_m2)) for e in ev]
    [(2, 1, 600), (5, 4, 400)]
    """
    date = np.asarray(date)
    key = date.astype("int64") * 256
    if change_type is not None:
        key = key + np.asarray(change_type).astype("int64")
    labels = measure.label(np.where(date >= 0, key, -1), background=-1,
                           connectivity=2).astype("int32")
    n = int(labels.max())
    if n == 0:
        return []
    flat = labels.ravel()
    idx = np.arange(1, n + 1)
    area = np.broadcast_to(pixel_area_m2(transform, crs, date.shape), date.shape).ravel()
    pixels = np.bincount(flat, minlength=n + 1)
    areas = np.bincount(flat, weights=area, minlength=n + 1)
    epoch = np.full(n + 1, -1, "int64")
    epoch[flat] = date.ravel()
    after = np.asarray(ndimage.maximum(np.asarray(last_unchanged), labels, idx), "int64")
    by_type = None if change_type is None else \
        type_areas(labels, change_type, n, pixel_area=area.reshape(date.shape))

    def mean_of(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        v = np.asarray(values, "float64").ravel()
        ok = np.isfinite(v)
        s = np.bincount(flat[ok], weights=v[ok], minlength=n + 1)
        c = np.bincount(flat[ok], minlength=n + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / c

    conf, mag = mean_of(confidence), mean_of(magnitude)
    keep = areas >= min_area_m2
    keep[0] = False
    parts = trace_polygons(labels, transform, mask=keep[labels])
    labs = np.array(sorted(parts), "int64")
    if labs.size == 0:
        return []
    geoms = np.array([parts[int(lab)] for lab in labs], dtype=object)
    to_ll = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
    geoms_ll = shapely.transform(geoms, lambda x, y: to_ll.transform(x, y), interleaved=False)
    cents = shapely.centroid(geoms_ll)
    events = []
    for lab, g, g_ll, c in zip(labs, geoms, geoms_ll, cents, strict=True):
        stats: dict[str, Any] = {"epoch": int(epoch[lab]), "after_epoch": int(after[lab - 1])}
        if mag is not None:
            stats["mean_magnitude"] = float(mag[lab])
        if conf is not None:
            stats["mean_probability"] = float(conf[lab])
        shares = composition(by_type[lab]) if by_type is not None else {}
        events.append(Region(int(lab), g, valid_geometry(g_ll), float(areas[lab]),
                             int(pixels[lab]),
                             (float(shapely.get_x(c)), float(shapely.get_y(c))),
                             int(region_class(shares)) if shares else int(ChangeType.OTHER),
                             stats, shares))
    events.sort(key=lambda r: (r.stats["epoch"], -r.area_m2))
    for i, r in enumerate(events, start=1):
        r.id = i
    return events
