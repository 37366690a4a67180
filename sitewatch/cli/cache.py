"""``sitewatch cache``: what the imagery cache holds, and emptying it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sitewatch.cli.options import Number

_DIR = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                    default=None,
                    help="Cache folder (default $SITEWATCH_CACHE_DIR or ~/.cache/sitewatch).")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@click.group("cache")
def command() -> None:
    """The on-disk cache of fetched windows and searches."""


@command.command("info")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def info_cmd(cache_dir: Path | None, as_json: bool) -> None:
    """Where the cache is, and how much it holds per source."""
    from sitewatch.imagery.cache import TileCache

    info = TileCache(cache_dir).info()
    if as_json:
        click.echo(json.dumps(info.to_dict(), indent=1))
        return
    click.echo(f"cache: {info.root}")
    click.echo(f"  {info.windows} windows, {info.searches} searches, {_size(info.bytes)}")
    for name, d in sorted(info.by_source.items()):
        click.echo(f"  {name:<20} {d['windows']:>6} windows {d['searches']:>5} searches "
                   f"{_size(d['bytes']):>10}")
    if info.oldest:
        click.echo(f"  oldest entry {info.oldest}, newest {info.newest}")


@command.command("clear")
@_DIR
@click.option("--source", default=None, help="Only this source's entries.")
@click.option("--older-than", type=Number(low=0), default=None, metavar="DAYS",
              help="Only entries older than this many days.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear_cmd(cache_dir: Path | None, source: str | None, older_than: float | None,
              yes: bool) -> None:
    """Delete cached windows and searches (all, one source's, or old ones)."""
    from sitewatch.imagery.cache import TileCache

    cache = TileCache(cache_dir)
    if source is not None:
        from sitewatch.errors import ParameterError
        from sitewatch.imagery.sources import available_sources

        held = sorted(cache.info().by_source)
        if source not in held and source not in available_sources():
            raise ParameterError(f"--source {source!r} is not a source: the cache holds "
                                 f"{', '.join(held) or 'nothing'}; sources are "
                                 f"{', '.join(available_sources())}")
    what = f"{source} entries" if source else "entries"
    if older_than is not None:
        what += f" older than {older_than:g} days"
    if not yes:
        click.confirm(f"Delete cached {what} in {cache.root}?", abort=True, err=True)
    files, size = cache.clear(source=source, older_than_days=older_than)
    click.echo(f"removed {files} files ({_size(size)}) from {cache.root}")
