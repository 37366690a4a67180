"""Options shared by several commands, defined once: output folders, numbers, detector
parameters, SITE arguments (a western-hemisphere bbox needs no ``--``), progress."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from sitewatch.detectors.params import Param
from sitewatch.errors import ParameterError
from sitewatch.outdir import OutputFolder

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["out_option", "overwrite_option", "method_option", "output_folder", "Number",
           "param_option", "parse_params", "detector_params", "SiteCommand", "site_argument",
           "merge_option", "progress_enabled", "parse_every", "with_skip_hint",
           "AliasedOption", "min_area_option", "imagery_options", "Imagery", "ImageryRun",
           "resolve_source", "source_options", "SOURCE_AUTO"]


def out_option(default: str) -> Callable[[F], F]:
    return click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
                        default=default, show_default=True, help="Output folder.")


overwrite_option = click.option(
    "--overwrite", is_flag=True,
    help="Replace the outputs of an earlier run in the folder (only the files sitewatch "
         "recorded writing; a folder holding other files is refused).")


def method_option(default: str | None = None, help: str | None = None) -> Callable[[F], F]:
    return click.option("-m", "--method", default=default, show_default=default is not None,
                        help=help or "Detector name (see `sitewatch detectors`); default: the "
                                     "recommended one.")


def output_folder(out: Path, overwrite: bool, command: str) -> OutputFolder:
    """The :class:`~sitewatch.outdir.OutputFolder` of a command's ``--out``.

    Use it as ``with output_folder(out, overwrite, "detect") as stage:`` around the
    whole run: entering checks the folder (foreign files, an earlier run) before any
    work, the run writes into ``stage``, and leaving commits (or, on an error, leaves
    the earlier outputs whole).
    """
    return OutputFolder(out, overwrite=overwrite, command=command)


class Number(click.ParamType):
    """A command-line number checked by the same layer as detector parameters
    (:class:`~sitewatch.detectors.params.Param`): type, range, finite.

    Examples
    --------
    >>> Number(low=0).convert("12.5", None, None)
    12.5
    >>> Number(low=0).convert("nan", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: must be a number >= 0, got 'nan' (not a finite number)
    """

    def __init__(self, kind: type = float, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False,
                 high_open: bool = False) -> None:
        self.param = Param("value", None, kind=kind, low=low, high=high, low_open=low_open,
                           high_open=high_open)
        self.name = "integer" if kind is int else "number"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        try:
            return self.param.coerce(value)
        except ParameterError as err:
            self.fail(str(err).removeprefix("value "), param, ctx)

    def __repr__(self) -> str:
        return f"Number({self.param.describe()})"


# -- detector parameters ---------------------------------------------------------------
param_option = click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
                            help="Detector parameter (repeatable), e.g. -p threshold=far -p "
                                 "far=0.05; `sitewatch detectors NAME` lists them.")

#: Settings of a run that are options, not detector parameters.
_RUN_SETTINGS = {"min_area_m2": "--min-area", "min_area": "--min-area", "method": "--method",
                 "bands": "--bands", "site": "SITE", "source": "--source"}


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings to a mapping (values stay text: the detector's declaration
    gives their types).

    Examples
    --------
    >>> parse_params(("far=0.05", "threshold=far"))
    {'far': '0.05', 'threshold': 'far'}
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"-p {item!r}: use KEY=VALUE, e.g. -p far=0.05")
        if key in _RUN_SETTINGS:
            raise ParameterError(f"-p {key}: {key} is not a detector parameter but a setting "
                                 f"of the run: use {_RUN_SETTINGS[key]}")
        if key in out:
            raise ParameterError(f"-p {key} is given twice ({out[key]!r} and {value!r}): "
                                 "give it once")
        out[key] = value
    return out


def detector_params(method: str | None, items: Sequence[str]) -> dict[str, Any]:
    """The ``-p`` parameters checked against the detector (``None``: the default one),
    typed; only the ones given (the detector fills its own defaults).

    Runs before any work, so a bad value costs no fetch.
    """
    from sitewatch.detectors.registry import DEFAULT_DETECTOR, get_detector

    given = parse_params(items)
    checked = get_detector(method or DEFAULT_DETECTOR).check_params(given)
    return {k: checked[k] for k in given}


# -- SITE --------------------------------------------------------------------------------
_NEGATIVE = re.compile(r"^-(?:\d|\.\d)")


def _protect_negative_positionals(cmd: click.Command, ctx: click.Context,
                                  args: list[str]) -> list[str]:
    """Move positional values that start with a minus sign (``-122.03,37.31,...``) behind
    ``--`` so click does not take them for options; the order of positionals is kept."""
    if not any(_NEGATIVE.match(a) for a in args):
        return args
    takes: dict[str, int] = {}
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Option) and not (p.is_flag or p.count):
            for name in p.opts:
                takes[name] = max(1, p.nargs)
    options: list[str] = []
    positionals: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            positionals += args[i + 1:]
            break
        if a in takes:
            options += args[i:i + 1 + takes[a]]
            i += 1 + takes[a]
            continue
        if a.startswith("-") and not _NEGATIVE.match(a) and a != "-":
            options.append(a)
        else:
            positionals.append(a)
        i += 1
    return options + ["--"] + positionals


class SiteCommand(click.Command):
    """A command taking SITE: a bbox of the western or southern hemisphere
    (``-122.03,37.31,-121.99,37.35``) is read as SITE, not as an option, anywhere on the
    command line and without ``--``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _protect_negative_positionals(self, ctx, args))


