"""``sitewatch watch``: run a watchlist of sites in parallel, resumably."""

from __future__ import annotations

from pathlib import Path

import click

from sitewatch.cli.main import EXIT_PARTIAL
from sitewatch.cli.options import progress_enabled


@click.command("watch")
@click.argument("watchlist", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
              help="Use this existing dask.distributed scheduler instead of a local cluster.")
@click.option("--workers", type=click.IntRange(min=0), default=None, show_default=False,
              help="Worker processes of the local cluster [default: 2]; 0 runs the sites one "
                   "after another in this process, without dask.")
@click.option("--force", is_flag=True, help="Redo sites an earlier run already finished.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("sitewatch-watch"), show_default=True,
              help="Output folder: one sub-folder per site, plus watch_summary.json/.csv.")
def command(watchlist: Path, scheduler: str | None, workers: int | None, force: bool,
            out: Path) -> None:
    """Fetch, detect and draw every site of WATCHLIST (.geojson or .yaml).

    Sites run in parallel on a dask.distributed LocalCluster, or on an existing
    cluster with --scheduler (its workers need sitewatch installed and OUT on a shared
    disk). A run can be stopped at any time: finished sites keep their results and
    are skipped next time unless --force, or unless their settings changed. One
    site's failure is reported and the others go on; the exit code is 3 (partial
    failure) when any site failed. OUT may hold only what `sitewatch watch` wrote.
    """
    from sitewatch.pipeline.sitejob import SiteOutcome
    from sitewatch.pipeline.watchlist import read_watchlist
    from sitewatch.pipeline.watchrun import DEFAULT_WORKERS, run_watchlist

    if scheduler and workers is not None:
        raise click.UsageError("--workers sets the size of a local cluster; with --scheduler "
                               "the cluster's own workers are used: give one or the other")
    wl = read_watchlist(watchlist)
    n = len(wl)

    show = progress_enabled()

    def progress(o: SiteOutcome) -> None:
        note = {"done": f"{o.regions} regions, {o.changed_area_m2:,.0f} m² in {o.seconds:.1f} s",
                "skipped": "already done", "failed": o.message}[o.status]
        if show or o.status == "failed":
            click.echo(f"  {o.status:<7} {o.id}: {note}", err=True)

    if show:
        click.echo(f"sitewatch watch: {n} site{'s' * (n != 1)} from {watchlist} -> {out}/",
                   err=True)
    report = run_watchlist(wl, out, scheduler=scheduler,
                           workers=DEFAULT_WORKERS if workers is None else workers,
                           force=force, on_outcome=progress)
    c = report.counts()
    click.echo(report.table())
    if show or c["failed"]:
        click.echo(f"{c['done']} done, {c['skipped']} skipped (already done), {c['failed']} "
                   f"failed in {report.seconds:.1f} s on {report.scheduler}; summary in "
                   f"{report.out_dir / 'watch_summary.json'}", err=True)
    if c["failed"]:
        raise click.exceptions.Exit(EXIT_PARTIAL)
