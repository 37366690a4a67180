"""``sitewatch demo``: the offline end-to-end run on the bundled sample."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from sitewatch.cli._progress import Progress
from sitewatch.cli.options import method_option, out_option, output_folder, overwrite_option


@click.command("demo")
@out_option("sitewatch-demo")
@method_option()
@overwrite_option
def command(out: Path, method: str | None, overwrite: bool) -> None:
    """Detect change at Apple Park (bundled sample, no network) and write every output."""
    from sitewatch.pipeline.demo import run_demo

    folder = output_folder(out, overwrite, "demo")
    with folder as stage, Progress() as progress:
        t0 = time.perf_counter()
        run = run_demo(stage, method=method, command=["sitewatch", *sys.argv[1:]],
                       progress=progress)
    r = run.result
    m = r.metrics or {}
    click.echo(f"sitewatch demo: {r.site.name if r.site else 'sample'}")
    click.echo(f"  scenes   {r.before.dates[0]} {r.before.provenance.scene_ids[0]}")
    click.echo(f"           {r.after.dates[0]} {r.after.provenance.scene_ids[0]}")
    click.echo(f"  detector {r.change.method} (threshold {r.change.threshold:.4g}, "
               f"minimum area {r.min_area_m2:g} m²)")
    click.echo(f"  change   {r.changed_area_m2:,.0f} m² in {len(r.regions)} regions; largest "
               f"{r.regions[0].area_m2:,.0f} m², {r.regions[0].name}" if r.regions
               else "  change   none found")
    click.echo(f"  accuracy vs OSCD label: precision {m.get('precision', 0):.3f}, recall "
               f"{m.get('recall', 0):.3f}, F1 {m.get('f1', 0):.3f}")
    metas = [r.change.params.get(k) or {} for k in ("model_meta", "stacker_meta")]
    trained = [m["trained_on"] for m in metas if m.get("trained_on") is not None]
    if trained:  # a learned detector: say whether any of its parts saw this city
        seen = any("cupertino" in t for t in trained)
        click.echo("           (the model was trained on this city: not an independent score)"
                   if seen else "           (the model was trained without this city: an "
                   "out-of-training score)")
    click.echo(f"  outputs  {out}/ ({', '.join(p.name for p in run.paths.values())}) "
               f"in {time.perf_counter() - t0:.1f} s")
    for note in run.run.notes if run.run is not None else []:
        click.echo(f"  note     {note}")
    click.echo(f"  {r.attribution}; labels CC BY-NC-SA 4.0, Daudt et al. 2018")
