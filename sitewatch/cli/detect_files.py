"""``sitewatch detect-files``: change between two large raster files, in bounded memory."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sitewatch.cli._progress import Progress
from sitewatch.cli.options import (
    detector_params,
    method_option,
    min_area_option,
    out_option,
    output_folder,
    overwrite_option,
    param_option,
    progress_enabled,
)


@click.command("detect-files")
@click.argument("before", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@method_option()
@min_area_option
@click.option("--bands", default=None, metavar="B02,B03,...",
              help="Bands to use (default: the detector's, else all both files have).")
@click.option("--block-rows", type=click.IntRange(min=1), default=None,
              help="Rows per block (default: the files' tile height).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="Blocks processed at once.")
@param_option
@out_option("sitewatch-detect-files")
@overwrite_option
def command(before: Path, after: Path, method: str | None, min_area_m2: float,
            bands: str | None,
            block_rows: int | None, threads: int, params: tuple[str, ...], out: Path,
            overwrite: bool) -> None:
    """Detect change between BEFORE and AFTER (GeoTIFFs on one grid, e.g. two full
    Sentinel-2 tiles) block by block, in memory that does not grow with their size.

    Writes the change mask and magnitude (COGs), the change regions with their
    areas (GeoJSON, largest first) and summary.json with the files' scene ids.
    Integer pixels are read as reflectance x 10000; no-data is missing.
    """
    from sitewatch.pipeline.blockwise import detect_change_files

    given = detector_params(method, params)
    folder = output_folder(out, overwrite, "detect-files")
    with folder as stage, Progress() as progress:
        res = detect_change_files(before, after, stage, method=method,
                                  min_area_m2=min_area_m2,
                                  bands=[b.strip() for b in bands.split(",") if b.strip()]
                                  if bands else None, block_rows=block_rows, threads=threads,
                                  progress=progress, **given)
    res.paths = folder.final_paths(res.paths)
    s = res.summary
    rows, cols = res.shape
    if progress_enabled():
        click.echo(f"sitewatch detect-files: {rows} x {cols} px, {s['detector']['method']} "
                   f"({res.fit_passes} fit passes) in {res.timings['total']:.1f} s", err=True)
    click.echo(f"  change   {res.changed_area_m2:,.0f} m² in {res.regions:,} regions "
               f"({100 * (s['results']['changed_share'] or 0):.2f}% of the observed area)")
    click.echo(f"  outputs  {out}/ ({', '.join(p.name for p in res.paths.values())})")
    click.echo(f"  {s['attribution']}")
    if res.regions == 0:
        click.echo("  no change region found", err=True)
    sys.stdout.flush()
