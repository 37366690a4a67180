"""The ``sitewatch`` command: a click group whose subcommands are the modules of this package.

Every module ``sitewatch/cli/<name>.py`` (other than ``main``, ``options`` and
private ones) that defines ``command`` becomes the subcommand ``<name>``
(underscores become dashes); new commands need no edit here. Logs and progress go
to stderr (``-v`` more, ``-q`` no INFO and no progress, ``-qq`` errors only), data
to stdout. Every error ends the command with a one-line message (the traceback
with ``-v``) and one of the exit codes of :data:`EXIT_CODES`.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import pkgutil
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from sitewatch._version import __version__
from sitewatch.errors import ParameterError, SitewatchError

__all__ = ["cli", "main", "EXIT_CODES"]

log = logging.getLogger("sitewatch")

_NOT_COMMANDS = {"main", "options"}
EXIT_OK = 0
#: An error: the message says what is wrong and what to do (an internal error, a
#: bug, says so and asks to be reported).
EXIT_ERROR = 1
#: The command line is wrong (unknown option, missing argument, bad value): nothing ran.
EXIT_USAGE = 2
#: Some parts failed and the others finished (sites of a watchlist).
EXIT_PARTIAL = 3
EXIT_CODES = {EXIT_OK: "success", EXIT_ERROR: "error (the message says what to do)",
              EXIT_USAGE: "usage error: unknown option, missing argument or bad value; "
                          "nothing was done",
              EXIT_PARTIAL: "partial failure: some sites of a watchlist failed, the others "
                            "finished"}
# errors of the machine rather than of sitewatch: reported like a user error
_ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                       errno.EIO, errno.EMFILE, errno.ENAMETOOLONG}


def _command_modules() -> dict[str, str]:
    import sitewatch.cli as pkg

    mods = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name in _NOT_COMMANDS or info.name.startswith("_"):
            continue
        mods[info.name.replace("_", "-")] = f"sitewatch.cli.{info.name}"
    return mods


class SitewatchGroup(click.Group):
    """Lazily loads subcommands and turns sitewatch errors into one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_command_modules())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _command_modules().get(cmd_name)
        if target is None:
            return None
        return importlib.import_module(target).command  # type: ignore[no-any-return]

    def invoke(self, ctx: click.Context) -> Any:
        def verbose() -> bool:  # known once the group's options are parsed
            return bool((ctx.obj or {}).get("verbosity", 0) > 0)

        try:
            return super().invoke(ctx)
        except SitewatchError as err:
            if verbose():
                log.exception("error")
            click.echo(f"error: {_one_line(err)}", err=True)
            ctx.exit(EXIT_USAGE if isinstance(err, ParameterError) else EXIT_ERROR)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # stdout closed early (`sitewatch aoi list | head`)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except OSError as err:
            if verbose():
                raise
            if err.errno not in _ENVIRONMENT_ERRNOS:
                _report_internal(err)
                ctx.exit(EXIT_ERROR)
            where = f" {err.filename}" if err.filename else ""
            click.echo(f"error: cannot use{where}: {err.strerror or err}; check the "
                       "permissions and free space, or choose another place", err=True)
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as err:  # a bug: short message unless -v
            if verbose():
                raise
            _report_internal(err)
            ctx.exit(EXIT_ERROR)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _report_internal(err: BaseException) -> None:
    """A bug, in one line (the traceback with -v)."""
    click.echo(f"internal error: {type(err).__name__}: {_one_line(err)} (a bug: run with -v "
               "for the traceback, and please report it)", err=True)


_LIBRARY_LOGGERS = ("distributed", "bokeh", "tornado")


def _setup_logging(verbosity: int) -> Callable[[], None]:
    """Send log lines to stderr at the level of ``verbosity``; returns the function that
    puts logging back as it was (a command run in a Python process, such as a notebook or
    a test, must not leave its levels, handler and warnings capture behind)."""
    level = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.WARNING,
             1: logging.INFO}.get(max(-2, min(verbosity, 2)), logging.DEBUG)
    if verbosity <= -2:
        level = logging.CRITICAL
    root = logging.getLogger("sitewatch")
    libraries = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    saved_levels = [(lg, lg.level) for lg in (root, *libraries)]
    warnings_captured = warnings.showwarning is getattr(logging, "_showwarning", None)
    for h in list(root.handlers):
        if getattr(h, "_sitewatch_cli", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._sitewatch_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # libraries that log INFO through handlers of their own (dask.distributed's cluster
    # start-up): quiet unless -v, like ours
    for lib in libraries:
        lib.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO if verbosity == 1
                     else max(level, logging.WARNING))
    logging.captureWarnings(True)

    def restore() -> None:
        root.removeHandler(handler)
        for lg, saved in saved_levels:
            lg.setLevel(saved)
        if not warnings_captured:
            logging.captureWarnings(False)

    return restore


_EPILOG = "Exit codes:\n\n\b\n" + "\n".join(f"  {code}  {text}"
                                               for code, text in EXIT_CODES.items())


@click.group(cls=SitewatchGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=_EPILOG)
@click.version_option(__version__, "--version", prog_name="sitewatch")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", count=True,
              help="No INFO messages and no progress on stderr (-qq: errors only).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Watch places on Earth change in free Sentinel-2 and Sentinel-1 imagery.

    Start with `sitewatch demo` (offline), then `sitewatch aoi list`. A SITE is a
    catalogue id, a GeoJSON file, WKT or a bbox lon,lat,lon,lat (negative numbers
    need no `--`).
    """
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbose - quiet
    ctx.call_on_close(_setup_logging(verbose - quiet))


def main() -> None:  # pragma: no cover - console entry
    cli(prog_name="sitewatch")
