"""``sitewatch detectors``: the registered change detectors and their help."""

from __future__ import annotations

import textwrap

import click


@click.command("detectors")
@click.argument("name", required=False)
def command(name: str | None) -> None:
    """List the detectors usable as --method, or show one detector's help and parameters."""
    from sitewatch.detectors.registry import DEFAULT_DETECTOR, available_detectors, get_detector

    if name is None:
        for n in available_detectors():
            info = get_detector(n)
            mark = " (default)" if n == DEFAULT_DETECTOR else ""
            click.echo(f"{n}{mark}  [{info.sensor}]\n    {info.summary}")
        click.echo("\n`sitewatch detectors NAME` shows a detector's help and parameters.")
        return
    info = get_detector(name)
    click.echo(f"{info.name}  [{info.sensor}]  {info.summary}\n")
    click.echo(info.help)
    if info.bands:
        click.echo(f"\nBands: {', '.join(info.bands)}")
    if info.parameters:
        from sitewatch.detectors.params import describe_params

        click.echo("\nParameters (pass with -p KEY=VALUE):")
        for rule, text in describe_params(info.parameters):
            click.echo(f"  {rule}")
            click.echo(textwrap.fill(text, width=88, initial_indent=" " * 6,
                                     subsequent_indent=" " * 6))
