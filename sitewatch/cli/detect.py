"""``sitewatch detect``: change between two date windows at a site."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sitewatch.cli.evaluate import param_option, parse_params
from sitewatch.cli.options import method_option, out_option, overwrite_option, prepare_out_dir


def parse_window(text: str) -> tuple[str, str]:
    """``START/END`` (ISO dates) to a (start, end) pair.

    Examples
    --------
    >>> parse_window("2015-06-01/2015-09-30")
    ('2015-06-01', '2015-09-30')
    """
    start, sep, end = text.partition("/")
    if not sep or not start or not end:
        raise click.BadParameter(f"{text!r}: give a window as START/END, e.g. "
                                 "2019-05-01/2019-09-30")
    from sitewatch.raster import iso_date

    try:
        return iso_date(start), iso_date(end)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@click.command("detect")
@click.argument("site")
@click.option("--source", default="sample", show_default=True,
              help="Imagery source (sample, local, earth-search, ...).")
@click.option("--before", "before", required=True, metavar="START/END",
              help="Window of the before composite, e.g. 2019-05-01/2019-09-30.")
@click.option("--after", "after", required=True, metavar="START/END",
              help="Window of the after composite.")
@method_option()
@click.option("--min-area", type=float, default=None,
              help="Minimum mapping unit in m² (default 200).")
@param_option
@out_option("sitewatch-detect")
@overwrite_option
def command(site: str, source: str, before: str, after: str, method: str | None,
            min_area: float | None, params: tuple[str, ...], out: Path,
            overwrite: bool) -> None:
    """Detect change at SITE (catalogue id, GeoJSON, WKT or lon/lat box) between two windows.

    Builds a median composite of the clear scenes in each window, runs the
    detector, and writes the change mask, magnitude, typed change polygons
    (GeoJSON, m²), a before/after figure and summary.json with every scene id.
    """
    from sitewatch.aoi import resolve_site
    from sitewatch.bands import S2_LAND_BANDS
    from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector
    from sitewatch.errors import NoClearSceneError
    from sitewatch.imagery.epochs import build_epochs
    from sitewatch.imagery.sources import get_source
    from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2, detect_change
    from sitewatch.pipeline.outputs import write_change_outputs

    wb, wa = parse_window(before), parse_window(after)
    if wb[1] >= wa[0]:
        raise click.BadParameter("the before window must end before the after window starts",
                                 param_hint="--before/--after")
    info = get_detector(method or DEFAULT_DETECTOR)
    the_site = resolve_site(site)
    src = get_source(source)
    bands = info.bands or S2_LAND_BANDS
    epochs = build_epochs(src, the_site, wb[0], wa[1], [wb, wa], bands=bands)
    for ep, which in zip(epochs, ("before", "after"), strict=True):
        if ep.raster is None:
            raise NoClearSceneError(f"no clear scene in the {which} window {ep.window.start}/"
                                    f"{ep.window.end} over {the_site.id}: widen --{which}")
    prepare_out_dir(out, overwrite)
    assert epochs[0].raster is not None and epochs[1].raster is not None
    result = detect_change(epochs[0].raster, epochs[1].raster, method=method or None,
                           min_area_m2=DEFAULT_MIN_AREA_M2 if min_area is None else min_area,
                           site=the_site, **parse_params(params))
    from sitewatch.types import ChangeType

    paths = write_change_outputs(result, out, command=["sitewatch", *sys.argv[1:]])
    r = result
    click.echo(f"{the_site.name}: {r.change.method}, {r.before.dates[0]}..{r.before.dates[-1]} -> "
               f"{r.after.dates[0]}..{r.after.dates[-1]}")
    click.echo(f"  {r.changed_area_m2:,.0f} m² changed in {len(r.regions)} regions"
               + (f"; largest {r.regions[0].area_m2:,.0f} m² ({r.regions[0].name})"
                  if r.regions else ""))
    for slug, area in sorted(r.area_by_type().items(), key=lambda kv: -kv[1]):
        click.echo(f"    {ChangeType[slug.upper()].label:24s} {area:12,.0f} m²")
    click.echo(f"  outputs {out}/ ({', '.join(p.name for p in paths.values())})")
    click.echo(f"  {r.attribution}")
