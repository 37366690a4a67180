"""Figures are measured, not eyeballed: size, DPI, text, scale, north, colours."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from pyproj import Geod, Proj, Transformer

from sitewatch.annotate.cartography import north_arrow, scale_bar
from sitewatch.annotate.figures import before_after, compare, save_figure, show_raster
from sitewatch.annotate.style import CHANGE_COLOURS, PRESETS
from sitewatch.errors import ConfigError, DataError
from sitewatch.types import ChangeType

from .annotate_helpers import find_gid, hex_rgb, parse_length_m, render

GEOD = Geod(ellps="WGS84")


@pytest.mark.parametrize("preset", ["web", "single", "double"])
def test_png_size_and_dpi_follow_the_preset(rgb_pair, tmp_path, preset):
    before, after = rgb_pair()
    fig = before_after(before, after, title="Size", preset=preset)
    path = save_figure(fig, tmp_path / "fig.png")
    with Image.open(path) as im:
        width, _ = im.size
        dpi = im.info["dpi"]
    p = PRESETS[preset]
    assert width == round(p.width_in * p.dpi)
    assert round(dpi[0]) == p.dpi >= 300
    if preset == "web":
        assert width == 1200


def test_svg_and_pdf_keep_attribution_and_dates_as_text(rgb_pair, tmp_path):
    before, after = rgb_pair(dates=("2020-05-01", "2025-06-30"))
    fig = before_after(before, after, title="Sinuiju customs", subtitle="Land fill")
    svg = save_figure(fig, tmp_path / "fig.svg")
    texts = " | ".join("".join(t.itertext()) for t in ET.parse(svg).iter()
                       if t.tag.endswith("text"))
    assert "Contains modified Copernicus Sentinel data 2020, 2025" in texts
    assert "2020-05-01" in texts and "2025-06-30" in texts
    assert "Made with sitewatch" in texts and "Sinuiju customs" in texts
    pdf = save_figure(fig, tmp_path / "fig.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # embedded TrueType text, not paths


def test_unknown_format_and_preset_are_clear_errors(rgb_pair, tmp_path):
    before, after = rgb_pair()
    with pytest.raises(ConfigError, match="web, single, double"):
        before_after(before, after, preset="poster")
    fig = before_after(before, after)
    with pytest.raises(DataError, match=r"\.png, \.pdf or \.svg"):
        save_figure(fig, tmp_path / "fig.jpg")


def _bar_ground_metres(fig, ax, raster):
    """Ground length of the drawn scale bar, from its pixels and the raster's transform."""
    render(fig)
    (frame,) = [a for a in find_gid(fig, "scalebar") if a.axes is None or a.axes is ax] or \
        find_gid(fig, "scalebar")
    bar_px = frame.get_window_extent().width
    ax_box = ax.get_window_extent()
    cols = bar_px / ax_box.width * raster.width            # raster columns spanned
    map_len = cols * raster.transform.a                    # CRS units along x
    # where the bar is: its display position mapped into the raster's rows and columns
    ext = frame.get_window_extent()
    row = (ax_box.y1 - ext.y0) / ax_box.height * raster.height
    col = (ext.x0 - ax_box.x0) / ax_box.width * raster.width
    x0, y0 = raster.transform @ (col, row)
    to_ll = Transformer.from_crs(raster.crs, "EPSG:4326", always_xy=True)
    lon0, lat0 = to_ll.transform(x0, y0)
    lon1, lat1 = to_ll.transform(x0 + map_len, y0)
    return GEOD.inv(lon0, lat0, lon1, lat1)[2]


