"""Attribution lines that every sitewatch output carries.

Copernicus Sentinel data must be credited as "Contains modified Copernicus
Sentinel data YEAR(S)"; OSCD change labels are CC BY-NC-SA 4.0 and credit
Daudt et al. (2018).

Examples
--------
>>> copernicus_attribution([2025, 2020])
'Contains modified Copernicus Sentinel data 2020, 2025'
>>> copernicus_attribution(["2019-03-01", "2020-01-01", "2021-06-30", "2023-01-01"])
'Contains modified Copernicus Sentinel data 2019-2021, 2023'
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["copernicus_attribution", "OSCD_CREDIT", "SITEWATCH_CREDIT", "years_of"]

OSCD_CREDIT = ("Change labels: Onera Satellite Change Detection dataset, Daudt, Le Saux, Boulch, "
               "Gousseau, IGARSS 2018, CC BY-NC-SA 4.0")
SITEWATCH_CREDIT = "Made with sitewatch"


def years_of(dates: Iterable[str | int]) -> list[int]:
    """Sorted unique years of ISO dates or integers."""
    return sorted({int(str(d)[:4]) for d in dates})


def copernicus_attribution(years_or_dates: Iterable[str | int]) -> str:
    """The Copernicus credit line for the given years (or ISO dates).

    Runs of three or more consecutive years are written as a range.
    """
    years = years_of(years_or_dates)
    parts: list[str] = []
    i = 0
    while i < len(years):
        j = i
        while j + 1 < len(years) and years[j + 1] == years[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{years[i]}-{years[j]}")
        else:
            parts.extend(str(y) for y in years[i:j + 1])
        i = j + 1
    text = "Contains modified Copernicus Sentinel data"
    return f"{text} {', '.join(parts)}" if parts else text