merge_option = click.option(
    "--merge", is_flag=True,
    help="SITE is a GeoJSON with several features: treat their union as one site (without "
         "it such a file is refused; `sitewatch watch FILE` runs each feature as a site).")


def site_argument(required: bool = True) -> Callable[[F], F]:
    """The SITE argument and ``--merge`` (use with ``cls=SiteCommand``)."""

    def deco(func: F) -> F:
        return click.argument("site", required=required)(merge_option(func))

    return deco


# -- logging and progress -----------------------------------------------------------------
def progress_enabled() -> bool:
    """Whether progress (bars, per-step lines on stderr) is shown: not with ``-q``."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True
    obj = ctx.find_root().obj or {}
    return int(obj.get("verbosity", 0)) >= 0


def with_skip_hint(err: Exception) -> Exception:
    """``err`` with "pass --on-error skip" added when it is one scene's read failure."""
    sid = getattr(err, "scene_id", None)
    if sid is None:
        return err
    return type(err)(f"{err} (scene {sid}); to leave out scenes that cannot be read and go "
                     "on, pass --on-error skip")


def parse_every(every: str) -> str | list[tuple[str, str]]:
    """The ``--every`` option: a cadence name or explicit ``start/end`` windows.

    Examples
    --------
    >>> parse_every("quarter")
    'quarter'
    >>> parse_every("2020-01-01/2020-03-31,2024-01-01/2024-03-31")
    [('2020-01-01', '2020-03-31'), ('2024-01-01', '2024-03-31')]
    """
    if every in ("month", "quarter", "year"):
        return every
    wins = []
    for part in every.split(","):
        a, sep, b = part.strip().partition("/")
        if not sep or not a or not b:
            raise ParameterError(f"--every {every!r}: use month, quarter, year or explicit "
                                 "windows like 2020-01-01/2020-03-31,2024-01-01/2024-03-31")
        wins.append((a, b))
    return wins


