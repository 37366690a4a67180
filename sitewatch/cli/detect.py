"""``sitewatch detect``: change between two date windows at a site."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from sitewatch.cli._progress import Progress
from sitewatch.cli.options import (
    Imagery,
    SiteCommand,
    detector_params,
    imagery_options,
    method_option,
    min_area_option,
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
@imagery_options(every="year", product=True)
@click.option("--before", "before", default=None, metavar="START/END",
              help="Window of the before composite, e.g. 2019-05-01/2019-09-30 (with --after; "
                   "instead of --from/--to/--every).")
@click.option("--after", "after", default=None, metavar="START/END",
              help="Window of the after composite.")
@method_option()
@param_option
@min_area_option
@out_option("sitewatch-detect")
@overwrite_option
def command(site: str, merge: bool, imagery: Imagery, before: str | None, after: str | None,
            method: str | None, params: tuple[str, ...], min_area_m2: float, out: Path,
            overwrite: bool) -> None:
    """Detect change at SITE (catalogue id, GeoJSON, WKT or lon/lat box).

    Between two windows (--before START/END --after START/END, a median composite of
    the clear scenes of each), or between the first and the last clear epochs of
    --from/--to/--every, the epochs built as `sitewatch fetch` builds them and read
    from its tile cache. Writes the change mask, magnitude, typed change polygons
    (GeoJSON, m²), a before/after figure and summary.json with every scene id.
    """
    from sitewatch.aoi import resolve_site
    from sitewatch.bands import S1_BANDS, S2_LAND_BANDS
    from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector
    from sitewatch.errors import NoClearSceneError, ParameterError
    from sitewatch.pipeline.change import detect_change_epochs
    from sitewatch.pipeline.fetch import run_fetch
    from sitewatch.pipeline.outputs import write_change_outputs
    from sitewatch.types import ChangeType

    windows = None
    if before or after:
        if not (before and after):
            raise ParameterError("give both --before START/END and --after START/END (or "
                                 "neither, for the first and last clear epochs of "
                                 "--from/--to/--every)")
        ctx = click.get_current_context()
        given = [opt for name, opt in (("start", "--from"), ("end", "--to"),
                                       ("every", "--every"))
                 if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE]
        if given:
            raise ParameterError(f"{', '.join(given)} and --before/--after both choose the "
                                 "dates: give one or the other")
        wb, wa = parse_window(before, "--before"), parse_window(after, "--after")
        if wb[1] >= wa[0]:
            raise click.BadParameter("the before window must end before the after window "
                                     "starts", param_hint="--before/--after")
        windows = [wb, wa]
    info = get_detector(method or DEFAULT_DETECTOR)
    given_params = detector_params(method, params)
    the_site = resolve_site(site, merge=merge)
    im = imagery.for_site(the_site)
    start, end, every = (windows[0][0], windows[1][1], windows) if windows else \
        (im.start, im.end, im.every)
    s1 = im.source_options.get("product") == "s1-grd"
    bands = info.bands or (S1_BANDS if s1 else S2_LAND_BANDS)
    with output_folder(out, overwrite, "detect") as stage, Progress() as progress:
        fetched = run_fetch(the_site, start, end, every, source=im.source,
                            source_options=im.source_options, bands=bands, cache=im.cache,
                            progress=progress)
        for ep, which in zip(fetched.epochs if windows else [], ("before", "after"),
                             strict=False):
            if ep.raster is None:
                raise NoClearSceneError(f"no clear scene in the {which} window "
                                        f"{ep.window.start}/{ep.window.end} over "
                                        f"{the_site.id}: widen --{which}")
        with progress.step("detect"):
            result = detect_change_epochs(fetched.epochs, method=method or None,
                                          min_area_m2=min_area_m2, site=the_site,
                                          **given_params)
        with progress.step("write"):
            paths = write_change_outputs(result, stage, command=["sitewatch", *sys.argv[1:]])
    r = result
    click.echo(f"{the_site.name}: {r.change.method}, {r.before.dates[0]}..{r.before.dates[-1]} -> "
               f"{r.after.dates[0]}..{r.after.dates[-1]} (source {fetched.source})")
    click.echo(f"  {r.changed_area_m2:,.0f} m² changed in {len(r.regions)} regions"
               + (f"; largest {r.regions[0].area_m2:,.0f} m² ({r.regions[0].name})"
                  if r.regions else ""))
    for slug, area in sorted(r.area_by_type().items(), key=lambda kv: -kv[1]):
        click.echo(f"    {ChangeType[slug.upper()].label:24s} {area:12,.0f} m²")
    if fetched.stats:
        click.echo(f"  cache: {fetched.stats.get('window_hits', 0)} windows from disk, "
                   f"{fetched.stats.get('window_misses', 0)} fetched")
    click.echo(f"  outputs {out}/ ({', '.join(p.name for p in paths.values())})")
    click.echo(f"  {r.attribution}")
