"""``sitewatch report``: one self-contained HTML page about a site."""

from __future__ import annotations

from pathlib import Path

import click

from sitewatch.cli._siterun import invoked_command, run_from_options, site_run_options
from sitewatch.errors import ConfigError


@click.command("report")
@site_run_options
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="HTML file to write (default: <site-id>-report.html).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def command(site: str, source: str, start: str | None, end: str | None, every: str,
            method: str | None, min_area_m2: float, out: Path | None,
            overwrite: bool) -> None:
    """Write one HTML report of SITE that opens offline: figures, timelapse, progress,
    largest changes, the scenes used and the provenance, all embedded."""
    from sitewatch.aoi import resolve_site
    from sitewatch.pipeline.report import write_report

    path = out or Path(f"{resolve_site(site).id}-report.html")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists: pass --overwrite to replace it, or choose another "
                          "--out")
    run = run_from_options(site, source, start, end, every, method, min_area_m2)
    write_report(run, path, command=invoked_command())
    click.echo(str(path))
