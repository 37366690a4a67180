"""``sitewatch sources``: the imagery sources, what they need, and how to point them elsewhere."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import click

_NEEDS = {"earth-search": ("pystac_client",), "planetary-computer": ("pystac_client",
                                                                     "planetary_computer"),
          "cdse": ("sentinelhub",), "sentinelhub": ("sentinelhub",)}
#: The extra that installs what a source needs beyond the core install.
_EXTRA = {"planetary-computer": "stac", "cdse": "sentinelhub", "sentinelhub": "sentinelhub"}
_ACCOUNT = {"cdse": "free account: SH_CLIENT_ID / SH_CLIENT_SECRET or a sentinelhub profile",
            "sentinelhub": "paid account: SH_CLIENT_ID / SH_CLIENT_SECRET or a sentinelhub "
                           "profile"}


def _describe(name: str) -> dict[str, Any]:
    from sitewatch.imagery.sources import source_class

    cls = source_class(name)
    missing = [m for m in _NEEDS.get(name, ()) if importlib.util.find_spec(m) is None]
    return {"name": name, "description": cls.description, "network": cls.needs_network,
            "account": _ACCOUNT.get(name, "none"),
            "endpoint": getattr(cls, "default_url", None),
            "endpoint_env": getattr(cls, "url_env", None),
            "token_url": getattr(cls, "default_token_url", None),
            "token_url_env": getattr(cls, "token_env", None),
            "installed": not missing, "missing": missing, "extra": _EXTRA.get(name)}


@click.command("sources")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def command(as_json: bool) -> None:
    """Imagery sources for `sitewatch fetch --source NAME`."""
    from sitewatch.imagery.sources import available_sources

    rows = [_describe(n) for n in available_sources()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        extra = f"'sitewatch[{r['extra']}]'" if r["extra"] else "sitewatch"
        state = "" if r["installed"] else (f"  [not installed: pip install {extra} "
                                           f"({', '.join(r['missing'])})]")
        click.echo(f"{r['name']}{state}")
        click.echo(f"    {r['description']}")
        click.echo(f"    account: {r['account']}")
        if r["endpoint"]:
            click.echo(f"    endpoint: {r['endpoint']}  (--endpoint or {r['endpoint_env']})")
        if r["token_url"]:
            click.echo(f"    token URL: {r['token_url']}  (--token-url or {r['token_url_env']})")
