"""``sitewatch animate``: a timelapse of a site's epochs as GIF (and MP4)."""

from __future__ import annotations

from pathlib import Path

import click

from sitewatch.cli._siterun import invoked_command, run_from_options, site_run_options
from sitewatch.cli.options import SiteCommand, out_option, output_folder, overwrite_option


@click.command("animate", cls=SiteCommand)
@site_run_options
@out_option("sitewatch-animation")
@click.option("--view", default="true", show_default=True,
              help="true, false, swir, ndvi, ndbi, ndwi, mndwi, or three bands.")
@click.option("--overlay/--no-overlay", default=True, show_default=True,
              help="Show changes from the epoch they first appear.")
@click.option("--width", "width_px", type=click.IntRange(200, 4000), default=800,
              show_default=True, help="Frame width in pixels.")
@click.option("--mp4/--no-mp4", default=True, show_default=True,
              help="Also write an MP4 (needs ffmpeg or imageio-ffmpeg).")
@overwrite_option
def command(site: str, merge: bool, source: str, start: str | None, end: str | None,
            every: str, method: str | None, min_area_m2: float, out: Path, view: str,
            overlay: bool, width_px: int, mp4: bool, overwrite: bool) -> None:
    """Timelapse of SITE: one frame per epoch, one stretch, dates on every frame.

    Writes timelapse.gif (always), timelapse.mp4 (when an encoder is available)
    and timelapse.provenance.json into --out; prints the paths.
    """
    from sitewatch.pipeline.report import write_site_timelapse

    folder = output_folder(out, overwrite, "animate")
    with folder as stage:
        run = run_from_options(site, merge, source, start, end, every, method, min_area_m2)
        paths = write_site_timelapse(run, stage, view=view, overlay=overlay,
                                     width_px=width_px, mp4=mp4, command=invoked_command())
    paths = folder.final_paths(paths)
    if "timelapse_mp4" not in paths and mp4:
        click.echo("note: no ffmpeg found, MP4 skipped (pip install 'sitewatch[video]')",
                   err=True)
    for p in paths.values():
        click.echo(str(p))
