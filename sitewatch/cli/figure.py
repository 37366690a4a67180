"""``sitewatch figure``: the before/after figure of a site in PNG, PDF and SVG."""

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


@click.command("figure", cls=SiteCommand)
@site_run_options
@out_option("sitewatch-figure")
@click.option("--view", default="true", show_default=True,
              help="true, false, swir, ndvi, ndbi, ndwi, mndwi, or three bands B12,B08,B04.")
@click.option("--overlay", type=click.Choice(["outline", "fill"]), default="outline",
              show_default=True, help="Change drawn as outlines or translucent fill.")
@click.option("--preset", type=click.Choice(["web", "single", "double"]), default="double",
              show_default=True, help="Width and type size: web 1200 px, journal columns.")
@click.option("--format", "formats", default="png,pdf,svg", show_default=True,
              help="Comma-separated formats.")
@click.option("--no-inset", is_flag=True, help="No zoom inset on the largest change.")
@click.option("--title", default=None, help="Figure title (default: the site's name).")
@overwrite_option
def command(site: str, merge: bool, imagery: Imagery, method: str | None,
            params: tuple[str, ...], min_area_m2: float, out: Path, view: str, overlay: str,
            preset: str, formats: str, no_inset: bool, title: str | None,
            overwrite: bool) -> None:
    """Before/after figure of SITE between its first and last clear epochs.

    Writes before_after.png/.pdf/.svg (+ a 1200 px web PNG), each with a
    provenance sidecar, into --out; prints the paths.
    """
    from sitewatch.pipeline.outputs import write_change_figures

    fmts = [f.strip().lower().lstrip(".") for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in ("png", "pdf", "svg")]
    if bad or not fmts:
        raise click.BadParameter(f"unknown format(s) {', '.join(bad) or repr(formats)}: use "
                                 "png, pdf, svg", param_hint="--format")
    folder = output_folder(out, overwrite, "figure")
    with folder as stage, Progress() as progress:
        run = run_from_options(site, merge, imagery, method, params, min_area_m2, progress)
        with progress.step("draw"):
            paths = write_change_figures(run.result, stage, formats=fmts, preset=preset,
                                         view=view, overlay=overlay, title=title,
                                         credits=run.credits, command=invoked_command(),
                                         inset=not no_inset)
    for p in folder.final_paths(paths).values():
        click.echo(str(p))
