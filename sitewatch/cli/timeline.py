"""``sitewatch timeline``: when did a site change, by how much, of what kind."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from sitewatch.cli.options import (
    Number,
    SiteCommand,
    out_option,
    output_folder,
    overwrite_option,
    parse_every,
    site_argument,
)
from sitewatch.errors import ParameterError


def _bands(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [b.strip().upper() for b in text.split(",") if b.strip()]


@click.command("timeline", cls=SiteCommand)
@site_argument(required=False)
@click.option("--from", "start", metavar="DATE", help="First day (ISO 8601, e.g. 2020-01-01).")
@click.option("--to", "end", metavar="DATE", help="Last day (ISO 8601).")
@click.option("--every", default="quarter", show_default=True,
              help="Epoch cadence: month, quarter, year, or windows START/END,START/END.")
@click.option("--source", default="sample", show_default=True,
              help="Imagery source (`sitewatch sources`; sample = bundled offline scenes, "
                   "local = a folder).")
@click.option("--endpoint", metavar="URL",
              help="Source API URL; for --source local: the folder (OSCD city or dated "
                   "GeoTIFFs).")
@click.option("--token-url", metavar="URL", help="OAuth token URL (cdse, sentinelhub).")
@click.option("--profile", help="sentinelhub configuration profile (cdse, sentinelhub).")
@click.option("--epochs", "epochs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Use the epochs of a `sitewatch fetch` output folder instead of fetching "
                   "(SITE, --from, --to then optional).")
@click.option("--bands", metavar="B02,B03,...",
              help="Bands to use (default: the ten 10/20 m bands; for a local folder, the "
                   "bands its files hold).")
@click.option("--method", default="cva", show_default=True,
              help="Two-date detector whose threshold decides.")
@click.option("--persistence", default=None, type=click.IntRange(0, 20),
              help="Later clear epochs that must confirm a change (default: enough for the "
                   "change to hold about a season: 1 quarter, 2 months).")
@click.option("--min-area", "min_area", default=200.0, show_default=True,
              type=Number(low=0), help="Smallest change region kept, m².")
@click.option("--coregister/--no-coregister", default=True, show_default=True,
              help="Align the epochs to the clearest one (as `sitewatch fetch` does).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the tile cache.")
@click.option("--no-figure", is_flag=True, help="Skip the progress chart.")
@out_option("sitewatch-timeline")
@overwrite_option
def command(site: str | None, merge: bool, start: str | None, end: str | None, every: str,
            source: str, endpoint: str | None, token_url: str | None, profile: str | None,
            epochs_dir: Path | None, bands: str | None, method: str, persistence: int | None,
            min_area: float, coregister: bool, no_cache: bool, no_figure: bool, out: Path,
            overwrite: bool) -> None:
    """Change timeline of SITE: first-change dates, area per epoch by type, events.

    SITE is a catalogue id (`sitewatch aoi list`), a GeoJSON file, a bbox
    lon,lat,lon,lat (negative numbers need no "--") or WKT. A change
    counts when it lasts: the old state seen in at least two clear epochs, the
    new one in --persistence + 1; clouds are gaps.
    Writes progress.csv/json, events.geojson, first_change.geojson,
    first_change_date.tif, progress.png and summary.json. Examples:

    \b
        sitewatch timeline cupertino-apple-park --from 2015-07-01 --to 2018-06-30
        sitewatch fetch new-yalu-river-bridge --from 2019-01-01 --to 2025-06-30 --out f
        sitewatch timeline --epochs f --out t
    """
    from sitewatch.aoi import resolve_site
    from sitewatch.pipeline.timeline import folder_timeline, site_timeline
    from sitewatch.pipeline.timeline_outputs import write_timeline_outputs

    the_site = resolve_site(site, merge=merge) if site else None
    use_bands = _bands(bands)
    kw: dict[str, Any] = {"method": method, "persistence": persistence, "min_area_m2": min_area,
                          "bands": use_bands}
    if epochs_dir is None:
        if the_site is None or not start or not end:
            raise ParameterError("give SITE, --from and --to (or --epochs FOLDER of a "
                                 "`sitewatch fetch` run)")
        from sitewatch.cli.fetch import _source_options
        from sitewatch.imagery.cache import TileCache

        opts = _source_options(source, endpoint, token_url, profile, "s2-l2a", None)
        cache = None if (no_cache or source in ("sample", "local")) else TileCache(None)
    with output_folder(out, overwrite, "timeline") as stage:
        t0 = time.perf_counter()
        if epochs_dir is None:
            assert the_site is not None and start and end
            res = site_timeline(the_site, start, end, parse_every(every), source=source,
                                source_options=opts, cache=cache,
                                fetch_options={"coregister": coregister}, **kw)
            origin = f"source {source}"
        else:
            res = folder_timeline(epochs_dir, site=the_site, **kw)
            origin = f"epochs from {epochs_dir}"
        paths = write_timeline_outputs(res, stage, figure=not no_figure,
                                       command=["sitewatch", *sys.argv[1:]])
    name = res.site.name if res.site else "site"
    click.echo(f"sitewatch timeline: {name} ({res.epochs[0].label} to {res.epochs[-1].label}, "
               f"{len(res.epochs)} epochs, {origin})")
    for e in res.epochs:
        seen = "gap" if e.gap else (f"{len(e.scene_ids)} scene(s), {100 * e.clear_share:.0f}% "
                                    "of the site clear")
        click.echo(f"  {e.label:<9} {seen}")
    share = res.changed_area_m2 / res.site_area_m2 if res.site_area_m2 else 0.0
    click.echo(f"  {res.changed_phrase}: {res.changed_area_m2:,.0f} m² ({100 * share:.1f}% of "
               "the site) in "
               f"{len(res.events)} events (detector {res.params['detector']}, persistence "
               f"{res.params['persistence']}, minimum area {min_area:g} m²)")
    for rec in sorted(res.event_records(), key=lambda r: -r["area_m2"])[:5]:
        click.echo(f"  - {rec['sentence']}")
    for note in res.notes:
        click.echo(f"  note: {note}")
    click.echo(f"  outputs  {out}/ ({', '.join(p.name for p in paths.values())}) in "
               f"{time.perf_counter() - t0:.1f} s")
    click.echo(f"  {res.attribution}")
