"""``sitewatch report``: one self-contained HTML page about a site."""

from __future__ import annotations

from pathlib import Path

import click

from sitewatch.cli._progress import Progress
from sitewatch.cli._siterun import invoked_command, run_from_options, site_run_options
from sitewatch.cli.options import Imagery, SiteCommand


def _is_report(path: Path) -> bool:
    """Whether ``path`` is an HTML report sitewatch wrote (its generator tag)."""
    from sitewatch.annotate.report_html import GENERATOR

    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return GENERATOR.encode() in head


@click.command("report", cls=SiteCommand)
@site_run_options
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="HTML file to write (default: <site-id>-report.html).")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier report (never a file sitewatch did not write).")
def command(site: str, merge: bool, imagery: Imagery, method: str | None,
            params: tuple[str, ...], min_area_m2: float, out: Path | None,
            overwrite: bool) -> None:
    """Write one HTML report of SITE that opens offline: figures, timelapse, progress,
    largest changes, the scenes used and the provenance, all embedded."""
    from sitewatch.aoi import resolve_site
    from sitewatch.outdir import check_output_file
    from sitewatch.pipeline.report import write_report

    path = out or Path(f"{resolve_site(site, merge=merge).id}-report.html")
    check_output_file(path, overwrite=overwrite, is_ours=_is_report, what="report")
    with Progress() as progress:
        run = run_from_options(site, merge, imagery, method, params, min_area_m2, progress)
        with progress.step("draw"):
            write_report(run, path, command=invoked_command())
    click.echo(str(path))
