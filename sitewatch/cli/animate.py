"""``sitewatch animate``: a timelapse of a site's epochs as GIF (and MP4)."""

from __future__ import annotations

from pathlib import Path

import click

from sitewatch.cli._progress import Progress
from sitewatch.cli._siterun import invoked_command, run_from_options, site_run_options
from sitewatch.cli.options import (
    Imagery,
    SiteCommand,
    out_option,
    output_folder,
    overwrite_option,
)


@click.command("animate", cls=SiteCommand)
@site_run_options
@out_option("sitewatch-animation")
@click.option("--view", default="true", show_default=True,
              help="true, false, swir, ndvi, ndbi, ndwi, mndwi, or three bands.")
@click.option("--overlay", type=click.Choice(["outline", "fill", "none"]), default="outline",
              show_default=True, is_flag=False, flag_value="outline",
              help="Changes drawn from the epoch they first appear, as outlines or "
                   "translucent fill, or not at all.")
@click.option("--no-overlay", is_flag=True, hidden=True, help="Old spelling of --overlay none.")
@click.option("--width", "width_px", type=click.IntRange(200, 4000), default=800,
              show_default=True, help="Frame width in pixels.")
@click.option("--mp4/--no-mp4", default=True, show_default=True,
              help="Also write an MP4 (needs ffmpeg or imageio-ffmpeg).")
@overwrite_option
def command(site: str, merge: bool, imagery: Imagery, method: str | None,
            params: tuple[str, ...], min_area_m2: float, out: Path, view: str, overlay: str,
            no_overlay: bool, width_px: int, mp4: bool, overwrite: bool) -> None:
    """Timelapse of SITE: one frame per epoch, one stretch, dates on every frame.

    Writes timelapse.gif (always), timelapse.mp4 (when an encoder is available)
    and timelapse.provenance.json into --out; prints the paths.
    """
    from sitewatch.pipeline.report import write_site_timelapse

    if no_overlay:
        overlay = "none"
    folder = output_folder(out, overwrite, "animate")
    with folder as stage, Progress() as progress:
        run = run_from_options(site, merge, imagery, method, params, min_area_m2, progress)
        with progress.step("draw"):
            paths = write_site_timelapse(run, stage, view=view, overlay=overlay,
                                         width_px=width_px, mp4=mp4,
                                         command=invoked_command())
    paths = folder.final_paths(paths)
    if "timelapse_mp4" not in paths and mp4:
        click.echo("note: no ffmpeg found, MP4 skipped (pip install 'sitewatch[video]')",
                   err=True)
    for p in paths.values():
        click.echo(str(p))
