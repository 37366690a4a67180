"""Change typing rules on real spectra, and region names from their composition.

Spectra are medians of OSCD material samples (``benchmarks/typing_library.py``; Sentinel-2
L1C, contains modified Copernicus Sentinel data 2015-2018); the benchmark
(``benchmarks/bench_typing.py``) measures the rules on thousands of such pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

from sitewatch.detectors.changetype import classify_change
from sitewatch.detectors.composition import (
    composition,
    region_class,
    region_name,
    region_title,
    type_areas,
)
from sitewatch.types import ChangeType

BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
SPECTRA = {
    "soil": [0.138, 0.149, 0.182, 0.191, 0.204, 0.218, 0.212, 0.227, 0.286, 0.243],
    "pale soil": [0.186, 0.215, 0.315, 0.327, 0.352, 0.37, 0.362, 0.382, 0.361, 0.216],
    "bright roof": [0.323, 0.324, 0.365, 0.305, 0.33, 0.345, 0.409, 0.356, 0.3, 0.181],
    "asphalt": [0.119, 0.099, 0.094, 0.106, 0.121, 0.126, 0.098, 0.129, 0.118, 0.1],
    "water": [0.104, 0.099, 0.082, 0.07, 0.042, 0.041, 0.034, 0.03, 0.013, 0.01],
    "vegetation": [0.1, 0.098, 0.071, 0.125, 0.256, 0.314, 0.33, 0.353, 0.239, 0.124],
    "spring vegetation": [0.092, 0.091, 0.054, 0.117, 0.317, 0.395, 0.415, 0.435, 0.202, 0.096],
    "building": [0.144, 0.12, 0.117, 0.115, 0.125, 0.143, 0.135, 0.16, 0.178, 0.147],
    "red soil": [0.141, 0.162, 0.255, 0.269, 0.3, 0.315, 0.288, 0.311, 0.385, 0.29],
    # one place on two dates: Aguas Claras, Abu Dhabi (same scenes, same boxes)
    "red soil later": [0.127, 0.144, 0.208, 0.228, 0.259, 0.28, 0.268, 0.293, 0.372, 0.268],
    "red-dusted houses": [0.13, 0.133, 0.157, 0.166, 0.188, 0.205, 0.189, 0.218, 0.273, 0.225],
    "sand-coloured compound": [0.221, 0.234, 0.269, 0.276, 0.286, 0.299, 0.277, 0.302, 0.315,
                               0.255],
    "desert": [0.26, 0.299, 0.381, 0.393, 0.415, 0.444, 0.427, 0.467, 0.543, 0.423],
    "site soil north": [0.177, 0.178, 0.2, 0.211, 0.222, 0.231, 0.216, 0.242, 0.263, 0.22],
    "desert later": [0.262, 0.305, 0.387, 0.397, 0.416, 0.442, 0.433, 0.465, 0.544, 0.446],
}


def typed(before: str, after: str) -> str:
    b = np.array(SPECTRA[before], "float32").reshape(-1, 1, 1)
    a = np.array(SPECTRA[after], "float32").reshape(-1, 1, 1)
    return ChangeType(int(classify_change(b, a, BANDS)[0, 0])).slug


@pytest.mark.parametrize("before, after, expected", [
    ("soil", "asphalt", "paving"),
    ("vegetation", "soil", "construction"),
    ("soil", "bright roof", "roof"),        # a bright roof's MNDWI is high: still no water
    ("building", "pale soil", "demolition"),
    ("red-dusted houses", "red soil later", "demolition"),     # iron oxides appear
    ("sand-coloured compound", "desert later", "demolition"),  # iron oxides appear
    ("soil", "water", "water"),
    ("water", "building", "water"),
    ("vegetation", "spring vegetation", "vegetation"),  # a season, plants on both dates
])
def test_transitions_get_their_type(before, after, expected):
    assert typed(before, after) == expected


@pytest.mark.parametrize("before, after", [
    ("red soil", "red soil later"),  # a building site's soil reworked (Aguas Claras)
    ("desert", "desert later"),      # sand on both dates (Abu Dhabi)
    ("soil", "site soil north"),     # two parts of the Apple Park building site
])
def test_reworked_soil_is_not_demolition(before, after):
    # the soil showed its minerals (or lacked them) on both dates: nothing built was removed
    assert typed(before, after) != "demolition"


def test_composition_names_a_region_only_by_a_type_above_half():
    roof_heavy = composition({int(ChangeType.ROOF): 51.0, int(ChangeType.VEGETATION): 49.0})
    assert region_class(roof_heavy) is ChangeType.ROOF and region_name(roof_heavy) == "new roof"
    even = composition({int(ChangeType.ROOF): 50.0, int(ChangeType.VEGETATION): 50.0})
    assert region_class(even) is ChangeType.MIXED
    # half roof, half planting: a landscaped building project
    assert region_name(even) == "construction completed: new roof 50%, vegetation change 50%"
    water = composition({int(ChangeType.WATER): 50.0, int(ChangeType.VEGETATION): 50.0})
    assert region_name(water) == "mixed change: water change 50%, vegetation change 50%"


def test_a_campus_with_its_gardens_is_named_by_its_building_work():
    """Apple Park: lawns and trees planted between new car parks and roofs on a cleared
    site; the plants cover just over half of the region, the project is construction."""
    campus = composition({int(ChangeType.VEGETATION): 54.0, int(ChangeType.PAVING): 19.0,
                          int(ChangeType.DEMOLITION): 15.0, int(ChangeType.CONSTRUCTION): 12.0})
    assert region_class(campus) is ChangeType.MIXED
    assert region_name(campus).startswith("construction completed: vegetation change 54%")
    park = composition({int(ChangeType.VEGETATION): 70.0, int(ChangeType.PAVING): 30.0})
    assert region_class(park) is ChangeType.VEGETATION  # mostly plants: a park, not a project
    campus = composition({int(ChangeType.VEGETATION): 40, int(ChangeType.PAVING): 27,
                          int(ChangeType.CONSTRUCTION): 22, int(ChangeType.ROOF): 3,
                          int(ChangeType.OTHER): 8})
    assert region_name(campus) == ("construction completed: vegetation change 40%, new paving "
                                   "27%, construction / clearing 22%")  # building work 52 %
    park = composition({int(ChangeType.VEGETATION): 45, int(ChangeType.PAVING): 27,
                        int(ChangeType.OTHER): 28})
    assert region_title(park) == "mixed change"  # building work 27 %: no family
    works = composition({int(ChangeType.CONSTRUCTION): 45, int(ChangeType.ROOF): 10,
                         int(ChangeType.VEGETATION): 45})
    assert region_title(works) == "construction under way"
    cleared = composition({int(ChangeType.DEMOLITION): 40, int(ChangeType.CONSTRUCTION): 15,
                           int(ChangeType.OTHER): 45})
    assert region_title(cleared) == "demolition and clearing"


def test_type_areas_weigh_pixels_by_their_ground_area():
    labels = np.array([[1, 1], [1, 0]])
    types = np.array([[3, 6], [6, 0]])
    area = np.array([[100.0], [300.0]])  # a lower row of larger pixels
    row = type_areas(labels, types, 1, pixel_area=area)[1]
    assert composition(row) == {6: pytest.approx(0.8), 3: pytest.approx(0.2)}
