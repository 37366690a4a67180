"""Sentinel-2 and Sentinel-1 band facts shared by every layer.

Examples
--------
>>> S2_BANDS["B8A"].resolution, S2_BANDS["B8A"].common_name
(20, 'nir08')
>>> band_for("red")
'B04'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BandInfo", "S2_BANDS", "S2_LAND_BANDS", "S2_RGB", "band_for", "S1_BANDS"]


@dataclass(frozen=True)
class BandInfo:
    name: str
    common_name: str
    resolution: int  # metres
    wavelength_nm: float


S2_BANDS: dict[str, BandInfo] = {b.name: b for b in [
    BandInfo("B01", "coastal", 60, 443),
    BandInfo("B02", "blue", 10, 490),
    BandInfo("B03", "green", 10, 560),
    BandInfo("B04", "red", 10, 665),
    BandInfo("B05", "rededge1", 20, 705),
    BandInfo("B06", "rededge2", 20, 740),
    BandInfo("B07", "rededge3", 20, 783),
    BandInfo("B08", "nir", 10, 842),
    BandInfo("B8A", "nir08", 20, 865),
    BandInfo("B09", "nir09", 60, 945),
    BandInfo("B10", "cirrus", 60, 1375),
    BandInfo("B11", "swir16", 20, 1610),
    BandInfo("B12", "swir22", 20, 2190),
]}

#: The ten 10 m and 20 m bands present in Level-1C and Level-2A alike: what
#: sitewatch fetches by default and what the detectors use.
S2_LAND_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A",
                                  "B11", "B12")
S2_RGB: tuple[str, str, str] = ("B04", "B03", "B02")

#: Sentinel-1 GRD polarisations (backscatter in linear units).
S1_BANDS: tuple[str, ...] = ("VV", "VH")

_COMMON = {b.common_name: b.name for b in S2_BANDS.values()}


def band_for(common_name: str) -> str:
    """Sentinel-2 band name for a common name (blue, green, red, nir, swir16...)."""
    try:
        return _COMMON[common_name]
    except KeyError:
        raise KeyError(f"unknown band common name {common_name!r}; "
                       f"known: {', '.join(_COMMON)}") from None
