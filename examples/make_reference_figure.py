"""Regenerate ``examples/reference/before_after_demo.png``: the demo figure reviewers look at.

Run: ``python examples/make_reference_figure.py`` after changing how figures are drawn, look at
the PNG, and commit it with the change.
"""

from __future__ import annotations

from pathlib import Path

from sitewatch.annotate.figures import change_figure, save_figure
from sitewatch.pipeline.report import run_site

if __name__ == "__main__":
    run = run_site("cupertino-apple-park", source="sample", every="year")
    out = Path(__file__).parent / "reference" / "before_after_demo.png"
    print(save_figure(change_figure(run.result, preset="web", credits=run.credits), out))
