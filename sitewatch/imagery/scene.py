"""The record a source's search returns for one acquisition.

Examples
--------
>>> s = SceneRecord("S2A_T51TXE_20200501", "2020-05-01T02:43:11Z", source="earth-search",
...                 platform="sentinel-2a", cloud_cover=12.5)
>>> s.date, s.year
('2020-05-01', 2020)
>>> SceneRecord.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sitewatch.raster import iso_date

__all__ = ["SceneRecord"]


@dataclass(frozen=True)
class SceneRecord:
    """One scene found by a source.

    Parameters
    ----------
    id : str
        The provider's scene (item / product) id.
    datetime : str
        ISO 8601 acquisition time (UTC).
    source : str
        Registry name of the source that found it.
    platform : str
        ``sentinel-2a``, ``sentinel-2b``, ``sentinel-1a``...
    cloud_cover : float, optional
        Scene-wide cloud cover in percent, as the provider reports it.
    footprint : dict, optional
        GeoJSON geometry (WGS84) of the scene's data.
    processing_baseline : str, optional
        Sentinel-2 processing baseline (``"04.00"``), decides the reflectance offset.
    collection : str
        Provider collection (``sentinel-2-c1-l2a``).
    assets : dict
        Band name -> href, where the source reads pixels from files.
    properties : dict
        Anything else worth keeping (orbit, tile, offsets applied...).
    """

    id: str
    datetime: str
    source: str = ""
    platform: str = ""
    cloud_cover: float | None = None
    footprint: dict[str, Any] | None = None
    processing_baseline: str | None = None
    collection: str = ""
    assets: dict[str, str] = field(default_factory=dict, compare=False)
    properties: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def date(self) -> str:
        """ISO 8601 date (YYYY-MM-DD)."""
        return iso_date(self.datetime)

    @property
    def year(self) -> int:
        return int(self.date[:4])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SceneRecord:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
