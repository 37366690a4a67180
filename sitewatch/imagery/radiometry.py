"""One reflectance convention across Sentinel-2 processing baselines.

From processing baseline 04.00 (first products 2022-01-25) ESA adds
``BOA_ADD_OFFSET = +1000`` to Level-2A digital numbers so that dark pixels keep
negative values: reflectance = (DN + BOA_ADD_OFFSET) / 10000 with the offset
-1000, where earlier baselines had reflectance = DN / 10000. Mixing the two
without care brightens every scene after January 2022 by 0.1, which any
change detector reports as change.

sitewatch decides the offset **per scene** and records the decision in the
raster's provenance:

* the scene's processing baseline decides (``>= 04.00`` -> -1000); where the
  provider does not say, the acquisition date does (``>= 2022-01-25``);
* data a provider already harmonised (Sentinel Hub's ``harmonizeValues``,
  Earth Search ``sentinel-2-l2a`` items with ``earthsearch:boa_offset_applied``)
  gets no offset;
* Earth Search's flag is wrong for some scenes (element84/earth-search issues
  66 and 71, both directions), so for that collection the pixels are checked:
  vegetation and water (SCL 4 and 6) are dark in blue (reflectance 0.02-0.08),
  so their median blue DN sits below 1000 when the offset has been removed and
  above 1000 when it has not. Where enough such pixels exist the data wins over
  the flag, and the disagreement is recorded.

Reflectance is clipped at 0 after the offset (negative surface reflectance is
noise), matching Sentinel Hub's harmonised output.

Examples
--------
>>> needs_boa_offset("04.00", "2022-03-01"), needs_boa_offset("02.14", "2021-06-01")
(True, False)
>>> needs_boa_offset(None, "2022-01-25")   # baseline unknown: the date decides
True
>>> import numpy as np
>>> dn_to_reflectance(np.array([[0, 1000, 2500]], "uint16"), -1000).round(3).tolist()
[[nan, 0.0, 0.15]]
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from sitewatch.raster import iso_date

__all__ = ["BASELINE_04_DATE", "BOA_ADD_OFFSET", "QUANTIFICATION", "Harmonisation",
           "parse_baseline", "needs_boa_offset", "harmonisation_for", "offset_evidence",
           "dn_to_reflectance"]

#: First day of products made with processing baseline 04.00.
BASELINE_04_DATE = "2022-01-25"
#: Level-2A BOA_ADD_OFFSET from baseline 04.00 (DN units).
BOA_ADD_OFFSET = -1000
#: Level-2A quantification value: DN per unit reflectance.
QUANTIFICATION = 10000.0
#: SCL classes whose blue reflectance is reliably below 0.1 (vegetation, water).
_DARK_CLASSES = (4, 6)
_MIN_EVIDENCE_PX = 50


def parse_baseline(value: Any) -> tuple[int, int] | None:
    """(major, minor) of a processing baseline given as ``"04.00"``, ``"N0400"``, 4.0...

    Examples
    --------
    >>> parse_baseline("04.00"), parse_baseline("N0509"), parse_baseline(2.14), parse_baseline("")
    ((4, 0), (5, 9), (2, 14), None)
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        major = int(value)
        return major, int(round((float(value) - major) * 100))
    s = str(value).strip()
    m = re.fullmatch(r"N?(\d{2})\.?(\d{2})", s) or re.fullmatch(r"(\d+)\.(\d+)", s)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def needs_boa_offset(baseline: Any, date: str | _dt.date) -> bool:
    """Whether raw L2A DNs of a scene carry the +1000 offset (baseline >= 04.00)."""
    parsed = parse_baseline(baseline)
    if parsed is not None:
        return parsed >= (4, 0)
    return iso_date(date) >= BASELINE_04_DATE


@dataclass(frozen=True)
class Harmonisation:
    """The offset added to a scene's DNs, and why.

    Attributes
    ----------
    offset : int
        DN added before dividing by 10000 (0 or -1000).
    reason : str
        Human-readable rule that decided it.
    """

    offset: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"boa_offset": self.offset, "harmonisation": self.reason}


