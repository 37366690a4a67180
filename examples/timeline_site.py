"""A site's change timeline: when it changed, by how much, of what kind.

    python examples/timeline_site.py [OUT]          # live: the Sinuiju customs area, 2019-2025
    SITEWATCH_OFFLINE=1 python examples/timeline_site.py   # the bundled sample instead

Shows the Python side of `sitewatch timeline`: quarterly epochs fetched from Earth Search
(no account needed), the per-pixel first lasting change, events as sentences, the progress
table and every output file. Offline, the bundled sample has two dates only, so the timeline
says it cannot confirm anything and compares the two.
"""

from __future__ import annotations

import os
import sys

import sitewatch
from sitewatch.errors import SitewatchError
from sitewatch.imagery.sources.sample import SampleSource
from sitewatch.pipeline.timeline import site_timeline
from sitewatch.pipeline.timeline_outputs import write_timeline_outputs


def main(out: str) -> None:
    tl = None
    if os.environ.get("SITEWATCH_OFFLINE") != "1":
        site = sitewatch.get_site("sinuiju-customs")
        try:
            tl = site_timeline(site, "2019-01-01", "2025-06-30", "quarter",
                               source="earth-search")
        except (SitewatchError, OSError) as err:
            print(f"live fetch failed ({err}); using the bundled sample", file=sys.stderr)
    if tl is None:
        src = SampleSource()
        tl = site_timeline(src.site(), "2015-07-01", "2018-06-30", "year", source=src,
                           fetch_options={"coregister": False})
    name = tl.site.name if tl.site else "site"
    print(f"{name}: {tl.changed_area_m2:,.0f} m² {tl.changed_phrase} in {len(tl.events)} events")
    for rec in sorted(tl.event_records(), key=lambda r: -r["area_m2"])[:5]:
        print(" ", rec["sentence"], f"(confidence {rec['confidence']:.2f})")
    for row in tl.progress_rows():
        if row["change_type"] == "all" and row["new_m2"]:
            print(f"  {row['epoch']}: +{row['new_m2']:,.0f} m² "
                  f"(between {row['new_low_m2']:,.0f} and {row['new_high_m2']:,.0f}), "
                  f"{100 * row['clear_share']:.0f}% of the site seen clear")
    for note in tl.notes:
        print("  note:", note)
    paths = write_timeline_outputs(tl, out)
    print("wrote", ", ".join(p.name for p in paths.values()), "to", out)
    print(tl.attribution)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "timeline-example")
