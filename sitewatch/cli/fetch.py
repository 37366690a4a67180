"""``sitewatch fetch``: epoch composites of a site from a free imagery source."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from sitewatch.cli._progress import Progress
from sitewatch.cli.options import (
    Imagery,
    Number,
    SiteCommand,
    imagery_options,
    out_option,
    output_folder,
    overwrite_option,
    site_argument,
    with_skip_hint,
)
from sitewatch.errors import CorruptFileError, FetchError


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _table(result: Any) -> list[str]:
    lines = []
    for e in result.epochs:
        head = f"{e.label:<9} {e.window.start}..{e.window.end}"
        if e.is_gap:
            lines.append(f"{head}  gap: {e.flags.get('gap', 'no data')}")
        else:
            reg = e.flags.get("coregistration", {})
            shift = ""
            if reg.get("status") in ("corrected", "negligible", "exceeds limit"):
                shift = f", shift {reg.get('shift_px', 0):.2f} px {reg['status']}"
            elif reg.get("status") == "reference":
                shift = ", co-registration reference"
            lines.append(f"{head}  {e.composite} of {len(e.scenes)} scene(s), "
                         f"{_pct(e.clear_fraction)} of the grid covered{shift}")
        used = {s.id for s in e.scenes}
        screens = {d["scene_id"]: d for d in e.screens}
        for s in e.scenes:
            cf = screens.get(s.id, {}).get("clear_fraction")
            clear = f"clear {_pct(cf)}" if cf is not None else ""
            lines.append(f"    {s.date}  {s.id:<44} {clear}")
        for sid, d in screens.items():
            if sid not in used:
                lines.append(f"    ({d['date']}  {sid:<43} clear {_pct(d['clear_fraction'])}, "
                             "not used)")
        for sid, why in e.flags.get("skipped", {}).items():
            lines.append(f"    (skipped {sid}: {why})")
    return lines


@click.command("fetch", cls=SiteCommand)
@site_argument()
@imagery_options(every="quarter", product=True)
@click.option("--bands", default=None, help="Comma-separated bands (default: the ten 10/20 m "
                                           "land bands, or VV,VH).")
@click.option("--composite", type=click.Choice(["median", "best"]), default="median",
              show_default=True, help="Per-pixel median of clear observations, or the clearest "
                                      "single scene.")
@click.option("--min-clear", type=Number(low=0, high=1), default=0.1, show_default=True,
              help="Use scenes clear over at least this share of the site.")
@click.option("--max-scenes", type=click.IntRange(1), default=8, show_default=True,
              help="Use at most this many of the clearest scenes per epoch.")
@click.option("--max-cloud", type=Number(low=0, high=100), default=None,
              help="Skip scenes whose tile-wide cloud cover (%) is above this, before any "
                   "pixel is read (default: screen every scene over the site).")
@click.option("--coregister/--no-coregister", default=True, show_default=True,
              help="Align the epochs to the clearest one (sub-pixel phase correlation).")
@click.option("--max-shift", type=Number(low=0), default=3.0, show_default=True,
              help="Largest co-registration shift corrected, in pixels.")
@click.option("--strict-shift", is_flag=True,
              help="Stop with an error when an epoch is shifted beyond --max-shift (default: "
                   "flag the epoch and leave it uncorrected).")
@click.option("--on-error", type=click.Choice(["stop", "skip"]), default="stop",
              show_default=True, help="A scene that cannot be fetched stops the run, or is "
                                      "skipped and reported.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON on stdout.")
@out_option("sitewatch-fetch")
@overwrite_option
def command(site: str, merge: bool, imagery: Imagery, bands: str | None, composite: str,
            min_clear: float, max_scenes: int, max_cloud: float | None, coregister: bool,
            max_shift: float, strict_shift: bool, on_error: str, as_json: bool, out: Path,
            overwrite: bool) -> None:
    """Fetch epoch composites of SITE (an id from `sitewatch aoi list`, a bbox, GeoJSON or WKT).

    One composite per epoch (per-pixel median of the cloud-free observations), with
    per-pixel clear counts, written to the output folder as Cloud-Optimized GeoTIFFs
    with an epochs.json manifest naming every scene used. Example:

        sitewatch fetch new-yalu-river-bridge --from 2019-01-01 --to 2025-06-30

    Later commands on the same site and period (figure, animate, report, detect,
    timeline) read these scenes from the tile cache instead of downloading them again.
    """
    from sitewatch.aoi import resolve_site
    from sitewatch.attribution import copernicus_attribution
    from sitewatch.pipeline.fetch import run_fetch

    the_site = resolve_site(site, merge=merge)
    im = imagery.for_site(the_site)
    start, end, every = im.start, im.end, im.every_text
    progress = Progress()
    folder = output_folder(out, overwrite, "fetch")
    try:
        with folder as stage:
            result = run_fetch(the_site, start, end, im.every, source=im.source,
                               source_options=im.source_options,
                               bands=[b.strip() for b in bands.split(",") if b.strip()]
                               if bands else None,
                               composite=composite, min_clear=min_clear, max_scenes=max_scenes,
                               max_cloud=max_cloud, coregister=coregister,
                               max_shift_px=max_shift,
                               on_excess="error" if strict_shift else "flag",
                               on_error="raise" if on_error == "stop" else "skip",
                               cache=im.cache,
                               out=stage, progress=progress,
                               command=["sitewatch", *sys.argv[1:]])
    except (FetchError, CorruptFileError) as err:
        raise with_skip_hint(err) from err
    finally:
        progress.close()
    assert result.manifest is not None
    if as_json:
        click.echo(folder.final(result.manifest).read_text())
        return
    used = result.used
    click.echo(f"sitewatch fetch: {the_site.name} ({the_site.id}) from {result.source}, "
               f"{start} to {end} every {every}")
    for line in _table(result):
        click.echo(line)
    stats = result.stats
    if stats:
        click.echo(f"  cache: {stats.get('window_hits', 0)} windows and "
                   f"{stats.get('search_hits', 0)} searches from disk, "
                   f"{stats.get('window_misses', 0)} windows fetched")
    click.echo(f"  outputs: {out}/ ({len(used)} composites, {len(result.epochs)} epochs in "
               "epochs.json)")
    years = sorted({int(s.date[:4]) for e in used for s in e.scenes})
    if years:
        click.echo(f"  {copernicus_attribution(years)}")
