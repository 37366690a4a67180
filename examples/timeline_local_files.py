"""A timeline from a folder of GeoTIFFs with clouds and no cloud mask (offline).

    python examples/timeline_local_files.py [OUT]

Users bring files exported from EO Browser, Copernicus Browser or their own processing:
reflectance bands, no scene classification. This example makes such a folder from the
bundled sample (twelve quarterly scenes with a known change, clouds and their shadows drawn
into the pixels by `sitewatch.detectors.timeline_synth`), then runs the same code as

    sitewatch timeline SITE --source local --endpoint FOLDER --from 2016-01-01 --to 2018-12-31

The local source screens clouds and shadows from the pixels (bright in blue or dark in the
infrared, and transient), reports per epoch how much it took out, and the timeline finds the
lasting changes with their dates and a per-pixel confidence.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.detectors.timeline_synth import semisynthetic_series
from sitewatch.imagery.io import write_cog
from sitewatch.imagery.sources.sample import SampleSource
from sitewatch.pipeline.timeline import site_timeline
from sitewatch.pipeline.timeline_outputs import write_timeline_outputs
from sitewatch.raster import Provenance, Raster


def make_folder(folder: Path) -> tuple[SampleSource, np.ndarray]:
    """Twelve quarterly uint16 GeoTIFFs with clouds and shadows; the truth's switch epochs."""
    src = SampleSource()
    grid = src.native_grid()
    scenes = src.search(src.site(), "2015-01-01", "2018-12-31")
    before, after = (src.load(sc, grid, S2_LAND_BANDS) for sc in scenes)
    label = src.labels().data[0] == 1
    s = semisynthetic_series(before.data, after.data, label, epochs=12,
                             band_names=S2_LAND_BANDS, cloud_share=0.3, seed=1)
    for t in range(12):
        day = f"{2016 + t // 4}-{3 * (t % 4) + 2:02d}-15"
        data = np.clip(np.round(np.nan_to_num(s.scenes[t]) * 10000), 0, 65535).astype("uint16")
        write_cog(Raster(data, grid.transform, grid.crs, band_names=S2_LAND_BANDS, nodata=0,
                         dates=(day,), provenance=Provenance("example", (f"example_{day}",))),
                  folder / f"site_{day}.tif", overviews=False)
    return src, s.truth_epoch


def main(out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, truth = make_folder(Path(tmp))
        tl = site_timeline(src.site(), "2016-01-01", "2018-12-31", "quarter", source="local",
                           source_options={"path": tmp})
        for e in tl.epochs:
            print(f"  {e.label}: {100 * e.clear_share:.0f}% of the site clear ({e.screened})")
        print(f"{tl.changed_area_m2:,.0f} m² {tl.changed_phrase} in {len(tl.events)} events")
        for rec in sorted(tl.event_records(), key=lambda r: -r["area_m2"])[:5]:
            print(" ", rec["sentence"], f"(confidence {rec['confidence']:.2f})")
        hit = tl.changed & (truth >= 0)
        if hit.any():
            ok = np.abs(tl.date[hit].astype(int) - truth[hit]) <= 1
            print(f"  {100 * ok.mean():.0f}% of the truly changed pixels found are dated "
                  "within one epoch")
        for note in tl.notes:
            print("  note:", note)
        paths = write_timeline_outputs(tl, out)
        print("wrote", ", ".join(p.name for p in paths.values()), "to", out)
        print(tl.attribution)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "timeline-local-files")
