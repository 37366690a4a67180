"""``sitewatch detect``: change between two date windows at a site."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sitewatch.cli.options import (
    Number,
    SiteCommand,
    detector_params,
    method_option,
    out_option,
    output_folder,
    overwrite_option,
    param_option,
    site_argument,
)


def parse_window(text: str, option: str = "--before") -> tuple[str, str]:
    """``START/END`` (ISO dates) to a (start, end) pair.

    Examples
    --------
    >>> parse_window("2015-06-01/2015-09-30")
    ('2015-06-01', '2015-09-30')
    >>> parse_window("2015-09-30/2015-06-01")
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: the --before window 2015-09-30/2015-06-01 ends before it ...
    """
    start, sep, end = text.partition("/")
    if not sep or not start or not end:
        raise click.BadParameter(f"{text!r}: give a window as START/END, e.g. "
                                 "2019-05-01/2019-09-30")
    from sitewatch.raster import iso_date

    try:
        window = iso_date(start), iso_date(end)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if window[1] < window[0]:
        raise click.BadParameter(f"the {option} window {text} ends before it starts: give "
                                 f"START/END with the earlier date first ({end}/{start})")
    return window


@click.command("detect", cls=SiteCommand)
@site_argument()
@click.option("--source", default="sample", show_default=True,
              help="Imagery source (sample, earth-search, cdse, ...; `sitewatch sources`).")
@click.option("--before", "before", required=True, metavar="START/END",
              help="Window of the before composite, e.g. 2019-05-01/2019-09-30.")
@click.option("--after", "after", required=True, metavar="START/END",
              help="Window of the after composite.")
@method_option()
@click.option("--min-area", type=Number(low=0), default=None,
              help="Minimum mapping unit in m² (default 200).")
@param_option
@out_option("sitewatch-detect")
@overwrite_option
def command(site: str, merge: bool, source: str, before: str, after: str, method: str | None,
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
    from sitewatch.errors import NoClearSceneError, ParameterError
    from sitewatch.imagery.epochs import build_epochs
    from sitewatch.imagery.sources import get_source
    from sitewatch.pipeline.change import DEFAULT_MIN_AREA_M2, detect_change
    from sitewatch.pipeline.outputs import write_change_outputs
    from sitewatch.types import ChangeType

    wb, wa = parse_window(before, "--before"), parse_window(after, "--after")
    if wb[1] >= wa[0]:
        raise click.BadParameter("the before window must end before the after window starts",
                                 param_hint="--before/--after")
    if source == "local":
        raise ParameterError("`sitewatch detect` reads from an imagery service; for a folder "
                             "of your own files use `sitewatch timeline SITE --source local "
                             "--endpoint FOLDER`, or `sitewatch detect-files BEFORE.tif "
                             "AFTER.tif` for two GeoTIFFs")
    info = get_detector(method or DEFAULT_DETECTOR)
    given = detector_params(method, params)
    the_site = resolve_site(site, merge=merge)
    with output_folder(out, overwrite, "detect") as stage:
        src = get_source(source)
        bands = info.bands or S2_LAND_BANDS
        epochs = build_epochs(src, the_site, wb[0], wa[1], [wb, wa], bands=bands)
        for ep, which in zip(epochs, ("before", "after"), strict=True):
            if ep.raster is None:
                raise NoClearSceneError(f"no clear scene in the {which} window "
                                        f"{ep.window.start}/{ep.window.end} over "
                                        f"{the_site.id}: widen --{which}")
        assert epochs[0].raster is not None and epochs[1].raster is not None
        result = detect_change(epochs[0].raster, epochs[1].raster, method=method or None,
                               min_area_m2=DEFAULT_MIN_AREA_M2 if min_area is None else min_area,
                               site=the_site, **given)
        paths = write_change_outputs(result, stage, command=["sitewatch", *sys.argv[1:]])
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
