"""Notebook display: rasters, change results, epochs, and the swipe widget."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sitewatch.annotate.display import epochs_html, thumbnail_array
from sitewatch.annotate.interactive import swipe, swipe_image
from sitewatch.annotate.style import CHANGE_COLOURS
from sitewatch.types import ChangeType

from .annotate_helpers import hex_rgb


def _first_png(html: str) -> Image.Image:
    import base64

    b64 = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html).group(1)
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_raster_shows_a_thumbnail_and_its_facts(rgb_pair):
    before, _ = rgb_pair()
    html = before._repr_html_()
    for fact in ("2020-05-01", "EPSG:32651", "B04", "S2A_TEST_2020-05-01", "60 × 80 px"):
        assert fact in html
    assert "Contains modified Copernicus Sentinel data 2020" in html
    with _first_png(html) as im:
        assert im.size == (256, 192)  # ground shape kept: 80 x 60 pixels of 10 m


def test_thumbnail_keeps_ground_shape_on_a_geographic_grid(rgb_pair):
    # square degrees at 37 N are 1.26 times taller than wide on the ground
    before, _ = rgb_pair(crs="EPSG:4326", centre_lonlat=(-122.0, 37.33), res=1e-4,
                         shape=(100, 100))
    h, w, _ = thumbnail_array(before, max_px=200).shape
    assert h == 200 and w == round(200 * np.cos(np.radians(37.33)))


def test_change_result_display(rgb_pair):
    from sitewatch.pipeline import detect_change

    before, after = rgb_pair(shape=(40, 40))
    data = after.data.copy()
    data[:, 10:20, 10:20] += 0.3
    res = detect_change(before, after.with_data(data), method="cva")
    html = res._repr_html_()
    assert "Change result" in html and "m²" in html and "cva" in html
    assert "Contains modified Copernicus Sentinel data 2020, 2025" in html
    with _first_png(html) as im:
        assert 400 < im.size[0] <= 600


def test_epoch_strip_marks_gaps(rgb_pair):
    from sitewatch.imagery.epochs import Epoch, EpochWindow

    before, after = rgb_pair(shape=(20, 20))
    eps = [Epoch(EpochWindow("2020", "2020-01-01", "2020-12-31"), before,
                 np.ones(before.shape, "uint16")),
           Epoch(EpochWindow("2021", "2021-01-01", "2021-12-31"), None,
                 np.zeros(before.shape, "uint16")),
           Epoch(EpochWindow("2025", "2025-01-01", "2025-12-31"), after,
                 np.ones(before.shape, "uint16"))]
    html = epochs_html(eps)
    assert html.count("<img") == 2 and "no clear observation" in html
    assert "2020, 2025" in html


def test_swipe_widget_moves_the_line(rgb_pair):
    pytest.importorskip("ipywidgets")
    before, after = rgb_pair()
    mask = np.zeros(before.shape, bool)
    mask[10:30, 10:40] = True
    box = swipe(before, after, mask=mask, width_px=320)
    caption, image, slider = box.children
    assert "2025-05-01" in caption.value and "Contains modified Copernicus" in caption.value
    first = image.value
    slider.value = 0.9
    assert image.value != first


def test_swipe_image_composes_dates_and_colours_outlines(rgb_pair):
    before, after = rgb_pair(shape=(60, 80))
    types = np.zeros(before.shape, "uint8")
    types[10:30, 10:40] = ChangeType.ROOF
    img = swipe_image(before, after, 1.0, change_type=types, width_px=160)
    roof = (np.abs(img.astype(int) - hex_rgb(CHANGE_COLOURS[ChangeType.ROOF])).max(-1) == 0)
    assert roof.sum() > 50  # the outline, in the roof colour
    left = swipe_image(before, after, 0.0, width_px=160)
    assert left.mean() < img.mean()  # position 0: all before (darker)


def test_swipe_without_ipywidgets_falls_back_to_the_figure(rgb_pair, monkeypatch):
    from matplotlib.figure import Figure

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    before, after = rgb_pair()
    assert isinstance(swipe(before, after), Figure)


def test_timeline_shows_its_progress_chart_and_story():
    # the bundled sample has two clear epochs, too few for a timeline: a synthetic series
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "timeline"))
    from timeline_helpers import ASPHALT, make_epochs, make_series

    from sitewatch.annotate.display import timeline_html
    from sitewatch.pipeline.timeline import run_timeline

    s = make_series(8, (40, 40), changes=[((slice(4, 10), slice(3, 27)), 4, ASPHALT)])
    tl = run_timeline(make_epochs(s.stack, start="2020-01-01"))
    html = timeline_html(tl)
    assert "Timeline" in html and "Between 2020-Q4 and 2021-Q1" in html
    assert "Contains modified Copernicus Sentinel data 2020, 2021" in html
    with _first_png(html) as im:
        assert 400 < im.size[0] <= 600
    if hasattr(type(tl), "_repr_html_"):
        assert "Timeline" in tl._repr_html_()
