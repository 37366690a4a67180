"""Draw the bundled sample's before/after figure in every preset, view and format.

Run: ``python examples/figure_presets.py [OUT]`` (default ``figure-presets/``). Offline.
Each file gets a ``.provenance.json`` sidecar naming its scenes, detector and command.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sitewatch.annotate.figures import change_figure, save_figure
from sitewatch.annotate.provenance import result_provenance
from sitewatch.pipeline.report import run_site


def main(out: Path) -> None:
    run = run_site("cupertino-apple-park", source="sample", every="year")
    prov = result_provenance(run.result, credits=run.credits)
    for preset in ("web", "single", "double"):
        for view in ("true", "false", "ndvi"):
            fig = change_figure(run.result, preset=preset, view=view, credits=run.credits,
                                overlay="fill" if view == "ndvi" else "outline")
            for fmt in ("png", "pdf", "svg"):
                path = save_figure(fig, out / f"apple_park_{preset}_{view}.{fmt}",
                                   provenance={**prov, "preset": preset, "view": view})
                print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "figure-presets"))
