"""Options shared by ``sitewatch figure``, ``animate`` and ``report`` (a site over time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from sitewatch.cli.options import Number, method_option, site_argument

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["site_run_options", "run_from_options", "invoked_command"]


def invoked_command() -> list[str]:
    """The command line as the user gave it, rebuilt from click's context.

    Only parameters given on the command line are included; the program name
    is always ``sitewatch`` (whatever the entry point or test runner).
    """
    from click.core import ParameterSource

    ctx = click.get_current_context()
    argv = ["sitewatch", *ctx.command_path.split()[1:]]
    options: list[str] = []
    for param in ctx.command.params:
        if param.name is None or \
                ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            argv.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            names = param.opts if value or not param.secondary_opts else param.secondary_opts
            options.append(max(names, key=len))
        elif isinstance(param, click.Option):
            options += [max(param.opts, key=len), str(value)]
    return argv + options


def site_run_options(func: F) -> F:
    """SITE argument (and --merge) plus --source, --from, --to, --every, --method, --min-area.

    The command needs ``cls=SiteCommand`` (a bbox with negative numbers as SITE).
    """
    opts = [
        site_argument(),
        click.option("-s", "--source", default="sample", show_default=True,
                     help="Imagery source (sample = bundled offline data)."),
        click.option("--from", "start", default=None,
                     help="First date, ISO (default: the site's own, or five years ago)."),
        click.option("--to", "end", default=None, help="Last date, ISO (default: today)."),
        click.option("--every", default="year", show_default=True,
                     type=click.Choice(["month", "quarter", "year"]), help="Epoch cadence."),
        method_option(),
        click.option("--min-area", "min_area_m2", type=Number(low=0), default=200.0,
                     show_default=True,
                     help="Smallest change region kept, m²."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def run_from_options(site: str, merge: bool, source: str, start: str | None, end: str | None,
                     every: str, method: str | None, min_area_m2: float) -> Any:
    """:func:`sitewatch.pipeline.report.run_site` from the CLI's values."""
    from sitewatch.aoi import resolve_site
    from sitewatch.pipeline.report import run_site

    return run_site(resolve_site(site, merge=merge), source=source, start=start, end=end,
                    every=every, method=method, min_area_m2=min_area_m2)