@pytest.mark.parametrize("case", ["utm-far-from-meridian", "utm-on-meridian", "geographic"])
def test_scale_bar_length_matches_its_label_within_1_percent(rgb_pair, case):
    if case == "geographic":
        # the bundled sample's kind of grid: EPSG:4326, square in degrees, not on the ground
        before, _ = rgb_pair(crs="EPSG:4326", centre_lonlat=(-122.0, 37.33),
                             res=(1.0175e-4, 1.0175e-4), shape=(120, 160))
    elif case == "utm-on-meridian":
        before, _ = rgb_pair(crs="EPSG:32651", centre_lonlat=(123.0, 40.0))
    else:  # 2.4 degrees east of zone 51's central meridian at 60 N: scale factor ~1.0005
        before, _ = rgb_pair(crs="EPSG:32651", centre_lonlat=(125.4, 60.0), shape=(300, 400))
    fig = compare([before], captions=["x"], preset="double")
    ax = fig.axes[0]
    (label,) = [t.get_text() for t in find_gid(fig, "scalebar-label")]
    length = parse_length_m(label)
    assert str(int(length))[0] in "125" and set(str(int(length))[1:]) <= {"0"}  # round length
    measured = _bar_ground_metres(fig, ax, before)
    assert abs(measured - length) / length < 0.01, (measured, label)
    # ... and in the rendered pixels: the bar's dark outline spans the same length
    img = render(fig)[..., :3].astype(int)
    (frame,) = find_gid(fig, "scalebar")
    ext = frame.get_window_extent()
    row = img.shape[0] - int(round((ext.y0 + ext.y1) / 2))
    dark = np.flatnonzero(img[row, int(ext.x0) - 10:int(ext.x1) + 10].sum(axis=-1) < 150)
    lw_px = frame.get_linewidth() * fig.dpi / 72
    drawn_px = dark.max() - dark.min() + 1 - lw_px  # the stroke straddles the bar's ends
    assert abs(drawn_px - ext.width) <= 0.6 * lw_px + 1, (drawn_px, ext.width)  # antialiasing


def test_scale_bar_is_readable_and_not_a_sliver(rgb_pair):
    before, _ = rgb_pair(shape=(200, 200))
    fig = compare([before], captions=["x"], preset="web")
    render(fig)
    (frame,) = find_gid(fig, "scalebar")
    frac = frame.get_window_extent().width / fig.axes[0].get_window_extent().width
    assert 0.1 < frac <= 0.28  # long enough to read, short enough to stay in its corner


def _arrow_angle(fig, arrow) -> float:
    render(fig)
    verts = arrow.get_transform().transform(arrow.get_path().vertices)
    tip, tail = verts[0], verts[2]
    return math.degrees(math.atan2(tip[0] - tail[0], tip[1] - tail[1]))


def test_north_arrow_points_to_true_north_far_from_the_central_meridian(rgb_pair):
    lon, lat = 125.4, 60.0  # zone 51 (central meridian 123 E)
    before, _ = rgb_pair(crs="EPSG:32651", centre_lonlat=(lon, lat), shape=(300, 400))
    fig = compare([before], captions=["x"])
    (arrow,) = find_gid(fig, "northarrow")
    drawn = _arrow_angle(fig, arrow)
    gamma = Proj("EPSG:32651").get_factors(lon, lat).meridian_convergence
    assert gamma > 2  # the test site really is far from the central meridian
    # grid north is clockwise of true north by gamma: the arrow leans left (anticlockwise)
    assert drawn == pytest.approx(-gamma, abs=0.05)


