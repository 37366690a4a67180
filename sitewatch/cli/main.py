"""The ``sitewatch`` command: a click group whose subcommands are the modules of this package.

Every module ``sitewatch/cli/<name>.py`` (other than ``main``, ``options`` and
private ones) that defines ``command`` becomes the subcommand ``<name>``
(underscores become dashes); new commands need no edit here. Logs go to
stderr (``-v``/``-q``), data to stdout. A :class:`~sitewatch.errors.SitewatchError`
ends the command with a one-line message and exit code 1 (the traceback with ``-v``).
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
from typing import Any

import click

from sitewatch._version import __version__
from sitewatch.errors import SitewatchError

__all__ = ["cli", "main"]

log = logging.getLogger("sitewatch")

_NOT_COMMANDS = {"main", "options"}
EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 3


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
        try:
            return super().invoke(ctx)
        except SitewatchError as err:
            verbose = (ctx.obj or {}).get("verbosity", 0) > 0
            if verbose:
                log.exception("error")
            click.echo(f"error: {err}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # stdout closed early (`sitewatch aoi list | head`)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as err:  # a bug: short message unless -v
            if (ctx.obj or {}).get("verbosity", 0) > 0:
                raise
            click.echo(f"internal error: {type(err).__name__}: {err} (run with -v for the "
                       "traceback, and please report it)", err=True)
            ctx.exit(EXIT_INTERNAL_ERROR)


def _setup_logging(verbosity: int) -> None:
    level = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.WARNING,
             1: logging.INFO}.get(max(-2, min(verbosity, 2)), logging.DEBUG)
    if verbosity <= -2:
        level = logging.CRITICAL
    root = logging.getLogger("sitewatch")
    for h in list(root.handlers):
        if getattr(h, "_sitewatch_cli", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._sitewatch_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


@click.group(cls=SitewatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="sitewatch")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output (-qq: errors only).")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: int) -> None:
    """Watch places on Earth change in free Sentinel-2 and Sentinel-1 imagery.

    Start with `sitewatch demo` (offline), then `sitewatch aoi list`.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbose - quiet
    _setup_logging(verbose - quiet)


def main() -> None:  # pragma: no cover - console entry
    cli(prog_name="sitewatch")