# -- one grammar: aliases kept from older spellings ---------------------------------------
class AliasedOption(click.Option):
    """An option whose older spellings still work but are not shown in ``--help``.

    Examples
    --------
    >>> opt = AliasedOption(["--source", "-s"], hidden_aliases=["-s"])
    >>> opt.opts, opt.get_help_record(click.Context(click.Command("x")))[0]
    (['--source', '-s'], '--source TEXT')
    """

    def __init__(self, *args: Any, hidden_aliases: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden_aliases = tuple(hidden_aliases)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown = [o for o in self.opts if o not in self.hidden_aliases]
        saved = self.opts
        self.opts = shown or saved
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = saved


def min_area_option(func: F) -> F:
    """``--min-area M2``: the minimum mapping unit, the same in every command."""
    from sitewatch.pipeline.change import MIN_AREA

    return click.option("--min-area", "min_area_m2", type=Number(low=0),
                        default=MIN_AREA.default, show_default=True, metavar="M2",
                        help="Smallest change region kept, m² (the minimum mapping "
                             "unit).")(func)


# -- imagery: where scenes come from, the same options in every command that reads them ----
#: ``--source`` when none is given: the bundled sample for sites inside it, Earth Search else.
SOURCE_AUTO = "auto"
_SH_SOURCES = ("cdse", "sentinelhub")


def resolve_source(source: str | None, site: Any) -> str:
    """The source a command reads: ``auto`` is the bundled sample for a site inside its
    footprint (Apple Park, Cupertino: offline, as in the demo) and ``earth-search`` for
    every other site.

    Examples
    --------
    >>> from sitewatch.aoi import get_site, parse_site
    >>> resolve_source("auto", get_site("cupertino-apple-park"))
    'sample'
    >>> resolve_source("auto", parse_site("-122.0135,37.325,-122.0025,37.336"))
    'sample'
    >>> resolve_source("auto", get_site("new-yalu-river-bridge"))
    'earth-search'
    >>> resolve_source("cdse", get_site("new-yalu-river-bridge"))
    'cdse'
    """
    if source not in (None, SOURCE_AUTO):
        return str(source)
    from shapely.geometry import box

    from sitewatch.imagery.sources.sample import SampleSource

    footprint = box(*SampleSource().info["bounds_wgs84"]).buffer(1e-5)  # ~1 m: rounding
    geometry = getattr(site, "geometry", None)
    return "sample" if geometry is not None and footprint.contains(geometry) else \
        "earth-search"


def source_options(source: str, endpoint: str | None = None, token_url: str | None = None,
                   profile: str | None = None, product: str | None = None,
                   sas_url: str | None = None) -> dict[str, Any]:
    """The source's constructor options from the command line, each checked to apply.

    Examples
    --------
    >>> source_options("local", "my-tifs/")
    {'path': 'my-tifs/'}
    >>> source_options("earth-search", "http://127.0.0.1:8000/v1")
    {'url': 'http://127.0.0.1:8000/v1'}
    """
    opts: dict[str, Any] = {}
    sh = source in _SH_SOURCES
    if endpoint:
        if source == "sample":
            raise ParameterError("--endpoint does not apply to --source sample (the bundled "
                                 "files); for a folder of your own use --source local "
                                 "--endpoint FOLDER")
        opts["path" if source == "local" else "url"] = endpoint
    if token_url:
        if not sh:
            raise ParameterError("--token-url applies to --source cdse or sentinelhub only")
        opts["token_url"] = token_url
    if profile:
        if not sh:
            raise ParameterError("--profile applies to --source cdse or sentinelhub only")
        opts["profile"] = profile
    if product and product != "s2-l2a":
        if not sh:
            raise ParameterError(f"--product {product} is available from --source cdse or "
                                 "sentinelhub only")
        opts["product"] = product
    if sas_url:
        if source != "planetary-computer":
            raise ParameterError("--sas-url applies to --source planetary-computer only")
        opts["sas_url"] = sas_url
    if source == "local" and "path" not in opts:
        raise ParameterError("--source local needs the folder: --endpoint FOLDER")
    return opts


@dataclass
class Imagery:
    """What a command's imagery options say; :meth:`for_site` resolves them for a site."""

    source: str = SOURCE_AUTO
    endpoint: str | None = None
    token_url: str | None = None
    profile: str | None = None
    sas_url: str | None = None
    product: str | None = None
    start: str | None = None
    end: str | None = None
    every: str = "quarter"
    cache_dir: Path | None = None
    no_cache: bool = False

    def for_site(self, site: Any) -> ImageryRun:
        """Source name and options, dates, cadence and cache for ``site``."""
        from sitewatch.pipeline.fetch import default_cache, default_period

        name = resolve_source(self.source, site)
        opts = source_options(name, self.endpoint, self.token_url, self.profile, self.product,
                              self.sas_url)
        start, end = default_period(site, self.start, self.end)
        return ImageryRun(name, opts, start, end, parse_every(self.every), self.every,
                          default_cache(name, enabled=not self.no_cache, root=self.cache_dir))


@dataclass
class ImageryRun:
    """The imagery options resolved for one site (see :meth:`Imagery.for_site`)."""

    source: str
    source_options: dict[str, Any]
    start: str
    end: str
    every: str | list[tuple[str, str]]
    every_text: str
    cache: Any


_IMAGERY_KEYS = ("source", "endpoint", "token_url", "profile", "sas_url", "product", "start",
                 "end", "every", "cache_dir", "no_cache")


def imagery_options(*, every: str = "quarter", product: bool = False,
                    dates: bool = True) -> Callable[[F], F]:
    """``--source``, ``--endpoint``, ``--token-url``, ``--profile``, ``--sas-url``
    (``--product``), ``--from``, ``--to``, ``--every``, ``--cache-dir``, ``--no-cache``:
    the same options, with the same meaning, on every command that reads imagery.

    The command receives them as one keyword argument ``imagery`` (an :class:`Imagery`).
    ``every`` is the command's default cadence; ``dates=False`` leaves out ``--from``,
    ``--to`` and ``--every`` (a command that takes its windows otherwise).
    """
    opts = [
        click.option("--source", "-s", cls=AliasedOption, hidden_aliases=["-s"],
                     default=SOURCE_AUTO, show_default=True, metavar="NAME",
                     help="Imagery source (`sitewatch sources`): earth-search, "
                          "planetary-computer, cdse, sentinelhub, local, sample; auto = the "
                          "bundled sample for a site inside it (Apple Park, Cupertino), "
                          "earth-search for any other."),
        click.option("--endpoint", default=None, metavar="URL|FOLDER",
                     help="The source's API URL (a mirror or private catalogue; also the "
                          "source's environment variable, e.g. SITEWATCH_EARTH_SEARCH_URL); "
                          "for --source local the folder (an OSCD city or dated GeoTIFFs)."),
        click.option("--token-url", default=None, metavar="URL",
                     help="OAuth token URL (cdse, sentinelhub; env SITEWATCH_CDSE_TOKEN_URL)."),
        click.option("--profile", default=None, metavar="NAME",
                     help="sentinelhub configuration profile holding the credentials (cdse, "
                          "sentinelhub)."),
        click.option("--sas-url", default=None, metavar="URL",
                     help="Planetary Computer token API (env SITEWATCH_PC_SAS_URL or "
                          "PC_SDK_SAS_URL)."),
    ]
    if product:
        opts.append(click.option("--product", type=click.Choice(["s2-l2a", "s1-grd"]),
                                 default="s2-l2a", show_default=True,
                                 help="Sentinel-2 L2A, or Sentinel-1 GRD (cdse, sentinelhub)."))
    if dates:
        opts += [
            click.option("--from", "start", default=None, metavar="DATE",
                         help="First day, ISO 8601 (default: the site's own period, else five "
                              "years ago)."),
            click.option("--to", "end", default=None, metavar="DATE",
                         help="Last day, ISO 8601 (default: the site's own, else today)."),
            click.option("--every", default=every, show_default=True, metavar="CADENCE",
                         help="Epochs: month, quarter, year, or windows START/END,START/END."),
        ]
    opts += [
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Tile cache folder (default $SITEWATCH_CACHE_DIR or "
                                        "~/.cache/sitewatch), shared by every command."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the tile cache."),
    ]

    def deco(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {k: kwargs.pop(k) for k in _IMAGERY_KEYS if k in kwargs}
            if dates:  # a bad cadence is a usage error, found before any work
                parse_every(values.get("every") or every)
            return func(*args, imagery=Imagery(**values), **kwargs)

        for opt in reversed(opts):
            wrapper = opt(wrapper)
        return wrapper  # type: ignore[return-value]

    return deco
