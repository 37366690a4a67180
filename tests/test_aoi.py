"""Sites: catalogue, parsing, validation messages and grids."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import Point

from sitewatch.aoi import (
    get_site,
    grid_for_geometry,
    list_sites,
    parse_site,
    resolve_site,
    utm_crs_for,
)
from sitewatch.errors import AOIError, UnknownSiteError

BRIDGE = (124.3694, 40.0356)  # Wikipedia, New Yalu River Bridge


def test_catalogue_has_required_sites_with_sources():
    ids = {s.id for s in list_sites()}
    assert {"new-yalu-river-bridge", "sinuiju-customs", "dandong-customs",
            "sino-korean-friendship-bridge", "cupertino-apple-park"} <= ids
    for s in list_sites():
        assert s.sources, s.id
        assert all(src.get("title") for src in s.sources)
        assert s.accuracy_m is not None and s.accuracy_m > 0
        assert s.geometry.is_valid and not s.geometry.is_empty


def test_bridge_box_holds_the_crossing_and_landings():
    site = get_site("new-yalu-river-bridge")
    assert site.geometry.contains(Point(*BRIDGE))
    g = site.grid()
    width_m = g.width * g.res
    height_m = g.height * g.res
    # the 3 km crossing runs NW-SE: its 2.1 km projections fit with margin both ways
    assert width_m >= 3500 and height_m >= 3000
    for customs in ("dandong-customs", "sinuiju-customs"):
        assert site.geometry.intersects(get_site(customs).geometry)
    nw = get_site("dandong-customs").geometry.centroid
    se = get_site("sinuiju-customs").geometry.centroid
    assert nw.x < BRIDGE[0] < se.x and nw.y > BRIDGE[1] > se.y


def test_unknown_site_suggests_close_ids():
    with pytest.raises(UnknownSiteError, match="Did you mean sinuiju-customs"):
        get_site("sinuiju-custom")


@pytest.mark.parametrize("text", [
    "124.36,40.03,124.38,40.04",
    "124.36 40.03 124.38 40.04",
    "POLYGON((124.36 40.03, 124.38 40.03, 124.38 40.04, 124.36 40.04, 124.36 40.03))",
    '{"type": "Polygon", "coordinates": [[[124.36, 40.03], [124.38, 40.03], [124.38, 40.04], '
    '[124.36, 40.04], [124.36, 40.03]]]}',
])
def test_valid_inputs_parse_to_the_same_box(text):
    site = parse_site(text)
    assert [round(v, 4) for v in site.bounds] == [124.36, 40.03, 124.38, 40.04]
    assert site.grid().crs == "EPSG:32651"


def test_geojson_file_feature_collection_keeps_name(tmp_path):
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature",
          "properties": {"name": "My port", "id": "My Port 1"},
          "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [1.01, 1], [1.01, 1.01],
                                                           [1, 1.01], [1, 1]]]}}]}
    p = tmp_path / "port.geojson"
    p.write_text(json.dumps(fc))
    site = resolve_site(str(p))
    assert site.name == "My port" and site.id == "my-port-1"


@pytest.mark.parametrize("text, message", [
    ("40.03,124.36,40.04,124.38", "look like lat,lon; give lon,lat"),
    ("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", "invalid polygon (Self-intersection"),
    ('{"type": "FeatureCollection", "features": []}', "empty geometry"),
    ("POLYGON EMPTY", "empty geometry"),
    ("100,10,104,14", "site too large"),
    ("179.9,10,-179.9,10.1", "crosses the antimeridian"),
    ('{"type": "Polygon", "coordinates": [[[179.9, 10], [-179.9, 10], [-179.9, 10.1], '
     '[179.9, 10.1], [179.9, 10]]]}', "crosses the antimeridian"),
    ('{"type": "Polygon", "coordinates": [[[500000, 4000000], [501000, 4000000], '
     '[501000, 4001000], [500000, 4000000]]]}', "looks projected"),
    ("LINESTRING(124.36 40.03, 124.38 40.04)", "has no area"),
    ('{"type": "Polygon", "coordinates": [[[1, 2]', "malformed GeoJSON"),
    ("1,2,3", "needs 4 numbers"),
    ("124.36,40.04,124.38,40.03", "miny 40.04 is not below maxy"),
    ("somewhere nice", "cannot read 'somewhere nice' as a site"),
    ("does-not-exist", "no built-in site 'does-not-exist'"),
    ("missing.geojson", "no such file"),
])
def test_bad_inputs_say_what_is_wrong(text, message):
    with pytest.raises(AOIError) as info:
        resolve_site(text)
    assert message in str(info.value)


def test_declared_projected_crs_is_refused():
    gj = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": "urn:ogc:def:crs:EPSG::32651"}}, "features": [{"type": "Feature", "properties": {},
          "geometry": {"type": "Point", "coordinates": [1, 2]}}]}
    with pytest.raises(AOIError, match="declares CRS urn:ogc:def:crs:EPSG::32651"):
        parse_site(json.dumps(gj))


def test_pixel_budget_is_configurable():
    site = parse_site("124.36,40.03,124.38,40.04")
    with pytest.raises(AOIError, match="above the budget of 1,000"):
        site.grid(max_pixels=1000)


@pytest.mark.parametrize("lon, lat, epsg", [
    (124.3694, 40.0356, "EPSG:32651"), (-122.01, 37.33, "EPSG:32610"),
    (5.3, 60.4, "EPSG:32632"), (15.0, 78.0, "EPSG:32633"), (-47.9, -15.8, "EPSG:32723"),
])
def test_utm_zone(lon, lat, epsg):
    assert utm_crs_for(lon, lat) == epsg


def test_grid_is_snapped_to_the_sentinel2_lattice():
    site = get_site("sinuiju-customs")
    for res in (10, 20, 60):
        g = grid_for_geometry(site.geometry, res=res)
        assert g.transform.c % res == 0 and g.transform.f % res == 0
        minx, miny, maxx, maxy = g.bounds
        assert (maxx - minx) == g.width * res and (maxy - miny) == g.height * res
    # the grid covers the whole site
    from shapely.geometry import box

    from sitewatch.geometry import reproject_geometry

    g = site.grid()
    assert box(*g.bounds).contains(reproject_geometry(site.geometry, "EPSG:4326", g.crs))
