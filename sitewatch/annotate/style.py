"""The sitewatch house style: colour-blind-safe colours, type sizes and figure presets.

Colours come from the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal
Design"), whose eight colours stay distinct under the common colour-vision
deficiencies. Each :class:`~sitewatch.types.ChangeType` has one colour used by
every figure, animation and report. Outlines are drawn with a thin dark halo
so that they stay visible on bright and dark ground alike.

Presets fix a figure's physical width, resolution and base type size:

========  ===========  =====  =========================================
preset    width        dpi    use
========  ===========  =====  =========================================
web       1200 px      300    articles and social posts (4 in at 300 dpi)
single    89 mm        600    one journal column
double    183 mm       300    two journal columns / full page width
========  ===========  =====  =========================================

Examples
--------
>>> get_preset("web").width_px
1200
>>> change_colour(ChangeType.PAVING)
'#F0E442'
>>> format_area(12_437.2), format_area(2_351_000)
('12,400 m²', '2.35 km²')
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sitewatch.errors import ConfigError
from sitewatch.types import ChangeType

__all__ = ["OKABE_ITO", "CHANGE_COLOURS", "MINOR_FILL", "SITE_COLOUR", "TEXT_COLOUR",
           "MUTED_COLOUR",
           "INDEX_CMAPS", "Preset", "PRESETS", "get_preset", "change_colour", "format_area",
           "halo", "house_rc", "house_style"]

#: Okabe-Ito palette (name -> hex).
OKABE_ITO: dict[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: One colour per change type. Okabe-Ito has seven colours besides black; the six typed
#: pixel classes take six of them, orange (the one closest to vermillion) goes to MIXED, a
#: class of regions only (outlined in figures, never a pixel's colour). OTHER (other
#: change) is a light grey: visible on any ground with its dark halo, less loud than the
#: typed colours.
CHANGE_COLOURS: dict[ChangeType, str] = {
    ChangeType.PAVING: OKABE_ITO["yellow"],
    ChangeType.CONSTRUCTION: OKABE_ITO["vermillion"],
    ChangeType.ROOF: OKABE_ITO["reddish_purple"],
    ChangeType.DEMOLITION: OKABE_ITO["blue"],
    ChangeType.WATER: OKABE_ITO["sky_blue"],
    ChangeType.VEGETATION: OKABE_ITO["bluish_green"],
    ChangeType.OTHER: "#C8C8C8",
    ChangeType.MIXED: OKABE_ITO["orange"],
}
#: The smaller regions of a figure that are not outlined: a light fill, counted in the legend.
MINOR_FILL = ("#FFFFFF", 0.5)

#: Site outline: black dashes on a white line (two-tone, unlike any change colour).
SITE_COLOUR = "#000000"
TEXT_COLOUR = "#1A1A1A"
MUTED_COLOUR = "#555555"
#: Inset frames and callout leaders.
ACCENT_COLOUR = "#FFFFFF"

#: Colour maps for index panels: diverging ColorBrewer maps marked colour-blind
#: safe, oriented so that "more of the thing" is the saturated end.
INDEX_CMAPS: dict[str, str] = {"ndvi": "BrBG", "ndwi": "PuOr_r", "mndwi": "PuOr_r",
                               "ndbi": "PuOr", "bsi": "PuOr"}


@dataclass(frozen=True)
class Preset:
    """A figure size and type scale.

    Attributes
    ----------
    name : str
    width_in : float
        Figure width in inches.
    dpi : int
        Raster resolution (PNG, and images inside PDF/SVG).
    font_pt : float
        Base type size in points; titles and credits scale from it.
    """

    name: str
    width_in: float
    dpi: int
    font_pt: float

    @property
    def width_px(self) -> int:
        return round(self.width_in * self.dpi)

    @property
    def line_in(self) -> float:
        """Height of one line of base text, inches."""
        return self.font_pt * 1.3 / 72

    @property
    def title_pt(self) -> float:
        return self.font_pt * 1.35

    @property
    def small_pt(self) -> float:
        return max(self.font_pt * 0.8, 4.5)


PRESETS: dict[str, Preset] = {
    "web": Preset("web", 4.0, 300, 6.5),
    "single": Preset("single", 89 / 25.4, 600, 6.0),
    "double": Preset("double", 183 / 25.4, 300, 7.5),
}


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (``web``, ``single``, ``double``) or the preset itself."""
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ConfigError(f"unknown figure preset {preset!r}: use one of "
                          f"{', '.join(PRESETS)}") from None


def change_colour(change_type: int | ChangeType) -> str:
    """The house colour of a change type (unknown codes get OTHER's colour)."""
    try:
        return CHANGE_COLOURS[ChangeType(int(change_type))]
    except (ValueError, KeyError):
        return CHANGE_COLOURS[ChangeType.OTHER]


def format_area(area_m2: float) -> str:
    """An area for a label: three significant figures, m² below 1 km², km² above."""
    if area_m2 <= 0:
        return "0 m²"
    mag = int(math.floor(math.log10(area_m2)))
    rounded = round(area_m2, 2 - mag)
    if rounded >= 1e6:
        return f"{rounded / 1e6:.3g} km²"
    return f"{rounded:,.0f} m²" if mag >= 2 else f"{rounded:.{2 - mag}f} m²"


def halo(width: float = 1.6, colour: str = "#000000", alpha: float = 0.75) -> list[Any]:
    """Path effects drawing a dark halo under a line or text."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground=colour, alpha=alpha)]


def house_rc(preset: str | Preset = "double") -> dict[str, Any]:
    """matplotlib rcParams of the house style for a preset."""
    p = get_preset(preset)
    return {
        "font.family": "DejaVu Sans",
        "font.size": p.font_pt,
        "text.color": TEXT_COLOUR,
        "axes.edgecolor": "#333333",
        "axes.linewidth": 0.5,
        "axes.labelcolor": TEXT_COLOUR,
        "legend.fontsize": p.small_pt,
        "legend.frameon": False,
        "xtick.color": "#333333",
        "ytick.color": "#333333",
        "xtick.labelsize": p.small_pt,
        "ytick.labelsize": p.small_pt,
        "svg.fonttype": "none",  # real, searchable text in SVG
        "pdf.fonttype": 42,      # TrueType text in PDF (selectable, editable)
        "image.interpolation": "nearest",
        "savefig.facecolor": "white",
    }


@contextmanager
def house_style(preset: str | Preset = "double") -> Iterator[None]:
    """Context manager applying :func:`house_rc` (no pyplot state is touched)."""
    import matplotlib as mpl

    rc: Any = house_rc(preset)
    with mpl.rc_context(rc):
        yield
