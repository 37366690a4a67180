"""Options shared by several commands, defined once: output folders, numbers, detector
parameters, SITE arguments (a western-hemisphere bbox needs no ``--``), progress."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from sitewatch.detectors.params import Param
from sitewatch.errors import ParameterError
from sitewatch.outdir import OutputFolder

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["out_option", "overwrite_option", "method_option", "output_folder", "Number",
           "param_option", "parse_params", "detector_params", "SiteCommand", "site_argument",
           "merge_option", "progress_enabled", "parse_every", "with_skip_hint"]


def out_option(default: str) -> Callable[[F], F]:
    return click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
                        default=default, show_default=True, help="Output folder.")


overwrite_option = click.option(
    "--overwrite", is_flag=True,
    help="Replace the outputs of an earlier run in the folder (only the files sitewatch "
         "recorded writing; a folder holding other files is refused).")


def method_option(default: str | None = None) -> Callable[[F], F]:
    return click.option("-m", "--method", default=default,
                        help="Detector name (see `sitewatch detectors`); default: the "
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
