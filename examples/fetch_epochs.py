"""Fetch quarterly composites of the New Yalu River Bridge and look at what was used.

    python examples/fetch_epochs.py [OUT]        # live, from Earth Search (no account)
    SITEWATCH_OFFLINE=1 python examples/fetch_epochs.py   # the bundled sample instead

Shows the Python side of `sitewatch fetch`: epochs with their scenes, clear counts and
co-registration, written to a folder and read back with `load_epochs`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import sitewatch
from sitewatch.errors import SitewatchError
from sitewatch.imagery.cache import TileCache
from sitewatch.imagery.epochs import load_epochs
from sitewatch.imagery.sources import get_source
from sitewatch.pipeline.fetch import run_fetch


def main(out: str) -> None:
    result = None
    if os.environ.get("SITEWATCH_OFFLINE") != "1":
        site = sitewatch.get_site("new-yalu-river-bridge")
        try:
            result = run_fetch(site, "2023-01-01", "2024-12-31", "quarter",
                               source="earth-search", cache=TileCache(), out=out)
        except (SitewatchError, OSError) as err:  # no network, or the service is down
            print(f"live fetch failed ({err}); using the bundled sample")
    if result is None:
        sample = get_source("sample")
        result = run_fetch(sample.site(), "2015-01-01", "2018-12-31", "year", source=sample,
                           bands=["B02", "B03", "B04", "B08"], out=out)
    for e in load_epochs(out):
        if e.is_gap:
            print(f"{e.label}: gap ({e.flags.get('gap')})")
            continue
        assert e.raster is not None
        shift = e.flags.get("coregistration", {})
        print(f"{e.label}: {e.composite} of {len(e.scenes)} scenes "
              f"({', '.join(s.date for s in e.scenes)}), median clear count "
              f"{int(np.median(e.clear_count))}, co-registration {shift.get('status', '-')}")
    print(f"written to {out}/ (epochs.json names every scene)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fetch-example")
