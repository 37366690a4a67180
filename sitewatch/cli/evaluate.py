"""``sitewatch evaluate``: score a detector against reference change labels."""

from __future__ import annotations

from pathlib import Path

import click

from sitewatch.cli._progress import Progress
from sitewatch.cli.options import (
    detector_params,
    method_option,
    min_area_option,
    output_folder,
    overwrite_option,
    param_option,
)


@click.group("evaluate")
def command() -> None:
    """Score detectors against reference labels."""


@command.command("oscd")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@method_option()
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for <city>.tif masks and metrics.json.")
@click.option("--city", "cities", multiple=True, help="Only this city (repeatable).")
@min_area_option
@param_option
@overwrite_option
def oscd_cmd(root: Path, method: str | None, out: Path, cities: tuple[str, ...],
             min_area_m2: float, params: tuple[str, ...], overwrite: bool) -> None:
    """Run a detector on every labelled city of an OSCD-layout folder ROOT.

    Writes OUT/<city>.tif (uint8 0/1 on the imgs_1 10 m grid, georeferenced like
    imgs_1 B02) and OUT/metrics.json (per city and pooled over all pixels).
    OSCD labels are CC BY-NC-SA 4.0 (Daudt et al. 2018).
    """
    from sitewatch.pipeline.evaluate import evaluate_oscd

    given = detector_params(method, params)
    with output_folder(out, overwrite, "evaluate") as stage, Progress() as progress:
        m = evaluate_oscd(root, method, stage, cities=cities or None, min_area_m2=min_area_m2,
                          params=given, progress=progress)
    click.echo(f"{'city':14s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'kappa':>6s}")
    for city, s in m["cities"].items():
        click.echo(f"{city:14s} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} "
                   f"{s['kappa']:6.3f}")
    p = m["pooled"]
    click.echo(f"{'pooled':14s} {p['precision']:9.3f} {p['recall']:7.3f} {p['f1']:6.3f} "
               f"{p['kappa']:6.3f}")
    click.echo(f"method {m['method']}; wrote {out}/metrics.json; labels CC BY-NC-SA 4.0, "
               "Daudt et al. 2018")