def harmonisation_for(baseline: Any, date: str, *, already_harmonised: bool | None = None,
                      evidence: bool | None = None, provider: str = "") -> Harmonisation:
    """Decide one scene's offset.

    Parameters
    ----------
    baseline : str or None
        Processing baseline as the provider reports it.
    date : str
        Acquisition date (used when the baseline is unknown).
    already_harmonised : bool, optional
        What the provider declares (e.g. ``earthsearch:boa_offset_applied``).
    evidence : bool, optional
        What the pixels say (:func:`offset_evidence`): True = the offset is still
        in the data, False = already removed, None = cannot tell.
    provider : str
        Named in the reason.

    Examples
    --------
    >>> harmonisation_for("04.00", "2022-05-01").offset
    -1000
    >>> h = harmonisation_for("04.00", "2022-05-01", already_harmonised=False, evidence=False,
    ...                       provider="earth-search")
    >>> h.offset, "contradict" in h.reason
    (0, True)
    """
    bl = parse_baseline(baseline)
    bl_text = f"baseline {bl[0]:02d}.{bl[1]:02d}" if bl else f"date {iso_date(date)}"
    if not needs_boa_offset(baseline, date):
        return Harmonisation(0, f"{bl_text} < 04.00: DN / 10000")
    who = f"{provider} " if provider else ""
    if evidence is not None:
        if already_harmonised is not None and already_harmonised == evidence:
            flag = "true" if already_harmonised else "false"
            note = f"; the pixels contradict {who}flag offset_applied={flag}"
        else:
            note = ""
        if evidence:
            return Harmonisation(BOA_ADD_OFFSET, f"{bl_text}: offset still in the data "
                                 f"(dark-pixel check){note}: (DN - 1000) / 10000")
        return Harmonisation(0, f"{bl_text}: offset already removed (dark-pixel check){note}: "
                             "DN / 10000")
    if already_harmonised:
        return Harmonisation(0, f"{bl_text}: offset already removed by {who}provider: "
                             "DN / 10000")
    return Harmonisation(BOA_ADD_OFFSET, f"{bl_text} >= 04.00: (DN - 1000) / 10000")


def offset_evidence(blue_dn: np.ndarray, scl: np.ndarray) -> bool | None:
    """Whether a baseline >= 04.00 scene's blue DNs still carry the +1000 offset.

    Vegetation and water (SCL 4, 6) have blue reflectance of 0.02-0.08: with the
    offset their DNs sit at 1200-1800, without it at 200-800. Returns True
    (offset still in), False (already removed) or None (fewer than 50 such pixels).

    Examples
    --------
    >>> import numpy as np
    >>> scl = np.full((10, 10), 4)
    >>> offset_evidence(np.full((10, 10), 1450), scl), offset_evidence(np.full((10, 10), 450), scl)
    (True, False)
    >>> offset_evidence(np.full((10, 10), 450), np.full((10, 10), 9)) is None
    True
    """
    dn = np.asarray(blue_dn, dtype="float64")
    sel = np.isin(np.asarray(scl), _DARK_CLASSES) & (dn > 0) & np.isfinite(dn)
    if sel.sum() < _MIN_EVIDENCE_PX:
        return None
    return bool(np.median(dn[sel]) >= -BOA_ADD_OFFSET)


def dn_to_reflectance(dn: np.ndarray, offset: int, *, nodata: float | None = 0,
                      clip: bool = True) -> np.ndarray:
    """Float32 reflectance from L2A DNs: (DN + offset) / 10000, NaN where ``nodata``."""
    arr = np.asarray(dn)
    out = (arr.astype("float32") + np.float32(offset)) / np.float32(QUANTIFICATION)
    if clip:
        out = np.maximum(out, np.float32(0))
    if nodata is not None:
        out[arr == nodata] = np.nan
    return out.astype("float32", copy=False)