def test_north_arrow_west_of_meridian_and_on_geographic_grids(rgb_pair):
    from matplotlib.figure import Figure

    before, _ = rgb_pair(crs="EPSG:32651", centre_lonlat=(120.3, 45.0))
    fig = Figure(figsize=(3, 3), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    show_raster(before, ax=ax, scalebar=False, north=False)
    arrow = north_arrow(ax, before.crs)
    gamma = Proj("EPSG:32651").get_factors(120.3, 45.0).meridian_convergence
    assert gamma < -1.5 and _arrow_angle(fig, arrow.arrow) == pytest.approx(-gamma, abs=0.05)
    geo, _ = rgb_pair(crs="EPSG:4326", centre_lonlat=(-122.0, 37.33), res=1e-4)
    fig2 = compare([geo], captions=["x"])
    (arrow2,) = find_gid(fig2, "northarrow")
    assert _arrow_angle(fig2, arrow2) == pytest.approx(0.0, abs=1e-6)


def test_scale_bar_primitive_takes_an_explicit_length(rgb_pair):
    from matplotlib.figure import Figure

    before, _ = rgb_pair()
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = show_raster(before, ax=fig.add_axes((0, 0, 1, 1)), scalebar=False, north=False)
    bar = scale_bar(ax, before.crs, length_m=200)
    assert bar.label == "200 m"
    assert _bar_ground_metres(fig, ax, before) == pytest.approx(200, rel=0.01)


@pytest.mark.parametrize("mode", ["fill", "outline"])
def test_overlay_pixels_carry_the_change_type_colours(rgb_pair, mode):
    before, after = rgb_pair(shape=(60, 80))
    types = np.zeros(before.shape, "uint8")
    blocks = {ChangeType.PAVING: (5, 5), ChangeType.ROOF: (30, 45), ChangeType.DEMOLITION: (42, 8),
              ChangeType.WATER: (8, 55)}
    for code, (r, c) in blocks.items():
        types[r:r + 12, c:c + 14] = code
    kw = {"overlay": mode}
    fig = before_after(before, after, change_type=types, scalebar=False, north=False, **kw)
    if mode == "fill":
        for p in find_gid(fig, "change-paving") + find_gid(fig, "change-roof") + \
                find_gid(fig, "change-demolition") + find_gid(fig, "change-water"):
            p.set_alpha(1.0)
    img = render(fig)[..., :3].astype(int)
    ax = fig.axes[1]
    h = img.shape[0]
    for code, (r, c) in blocks.items():
        colour = hex_rgb(CHANGE_COLOURS[code])
        if mode == "fill":
            x, y = ax.transData.transform(before.transform @ (c + 7, r + 6))
            assert np.abs(img[h - int(round(y)), int(round(x))] - colour).max() <= 3, code
        else:  # the outline's pixels: along the block's edge, not inside it
            x0, y0 = ax.transData.transform(before.transform @ (c, r))
            x1, y1 = ax.transData.transform(before.transform @ (c + 14, r + 12))
            edge = img[h - int(y0) - 2:h - int(y0) + 3, int(x0):int(x1)]
            hits = (np.abs(edge - colour).max(axis=-1) <= 3).sum()
            assert hits >= 0.5 * (int(x1) - int(x0)), (code, hits)
    # ... and nowhere in the before panel (overlay on the last panel only)
    bx = fig.axes[0].get_window_extent()
    before_px = img[h - int(bx.y1) + 2:h - int(bx.y0) - 2, int(bx.x0) + 2:int(bx.x1) - 2]
    orange = hex_rgb(CHANGE_COLOURS[ChangeType.PAVING])
    assert (np.abs(before_px - orange).max(axis=-1) <= 3).sum() == 0
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["new paving", "new roof", "demolition", "water change"]


def test_one_stretch_for_every_panel_keeps_brightness_differences(rgb_pair):
    before, after = rgb_pair()
    fig = before_after(before, after)
    b, a = (np.asarray(ax.images[0].get_array()) for ax in fig.axes[:2])
    assert a.mean() > b.mean() + 0.2  # after is 0.05 brighter in reflectance: it shows
    fig_ndvi = before_after(before, after, view="ndvi")
    c0, c1 = (ax.images[0].get_clim() for ax in fig_ndvi.axes[:2])
    assert c0 == c1  # one colour range
    assert fig_ndvi.axes[-1].xaxis.get_label().get_text().startswith("NDVI")


def test_more_than_two_panels_gaps_and_dates_as_captions(rgb_pair):
    before, after = rgb_pair()
    mid = after.with_data(after.data, dates=("2022-07-15",))
    fig = compare([before, None, mid, after], view="false")
    caps = [ax.get_title(loc="left") for ax in fig.axes[:4]]
    assert caps == ["2020-05-01", "no clear observation", "2022-07-15", "2025-05-01"]
    attribution = [t for t in fig.texts if t.get_gid() == "attribution"][0].get_text()
    assert "2020, 2022, 2025" in attribution


def test_functions_draw_into_given_axes_and_return_them(rgb_pair):
    from matplotlib.figure import Figure

    before, after = rgb_pair()
    fig = Figure(figsize=(6, 3))
    axes = fig.subplots(1, 2)
    out = before_after(before, after, axes=axes, mask=np.ones(before.shape, bool))
    assert out is fig and len(fig.axes) == 2
    credit = [t.get_text() for t in axes[1].texts if t.get_gid() == "attribution"]
    assert credit and "Contains modified Copernicus Sentinel data 2020, 2025" in credit[0]
    ax = fig.add_axes((0, 0, 0.1, 0.1))
    assert show_raster(before, ax=ax) is ax


def test_site_outline_drawn_unless_it_is_the_frame(rgb_pair):
    from shapely.geometry import box

    before, after = rgb_pair(crs="EPSG:4326", centre_lonlat=(124.37, 40.04), res=1e-4)
    inner = box(124.367, 40.038, 124.373, 40.042)
    fig = before_after(before, after, site=inner)
    assert len(find_gid(fig, "site-outline")) == 2
    assert "site outline" in [t.get_text() for t in fig.legends[0].get_texts()]
    frame = box(*before.bounds)
    assert find_gid(before_after(before, after, site=frame), "site-outline") == []


def test_png_bytes_are_a_real_png(rgb_pair, tmp_path):
    before, after = rgb_pair()
    path = save_figure(before_after(before, after, preset="web"), tmp_path / "f.png")
    with Image.open(io.BytesIO(path.read_bytes())) as im:
        assert im.format == "PNG" and im.mode in ("RGBA", "RGB")
        assert "Contains modified Copernicus" in im.info.get("Description", "")


def test_zoom_inset_and_callouts_are_labelled_and_never_overlap(rgb_pair):
    from sitewatch.detectors.polygons import regions_from_mask

    before, after = rgb_pair(shape=(120, 160))
    types = np.zeros(before.shape, "uint8")
    types[20:32, 20:34] = ChangeType.PAVING      # the largest
    types[80:88, 120:130] = ChangeType.ROOF
    types[60:66, 60:67] = ChangeType.CONSTRUCTION
    types[100:104, 20:25] = ChangeType.DEMOLITION
    regions = regions_from_mask(types > 0, before.transform, before.crs, change_type=types)
    fig = before_after(before, after, change_type=types, regions=regions, inset=True,
                       callouts=4, preset="double")
    render(fig)
    ax = fig.axes[1]
    (inset,) = [a for a in ax.child_axes if a.get_gid() == "zoom-inset"]
    labels = [t for t in fig.findobj(lambda a: a.get_gid() == "callout")]
    (caption,) = [t.get_text().replace("\n", " ") for t in labels if t.axes is inset]
    assert caption == "new paving, 16,800 m²"  # 12 x 14 pixels of 10 m x 10 m
    others = {t.get_text() for t in labels if t.axes is ax}
    assert len(others) >= 2 and all(re.fullmatch(r"[a-z /]+, [\d,]+ m²", o) for o in others)
    # the inset magnifies at least twice
    zoom = (ax.get_xlim()[1] - ax.get_xlim()[0]) / (inset.get_xlim()[1] - inset.get_xlim()[0])
    assert zoom * inset.get_position().width / ax.get_position().width >= 1.99
    boxes = [t.get_window_extent() for t in labels if t.axes is ax]
    panel, ins = ax.get_window_extent(), inset.get_window_extent()
    for i, b in enumerate(boxes):
        assert panel.x0 <= b.x0 and b.x1 <= panel.x1 and panel.y0 <= b.y0 and b.y1 <= panel.y1
        assert not b.overlaps(ins)
        assert not any(b.overlaps(o) for o in boxes[i + 1:])
    # nor across the zoom indicator: its source box and its connector lines
    (ind,) = [a for a in ax.artists if getattr(a, "rectangle", None) is not None]
    lines = [c.get_transform().transform_path(c.get_path()) for c in ind.connectors
             if c.get_visible()]
    assert lines
    for b in boxes:
        assert not b.overlaps(ind.rectangle.get_window_extent())
        assert not any(ln.intersects_bbox(b, filled=False) for ln in lines)


@pytest.mark.parametrize("roof_at", [(70, 62)])
def test_callouts_keep_off_the_zoom_connectors(rgb_pair, roof_at):
    # the largest region bottom left puts the inset top right and its connector lines
    # across the panel; a second region on their way used to get its label on a line
    from sitewatch.detectors.polygons import regions_from_mask

    before, after = rgb_pair(shape=(120, 160))
    types = np.zeros(before.shape, "uint8")
    types[84:100, 10:26] = ChangeType.PAVING
    r, c = roof_at
    types[r:r + 4, c:c + 4] = ChangeType.ROOF
    regions = regions_from_mask(types > 0, before.transform, before.crs, change_type=types)
    fig = before_after(before, after, change_type=types, regions=regions, inset=True,
                       callouts=2, preset="double")
    render(fig)
    ax = fig.axes[1]
    (ind,) = [a for a in ax.artists if getattr(a, "rectangle", None) is not None]
    lines = [cn.get_transform().transform_path(cn.get_path()) for cn in ind.connectors
             if cn.get_visible()]
    boxes = [t.get_window_extent() for t in fig.findobj(lambda a: a.get_gid() == "callout")
             if t.axes is ax]
    assert lines and boxes  # the roof got its label, somewhere clear
    assert not any(ln.intersects_bbox(b, filled=False) for ln in lines for b in boxes)


def test_large_rasters_are_averaged_for_display_without_moving_them(rgb_pair):
    before, after = rgb_pair(shape=(300, 2400))
    fig = before_after(before, after, preset="web", north=False)
    ax = fig.axes[0]
    shown = np.asarray(ax.images[0].get_array())
    assert shown.shape[1] <= 1200  # a 570-pixel-wide panel does not need 2400 columns
    assert ax.images[0].get_extent() == [before.bounds[0], before.bounds[2],
                                         before.bounds[1], before.bounds[3]]
    assert abs(shown.mean() - np.asarray(fig.axes[1].images[0].get_array()).mean()) > 0.1
