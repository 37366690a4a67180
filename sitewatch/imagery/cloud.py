"""Per-site cloud screening from the Sentinel-2 scene classification layer (SCL).

Screening looks at the site window only (the tile's cloud cover says little
about a 2 km site) and gives, per scene, a clear mask, a clear fraction over
the site, and the share of each reason a pixel was rejected.

Which SCL classes are masked (:class:`CloudScreen` ``mask_classes``):
0 no data, 1 saturated/defective, 3 cloud shadow, 8 cloud (medium probability),
9 cloud (high probability), 10 thin cirrus, 11 snow/ice. Kept: 2 dark area
(new asphalt is dark), 4 vegetation, 5 not vegetated, 6 water, 7 unclassified.
Clouds and shadows are buffered by ``buffer_m`` (hazy edges), rescued pixels
are not.

Bright new concrete and roofs are the known false clouds of masks without a
thermal band (Sen2Cor's SCL included): erasing them would erase the very
construction sitewatch looks for. Two checks give a pixel flagged 8 or 9 back
(they never touch shadow, cirrus or no data):

1. **Persistence** (needs several scenes): clouds move, roofs do not. A pixel
   flagged as cloud in a scene is a bright surface when it is flagged in a run
   of at least ``persistence + 1`` consecutive mostly-clear acquisitions that
   includes this one (a new roof starts such a run, a demolished one ends it).
   "Mostly clear" = at most ``max_neighbour_cloud`` of the window flagged, so a
   week of overcast does not count as persistence. Only objects (connected
   flagged pixels) at least half persistent are given back: where passing
   clouds happen to overlap in consecutive scenes, only a sliver of each is.
2. **Isolated bright object** (single scene): a connected cloud-flagged object
   no larger than ``max_bright_object_m2`` in a window with no cloud shadow,
   no cirrus and no larger cloud. A real cloud that small casts a shadow next
   to it; a roof does not.

Examples
--------
>>> import numpy as np
>>> scl = np.full((20, 20), 4, "uint8")
>>> scl[:5, :5] = 9                        # a 25-pixel bright object, no shadow anywhere
>>> s = screen_scl(scl, res_m=10)
>>> s.clear_fraction, s.rescued_px
(1.0, 25)
>>> scl[15:, 15:] = 3                      # a shadow in the window: it was a cloud
>>> s = screen_scl(scl, res_m=10, policy=CloudScreen(buffer_m=0))
>>> round(s.clear_fraction, 4), s.rescued_px
(0.875, 0)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
from scipy import ndimage

from sitewatch.errors import DataError

__all__ = ["SCL", "CloudScreen", "SceneScreen", "screen_scl", "screen_stack", "rank_screens",
           "DEFAULT_MASK_CLASSES"]


class SCL(IntEnum):
    """Sen2Cor scene classification values."""

    NO_DATA = 0
    SATURATED = 1
    DARK_AREA = 2
    CLOUD_SHADOW = 3
    VEGETATION = 4
    NOT_VEGETATED = 5
    WATER = 6
    UNCLASSIFIED = 7
    CLOUD_MEDIUM = 8
    CLOUD_HIGH = 9
    THIN_CIRRUS = 10
    SNOW = 11


DEFAULT_MASK_CLASSES: frozenset[int] = frozenset({0, 1, 3, 8, 9, 10, 11})
_CLOUD = (SCL.CLOUD_MEDIUM, SCL.CLOUD_HIGH)
_GROUPS = {"no_data": (0, 1), "cloud": (8, 9), "shadow": (3,), "cirrus": (10,), "snow": (11,)}


@dataclass(frozen=True)
class CloudScreen:
    """The screening policy (every knob keyword-only, defaults are the recommended ones).

    Parameters
    ----------
    mask_classes : frozenset of int
        SCL classes that make a pixel unusable.
    buffer_m : float
        Clouds, shadows and cirrus grow by this distance (haze at their edges).
    rescue_persistent : bool
        Apply the persistence check (see the module docstring).
    persistence : int
        Other mostly-clear acquisitions, consecutive with this one, that must flag
        the pixel too.
    max_neighbour_cloud : float
        Largest flagged share of the window for a scene to count as a neighbour.
    rescue_isolated : bool
        Apply the isolated-bright-object check.
    max_bright_object_m2 : float
        Largest cloud-flagged object the isolated check may give back.
    """

    mask_classes: frozenset[int] = DEFAULT_MASK_CLASSES
    buffer_m: float = 20.0
    rescue_persistent: bool = True
    persistence: int = 2
    max_neighbour_cloud: float = 0.5
    rescue_isolated: bool = True
    max_bright_object_m2: float = 20_000.0

    def to_dict(self) -> dict[str, Any]:
        return {"mask_classes": sorted(self.mask_classes), "buffer_m": self.buffer_m,
                "rescue_persistent": self.rescue_persistent, "persistence": self.persistence,
                "max_neighbour_cloud": self.max_neighbour_cloud,
                "rescue_isolated": self.rescue_isolated,
                "max_bright_object_m2": self.max_bright_object_m2}


@dataclass
class SceneScreen:
    """Screening result of one scene over the site window.

    Attributes
    ----------
    clear : (M, N) bool ndarray
        Usable pixels.
    clear_fraction : float
        Clear share of the site's pixels (no data counts as not clear).
    fractions : dict
        Share of site pixels per rejection reason (no_data, cloud, shadow, cirrus, snow).
    rescued_px : int
        Cloud-flagged pixels given back as bright surfaces.
    rescued : dict
        Pixels given back by each check (persistent, isolated).
    """

    clear: np.ndarray
    clear_fraction: float
    fractions: dict[str, float] = field(default_factory=dict)
    rescued_px: int = 0
    rescued: dict[str, int] = field(default_factory=dict)
    scene_id: str = ""
    date: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"scene_id": self.scene_id, "date": self.date,
                "clear_fraction": round(self.clear_fraction, 4),
                "fractions": {k: round(v, 4) for k, v in self.fractions.items()},
                "rescued_px": self.rescued_px, "rescued": dict(self.rescued)}


def _as_scl(scl: np.ndarray) -> np.ndarray:
    arr = np.asarray(scl)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise DataError(f"SCL must be one (row, col) layer, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        arr = np.where(np.isfinite(arr), arr, 0)
    return arr.astype("uint8", copy=False)


def _isolated_objects(scl: np.ndarray, policy: CloudScreen, px_area: float) -> np.ndarray:
    """Cloud-flagged objects that look like bright surfaces (see module docstring)."""
    flagged = np.isin(scl, _CLOUD)
    if not flagged.any() or np.isin(scl, (SCL.CLOUD_SHADOW, SCL.THIN_CIRRUS)).any():
        return np.zeros(scl.shape, bool)
    labels, n = ndimage.label(flagged, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=n + 1) * px_area
    if (sizes[1:] > policy.max_bright_object_m2).any():
        return np.zeros(scl.shape, bool)  # a real cloud in the window: trust none
    return flagged


def _mostly_persistent(flagged: np.ndarray, persistent: np.ndarray) -> np.ndarray:
    """Persistent pixels of the flagged objects that are at least half persistent.

    A roof is persistent as a whole; where a passing cloud happens to cover the
    same pixels in consecutive scenes, only a sliver of that cloud is.
    """
    if not persistent.any():
        return persistent
    labels, n = ndimage.label(flagged, structure=np.ones((3, 3)))
    total = np.bincount(labels.ravel(), minlength=n + 1)
    hits = np.bincount(labels.ravel(), weights=persistent.ravel(), minlength=n + 1)
    keep = hits >= 0.5 * np.maximum(total, 1)
    keep[0] = False
    return persistent & keep[labels]


def _finish(scl: np.ndarray, rescued: np.ndarray, policy: CloudScreen, res_m: float,
            site_mask: np.ndarray | None, counts: dict[str, int]) -> SceneScreen:
    bad = np.isin(scl, list(policy.mask_classes)) & ~rescued
    grow = np.isin(scl, (3, 8, 9, 10)) & ~rescued
    if policy.buffer_m > 0 and grow.any():
        r = int(round(policy.buffer_m / res_m))
        if r > 0:
            grow = ndimage.binary_dilation(grow, structure=np.ones((3, 3)), iterations=r)
            bad |= grow & (scl != SCL.NO_DATA) & ~rescued
    clear = ~bad
    site = np.ones(scl.shape, bool) if site_mask is None else np.asarray(site_mask, bool)
    n_site = int(site.sum())
    if n_site == 0:
        raise DataError("the site covers no pixel of the grid: check the site and grid")
    fractions = {k: float(np.isin(scl[site], v).sum()) / n_site for k, v in _GROUPS.items()}
    return SceneScreen(clear, float((clear & site).sum()) / n_site, fractions,
                       int(rescued.sum()), counts)


def screen_scl(scl: np.ndarray, *, res_m: float, policy: CloudScreen | None = None,
               site_mask: np.ndarray | None = None) -> SceneScreen:
    """Screen one scene (no persistence check: that needs :func:`screen_stack`).

    Parameters
    ----------
    scl : (M, N) ndarray
        SCL on the site grid (NaN or 0 = no data).
    res_m : float
        Pixel size of the grid in metres.
    policy : CloudScreen, optional
    site_mask : (M, N) bool ndarray, optional
        Pixels inside the site outline (default: the whole grid).
    """
    policy = policy or CloudScreen()
    arr = _as_scl(scl)
    rescued = _isolated_objects(arr, policy, res_m * res_m) if policy.rescue_isolated \
        else np.zeros(arr.shape, bool)
    return _finish(arr, rescued, policy, res_m, site_mask, {"isolated": int(rescued.sum())})


def _days(date: str) -> int:
    return _dt.date.fromisoformat(date[:10]).toordinal()


def screen_stack(scls: Sequence[np.ndarray], dates: Sequence[str], *, res_m: float,
                 policy: CloudScreen | None = None, site_mask: np.ndarray | None = None,
                 scene_ids: Sequence[str] | None = None) -> list[SceneScreen]:
    """Screen a time series of scenes of one site, with the persistence check.

    Parameters
    ----------
    scls : sequence of (M, N) ndarray
        SCL of each scene on the same grid.
    dates : sequence of str
        ISO dates, one per scene (any order).
    res_m, policy, site_mask
        As in :func:`screen_scl`.
    scene_ids : sequence of str, optional
        Stored in the results.

    Returns
    -------
    list of SceneScreen
        In the order of ``scls``.

    Examples
    --------
    A roof flagged as cloud from the third scene on stays; a passing cloud goes:

    >>> import numpy as np
    >>> stack = [np.full((30, 30), 4, "uint8") for _ in range(5)]
    >>> for s in stack[2:]:
    ...     s[10:14, 10:14] = 9                       # the roof, every scene from #3
    >>> stack[3][20:30, 20:30] = 9; stack[3][0:8, 22:30] = 3   # a cloud + shadow in #4
    >>> out = screen_stack(stack, [f"2020-0{m}-01" for m in range(1, 6)], res_m=10,
    ...                    policy=CloudScreen(rescue_isolated=False, buffer_m=0))
    >>> [bool(o.clear[11, 11]) for o in out], bool(out[3].clear[25, 25])
    ([True, True, True, True, True], False)
    """
    policy = policy or CloudScreen()
    arrs = [_as_scl(s) for s in scls]
    if len(arrs) != len(dates):
        raise DataError(f"{len(arrs)} SCL layers for {len(dates)} dates")
    if len({a.shape for a in arrs}) > 1:
        raise DataError("SCL layers are on different grids: load them on the site grid")
    ids = list(scene_ids) if scene_ids is not None else [""] * len(arrs)
    flagged = [np.isin(a, _CLOUD) for a in arrs]
    valid = [a != SCL.NO_DATA for a in arrs]
    cloudy_share = []
    for f, v, a in zip(flagged, valid, arrs, strict=True):
        n = max(int(v.sum()), 1)
        cloudy_share.append(float((f | np.isin(a, (3, 10)))[v].sum()) / n)
    order = sorted(range(len(arrs)), key=lambda i: (_days(dates[i]), i))
    mostly_clear = [i for i in order if cloudy_share[i] <= policy.max_neighbour_cloud
                    and valid[i].any()]
    out = []
    for i, arr in enumerate(arrs):
        persistent = np.zeros(arr.shape, bool)
        if policy.rescue_persistent and flagged[i].any() and policy.persistence > 0:
            pos = order.index(i)
            run = flagged[i].astype("int32")
            for side in (reversed(order[:pos]), order[pos + 1:]):
                near = [j for j in side if j in mostly_clear][: policy.persistence]
                still = flagged[i].copy()
                for j in near:  # extend the run while the neighbour flags the pixel too
                    still &= flagged[j]
                    run += still
            persistent = _mostly_persistent(flagged[i], run >= policy.persistence + 1)
        isolated = _isolated_objects(arr, policy, res_m * res_m) if policy.rescue_isolated \
            else np.zeros(arr.shape, bool)
        rescued = persistent | isolated
        s = _finish(arr, rescued, policy, res_m, site_mask,
                    {"persistent": int(persistent.sum()), "isolated": int(isolated.sum())})
        s.scene_id, s.date = ids[i], dates[i][:10]
        out.append(s)
    return out


def rank_screens(screens: Sequence[SceneScreen], *, cloud_cover: Sequence[float | None]
                 | None = None) -> list[int]:
    """Indices of scenes from clearest to cloudiest over the site.

    Ties are broken by the scene-wide cloud cover, then by date (earlier first).

    Examples
    --------
    >>> import numpy as np
    >>> s = [SceneScreen(np.ones((1, 1), bool), f, date=d)
    ...      for f, d in ((0.5, "2020-01-02"), (0.9, "2020-01-05"), (0.9, "2020-01-01"))]
    >>> rank_screens(s)
    [2, 1, 0]
    """
    cc = list(cloud_cover) if cloud_cover is not None else [None] * len(screens)
    return sorted(range(len(screens)),
                  key=lambda i: (-round(screens[i].clear_fraction, 6),
                                 cc[i] if cc[i] is not None else 100.0, screens[i].date, i))
