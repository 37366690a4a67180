"""A site over time: yearly epochs, a timelapse GIF/MP4 and the self-contained HTML report.

Run: ``python examples/timelapse_and_report.py [SITE] [SOURCE]`` (default the bundled sample,
offline). With a live source (``earth-search``...) it fetches real imagery for any site, e.g.
``python examples/timelapse_and_report.py new-yalu-river-bridge earth-search``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sitewatch.pipeline.outputs import write_timelapse
from sitewatch.pipeline.report import run_site, write_report


def main(site: str, source: str, out: Path) -> None:
    run = run_site(site, source=source, every="year")
    for e in run.epochs:
        print(f"{e.label}: {len(e.scenes)} scene(s){' (gap)' if e.is_gap else ''}")
    paths = write_timelapse(run.rasters, out, labels=run.labels, first_change=run.first_change,
                            change_type=run.frame_types, title=run.site.name,
                            credits=run.credits, site=run.site, scenes=run.scenes)
    paths["report"] = write_report(run, out / f"{run.site.id}-report.html")
    for name, path in paths.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "cupertino-apple-park", args[1] if len(args) > 1 else "sample",
         Path("timelapse-and-report"))
