"""Options shared by several commands, defined once."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sitewatch.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["out_option", "overwrite_option", "method_option", "prepare_out_dir"]


def out_option(default: str) -> Callable[[F], F]:
    return click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
                        default=default, show_default=True, help="Output folder.")


overwrite_option = click.option("--overwrite", is_flag=True,
                                help="Replace the outputs of an earlier run in the folder.")


def method_option(default: str | None = None) -> Callable[[F], F]:
    return click.option("-m", "--method", default=default,
                        help="Detector name (see `sitewatch detectors`); default: the "
                             "recommended one.")


def prepare_out_dir(out: Path, overwrite: bool, marker: str = "summary.json") -> Path:
    """Create ``out``; refuse to reuse a folder holding an earlier run unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder: choose another --out")
    if (out / marker).exists():
        if not overwrite:
            raise ConfigError(f"{out} already holds a run ({marker}): pass --overwrite to "
                              "replace it, or choose another --out")
        for p in out.iterdir():
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


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
            raise ConfigError(f"--every {every!r}: use month, quarter, year or explicit windows "
                              "like 2020-01-01/2020-03-31,2024-01-01/2024-03-31")
        wins.append((a, b))
    return wins
