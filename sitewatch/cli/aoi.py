"""``sitewatch aoi``: the built-in site catalogue and user site checks."""

from __future__ import annotations

import json

import click

from sitewatch.aoi import list_sites, resolve_site
from sitewatch.cli.options import SiteCommand, site_argument


@click.group("aoi")
def command() -> None:
    """Sites: list the catalogue, show one as GeoJSON, check your own."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="GeoJSON FeatureCollection on stdout.")
def list_cmd(as_json: bool) -> None:
    """Every built-in site with its coordinate source and accuracy."""
    sites = list_sites()
    if as_json:
        click.echo(json.dumps({"type": "FeatureCollection",
                               "features": [s.to_feature() for s in sites]}, indent=1))
        return
    for s in sites:
        acc = f"±{s.accuracy_m:g} m" if s.accuracy_m is not None else "accuracy unknown"
        area = s.area_m2() / 1e6
        click.echo(f"{s.id}  [{s.country}]  {s.name}")
        click.echo(f"    {area:.1f} km², coordinates {acc}")
        for src in s.sources:
            click.echo(f"    source: {src.get('title', '')}" +
                       (f" <{src['url']}>" if src.get("url") else ""))


@command.command("show", cls=SiteCommand)
@site_argument()
@click.option("--grid", "with_grid", is_flag=True,
              help="Add the site's UTM grid (CRS, transform, size) to the properties.")
def show_cmd(site: str, merge: bool, with_grid: bool) -> None:
    """One site (id, GeoJSON file, bbox or WKT) as a GeoJSON Feature on stdout.

    Use it to check a site before a run: a bbox is lon,lat,lon,lat in degrees
    (negative numbers need no "--").
    """
    s = resolve_site(site, merge=merge)
    feat = s.to_feature()
    if with_grid:
        feat["properties"]["grid"] = s.grid().to_dict()
    click.echo(json.dumps(feat, indent=1, ensure_ascii=False))
