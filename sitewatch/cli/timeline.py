"""``sitewatch timeline``: when did a site change, by how much, of what kind."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from sitewatch.cli._progress import Progress
from sitewatch.cli.options import (
    Imagery,
    SiteCommand,
    imagery_options,
    method_option,
    min_area_option,
    out_option,
    output_folder,
    overwrite_option,
    site_argument,
)
from sitewatch.errors import ParameterError

_OPT = {"start": "from", "end": "to"}
#: The imagery options, none of which applies to the epochs of a fetch folder.
_IMAGERY_KEYS = ("source", "endpoint", "token_url", "profile", "sas_url", "start", "end",
                 "every", "cache_dir", "no_cache")


def _bands(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [b.strip().upper() for b in text.split(",") if b.strip()]


@click.command("timeline", cls=SiteCommand)
@site_argument(required=False)
@imagery_options(every="quarter")
@click.option("--epochs", "epochs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Use the epochs of a `sitewatch fetch` output folder instead of fetching "
                   "(SITE then optional; no imagery option applies).")
@click.option("--bands", metavar="B02,B03,...",
              help="Bands to use (default: the ten 10/20 m bands; for a local folder, the "
                   "bands its files hold).")
@method_option(default="cva", help="Two-date detector whose threshold decides (a spectral "
                                   "distance: cva).")
@click.option("--persistence", default=60.0, show_default=True,
              type=click.FloatRange(0, 3650), metavar="DAYS",
              help="Days the new state must be seen to hold, whatever the cadence (60: the "
                   "next quarter, two more months, or two months of scenes); 0 = no "
                   "confirmation.")
@min_area_option
@click.option("--coregister/--no-coregister", default=True, show_default=True,
              help="Align the epochs to the clearest one (as `sitewatch fetch` does).")
@click.option("--no-figure", is_flag=True, help="Skip the progress chart.")
@out_option("sitewatch-timeline")
@overwrite_option
def command(site: str | None, merge: bool, imagery: Imagery, epochs_dir: Path | None,
            bands: str | None, method: str, persistence: float, min_area_m2: float,
            coregister: bool, no_figure: bool, out: Path, overwrite: bool) -> None:
    """Change timeline of SITE: first-change dates, area per epoch by type, events.

    SITE is a catalogue id (`sitewatch aoi list`), a GeoJSON file, a bbox
    lon,lat,lon,lat (negative numbers need no "--") or WKT. A change
    counts when it lasts: the old state seen in at least two clear epochs, the
    new one over --persistence days; clouds are gaps (files without a cloud
    mask are screened from their pixels); vegetation changes the season can
    explain are reported as seasonal. The epochs are built as `sitewatch fetch`
    builds them, through its tile cache.
    Writes progress.csv/json, events.geojson, first_change.geojson,
    first_change_date.tif, progress.png and summary.json. Examples:

    \b
        sitewatch timeline cupertino-apple-park --from 2015-07-01 --to 2018-06-30
        sitewatch fetch new-yalu-river-bridge --from 2019-01-01 --to 2025-06-30 --out f
        sitewatch timeline --epochs f --out t
    """
    from sitewatch.aoi import resolve_site
    from sitewatch.pipeline.timeline import folder_timeline, run_timeline
    from sitewatch.pipeline.timeline_outputs import write_timeline_outputs

    the_site = resolve_site(site, merge=merge) if site else None
    use_bands = _bands(bands)
    kw: dict[str, Any] = {"method": method, "persistence_days": persistence,
                          "min_area_m2": min_area_m2, "bands": use_bands}
    im = None
    if epochs_dir is None:
        if the_site is None:
            raise ParameterError("give SITE (or --epochs FOLDER of a `sitewatch fetch` run)")
        im = imagery.for_site(the_site)
    else:
        ctx = click.get_current_context()
        given = [n for n in _IMAGERY_KEYS
                 if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
        if given:
            names = ", ".join("--" + _OPT.get(n, n).replace("_", "-") for n in given)
            raise ParameterError(f"--epochs reads the epochs of a fetch folder: {names} would "
                                 "not be used; leave them out, or leave out --epochs")
    with output_folder(out, overwrite, "timeline") as stage, Progress() as progress:
        t0 = time.perf_counter()
        if im is not None:
            assert the_site is not None
            from sitewatch.pipeline.fetch import run_fetch

            fetched = run_fetch(the_site, im.start, im.end, im.every, source=im.source,
                                source_options=im.source_options, bands=use_bands,
                                cache=im.cache, coregister=coregister, progress=progress)
            with progress.step("timeline"):
                res = run_timeline(fetched.epochs, site=the_site, **kw)
            origin = f"source {im.source}"
        else:
            assert epochs_dir is not None
            with progress.step("timeline"):
                res = folder_timeline(epochs_dir, site=the_site, **kw)
            origin = f"epochs from {epochs_dir}"
        with progress.step("write"):
            paths = write_timeline_outputs(res, stage, figure=not no_figure,
                                           command=["sitewatch", *sys.argv[1:]])
    name = res.site.name if res.site else "site"
    click.echo(f"sitewatch timeline: {name} ({res.epochs[0].label} to {res.epochs[-1].label}, "
               f"{len(res.epochs)} epochs, {origin})")
    for e in res.epochs:
        seen = "gap" if e.gap else (f"{len(e.scene_ids)} scene(s), {100 * e.clear_share:.0f}% "
                                    "of the site clear")
        if not e.gap and e.screened:
            seen += f" ({e.screened})"
        click.echo(f"  {e.label:<9} {seen}")
    share = res.changed_area_m2 / res.site_area_m2 if res.site_area_m2 else 0.0
    click.echo(f"  {res.changed_phrase}: {res.changed_area_m2:,.0f} m² ({100 * share:.1f}% of "
               "the site) in "
               f"{len(res.events)} events (detector {res.params['detector']}, persistence "
               f"{res.params['persistence_days']:g} days, minimum area {min_area_m2:g} m²)")
    for rec in sorted(res.event_records(), key=lambda r: -r["area_m2"])[:5]:
        click.echo(f"  - {rec['sentence']}")
    for note in res.notes:
        click.echo(f"  note: {note}")
    click.echo(f"  outputs  {out}/ ({', '.join(p.name for p in paths.values())}) in "
               f"{time.perf_counter() - t0:.1f} s")
    click.echo(f"  {res.attribution}")
