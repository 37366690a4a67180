"""What a change region is made of: its area shares by change type, and the name they earn.

A region's pixels are typed one by one (:mod:`sitewatch.detectors.changetype`);
a region is rarely one thing. Its **composition** is the share of its area in
each :class:`~sitewatch.types.ChangeType`, and its name follows from it:

* a type that covers **more than half** of the region names it ("new roof");
* otherwise the composition does: a family name and the types that cover at
  least 10% of the region, largest first (at most three), e.g.
  ``"construction completed: vegetation change 39%, new paving 27%, construction
  / clearing 22%"``; the region's class is then ``MIXED``.

Families of a mixed region (``BUILDING_WORK`` = new paving, new roof,
construction / clearing, demolition):

==========================  =================================================
family                      when
==========================  =================================================
construction completed      building work covers more than half of the region
                            (or at least 40 % with vegetation change nearly all
                            the rest: a landscaped project), and new surfaces
                            (paving + roof) are its largest part (a building
                            site that became a campus)
construction under way      building work > 50%, construction / clearing largest
demolition and clearing     building work > 50%, demolition largest
mixed change                otherwise
==========================  =================================================

Examples
--------
>>> shares = composition({ChangeType.ROOF: 480.0, ChangeType.VEGETATION: 310.0,
...                       ChangeType.PAVING: 120.0, ChangeType.OTHER: 90.0})
>>> region_class(shares) is ChangeType.MIXED
True
>>> region_name(shares)
'construction completed: new roof 48%, vegetation change 31%, new paving 12%'
>>> region_name(composition({ChangeType.ROOF: 66.0, ChangeType.OTHER: 34.0}))
'new roof'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sitewatch.types import ChangeType

__all__ = ["DOMINANT_SHARE", "LISTED_SHARE", "BUILDING_WORK", "FAMILY_NAMES", "type_areas",
           "composition", "region_class", "region_name", "region_title", "composition_text",
           "composition_slugs", "N_CODES"]

#: A type names a region only when it covers more than this share of its area.
DOMINANT_SHARE = 0.5
#: Types listed in a composed name cover at least this share (at most ``MAX_LISTED``).
LISTED_SHARE = 0.10
MAX_LISTED = 3
#: Number of type codes (histogram width): 0 (none) to MIXED.
N_CODES = int(max(ChangeType)) + 1
#: Pixel types that are building work.
BUILDING_WORK = (ChangeType.PAVING, ChangeType.ROOF, ChangeType.CONSTRUCTION,
                 ChangeType.DEMOLITION)
#: Least share of building work that makes a region of building work and vegetation change
#: a landscaped building project (:func:`landscaped`).
LANDSCAPED_WORK = 0.4
#: Names of the families of mixed regions (see the module docs).
FAMILY_NAMES = ("construction completed", "construction under way", "demolition and clearing",
                "mixed change")


def type_areas(labels: np.ndarray, change_type: np.ndarray, n: int, *,
               pixel_area: np.ndarray | None = None) -> np.ndarray:
    """(n + 1, N_CODES) area of each label in each type code (row 0: background).

    Parameters
    ----------
    labels : (M, N) int ndarray
        Region labels 1..n, 0 outside.
    change_type : (M, N) uint8 ndarray
        :class:`ChangeType` codes.
    n : int
        Number of labels.
    pixel_area : ndarray, optional
        Ground area of each pixel (broadcastable to ``labels``); default 1 (pixel counts).

    Examples
    --------
    >>> lab = np.array([[1, 1, 0, 2]]); ct = np.array([[3, 6, 0, 1]])
    >>> type_areas(lab, ct, 2)[1:, [1, 3, 6]].tolist()
    [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    """
    flat = np.asarray(labels).astype("int64").ravel()
    ct = np.asarray(change_type).astype("int64").ravel()
    w = None if pixel_area is None else \
        np.broadcast_to(np.asarray(pixel_area, "float64"), np.shape(labels)).ravel()
    out = np.bincount(flat * N_CODES + ct, weights=w, minlength=(n + 1) * N_CODES)
    return out.astype("float64").reshape(n + 1, N_CODES)


def composition(areas: Mapping[int, float] | np.ndarray) -> dict[int, float]:
    """Area shares by type code, largest first; code 0 (no change) is left out.

    ``areas`` is a row of :func:`type_areas` or a mapping code -> area. A region
    without any typed pixel is all OTHER.

    Examples
    --------
    >>> composition(np.array([0, 0, 0, 30.0, 0, 0, 10.0, 0, 0]))
    {3: 0.75, 6: 0.25}
    """
    if isinstance(areas, Mapping):
        items = [(int(k), float(v)) for k, v in areas.items()]
    else:
        items = [(k, float(v)) for k, v in enumerate(np.asarray(areas).tolist())]
    items = [(k, v) for k, v in items if k != 0 and v > 0]
    total = sum(v for _, v in items)
    if total <= 0:
        return {int(ChangeType.OTHER): 1.0}
    return {k: v / total for k, v in sorted(items, key=lambda kv: (-kv[1], kv[0]))}


def _share(shares: Mapping[int, float], *codes: ChangeType) -> float:
    return sum(shares.get(int(c), 0.0) for c in codes)


def landscaped(shares: Mapping[int, float]) -> bool:
    """A building project with its planting: building work covers at least
    :data:`LANDSCAPED_WORK` of the region and vegetation change nearly all the rest.

    Such a region (a campus built on a cleared site, lawns and trees planted between
    the new roofs and car parks) is named by its building family even when its
    plants cover more than half of it: the plants are the project's landscaping.

    Examples
    --------
    >>> landscaped({6: 0.54, 1: 0.19, 4: 0.15, 2: 0.12}), landscaped({6: 0.7, 1: 0.3})
    (True, False)
    """
    work = _share(shares, *BUILDING_WORK)
    return work >= LANDSCAPED_WORK and work + _share(shares, ChangeType.VEGETATION) >= 0.95


def region_class(shares: Mapping[int, float]) -> ChangeType:
    """The dominant type (share above :data:`DOMINANT_SHARE`), else ``MIXED``
    (also for a :func:`landscaped` building project).

    Examples
    --------
    >>> region_class({1: 0.51, 6: 0.49}).slug, region_class({1: 0.5, 6: 0.5}).slug
    ('paving', 'mixed')
    """
    if not shares:
        return ChangeType.OTHER
    code, share = max(shares.items(), key=lambda kv: (kv[1], -kv[0]))
    if int(code) == int(ChangeType.VEGETATION) and landscaped(shares):
        return ChangeType.MIXED
    return ChangeType(int(code)) if share > DOMINANT_SHARE else ChangeType.MIXED


def composition_text(shares: Mapping[int, float], *, min_share: float = LISTED_SHARE,
                     most: int = MAX_LISTED) -> str:
    """The largest parts as ``"new roof 48%, vegetation change 31%"``.

    Examples
    --------
    >>> composition_text({3: 0.48, 6: 0.31, 1: 0.12, 7: 0.09})
    'new roof 48%, vegetation change 31%, new paving 12%'
    """
    parts = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [(k, v) for k, v in parts if v >= min_share][:most] or parts[:1]
    return ", ".join(f"{ChangeType(int(k)).label} {round(100 * v)}%" for k, v in shown)


def _family(shares: Mapping[int, float]) -> str:
    def share(*codes: ChangeType) -> float:
        return sum(shares.get(int(c), 0.0) for c in codes)

    if share(*BUILDING_WORK) <= DOMINANT_SHARE and not landscaped(shares):
        return FAMILY_NAMES[3]
    parts = {FAMILY_NAMES[0]: share(ChangeType.PAVING, ChangeType.ROOF),
             FAMILY_NAMES[1]: share(ChangeType.CONSTRUCTION),
             FAMILY_NAMES[2]: share(ChangeType.DEMOLITION)}
    return max(parts, key=lambda k: parts[k])  # on a tie the first: completed, under way


def region_title(shares: Mapping[int, float]) -> str:
    """The head of a region's name: its dominant type's label, or its family.

    Examples
    --------
    >>> region_title({3: 0.48, 6: 0.31, 1: 0.21}), region_title({3: 0.6, 6: 0.4})
    ('construction completed', 'new roof')
    """
    cls = region_class(shares)
    return cls.label if cls is not ChangeType.MIXED else _family(shares)


def region_name(shares: Mapping[int, float]) -> str:
    """A region's name: its dominant type's, or a family and its composition.

    See the module docs for the rules.
    """
    if region_class(shares) is not ChangeType.MIXED:
        return region_title(shares)
    return f"{region_title(shares)}: {composition_text(shares)}"


def composition_slugs(shares: Mapping[int, float], *, digits: int = 3) -> dict[str, float]:
    """Shares keyed by type slug (for GeoJSON and JSON), rounded.

    Examples
    --------
    >>> composition_slugs({3: 0.4823, 6: 0.5177})
    {'roof': 0.482, 'vegetation': 0.518}
    """
    return {ChangeType(int(k)).slug: round(float(v), digits) for k, v in shares.items()}
