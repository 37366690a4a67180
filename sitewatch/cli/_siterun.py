"""Options shared by ``sitewatch figure``, ``animate`` and ``report`` (a site over time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from sitewatch.cli.options import (
    Imagery,
    detector_params,
    imagery_options,
    method_option,
    min_area_option,
    param_option,
    site_argument,
)

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
            name = max(param.opts, key=len)
            for v in (value if param.multiple else (value,)):
                options += [name, str(v)]
    return argv + options


def site_run_options(func: F) -> F:
    """SITE (and --merge), the imagery options (--source, --endpoint, --from, --to, --every
    [year], --cache-dir, --no-cache...), --method, -p and --min-area.

    The command needs ``cls=SiteCommand`` (a bbox with negative numbers as SITE) and
    receives ``site, merge, imagery, method, params, min_area_m2``.
    """
    opts = [site_argument(), imagery_options(every="year"), method_option(), param_option,
            min_area_option]
    for opt in reversed(opts):
        func = opt(func)
    return func


def run_from_options(site: str, merge: bool, imagery: Imagery, method: str | None,
                     params: tuple[str, ...], min_area_m2: float,
                     progress: Callable[[str, int, int], None] | None = None) -> Any:
    """:func:`sitewatch.pipeline.report.run_site` from the CLI's values: the epochs come
    through the tile cache, so a site fetched before is read from disk."""
    from sitewatch.aoi import resolve_site
    from sitewatch.pipeline.report import run_site

    given = detector_params(method, params)  # checked before any fetch
    the_site = resolve_site(site, merge=merge)
    im = imagery.for_site(the_site)
    return run_site(the_site, source=im.source, source_options=im.source_options,
                    start=im.start, end=im.end, every=im.every, method=method,
                    min_area_m2=min_area_m2, cache=im.cache or False, progress=progress,
                    detector_params=given)
