"""Build the bundled sample (sitewatch/data/sample/cupertino) from the OSCD dataset.

    python scripts/build_sample.py [OSCD_ROOT]

Crops the Cupertino pair around Apple Park (384 x 384 px of imgs_1's 10 m
grid, EPSG:4326 as distributed), keeps the ten 10/20 m bands (20 m bands
bilinearly brought onto the 10 m grid, as the OSCD reader does), and writes
uint16 DEFLATE COGs (reflectance x 10000, 0 = no data), the label crop,
provenance.json with the crop window and checksums, and the attribution.
Deterministic: the same input gives the same files.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from sitewatch.bands import S2_LAND_BANDS
from sitewatch.imagery.io import write_cog
from sitewatch.imagery.oscd import open_oscd_city, read_oscd_labels, read_oscd_pair

ROW0, COL0, SIZE = 500, 256, 384
CITY = "cupertino"
OUT = Path(__file__).resolve().parents[1] / "sitewatch" / "data" / "sample" / CITY


def main(root: str) -> None:
    city = open_oscd_city(root, CITY)
    before, after = read_oscd_pair(root, CITY, bands=S2_LAND_BANDS)
    labels = read_oscd_labels(root, CITY)
    OUT.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, r in (("before", before), ("after", after)):
        w = r.window(ROW0, COL0, SIZE, SIZE)
        dn = np.where(np.isfinite(w.data), np.clip(np.round(w.data * 10000), 1, 65535), 0)
        out = w.with_data(dn.astype("uint16"), nodata=0,
                          attrs={"scale": 1e-4, "units": "reflectance x 10000 (L1C TOA)",
                                 "city": CITY})
        write_cog(out, OUT / f"{name}.tif", overviews=False)
        files[name] = f"{name}.tif"
    lab = labels.window(ROW0, COL0, SIZE, SIZE)
    write_cog(lab, OUT / "labels.tif", overviews=False)
    files["labels"] = "labels.tif"
    win = before.window(ROW0, COL0, SIZE, SIZE)
    minx, miny, maxx, maxy = win.bounds
    prov = {
        "dataset": "Onera Satellite Change Detection (OSCD)",
        "city": CITY,
        "date_1": city.date_1, "date_2": city.date_2,
        "scene_ids": {"before": city.scene_id(1), "after": city.scene_id(2)},
        "note_on_scene_ids": ("The imgs_1 granule name carries its processing date (20161023) "
                              "and absolute orbit A001254; the acquisition date is date_1 "
                              "from dates.txt."),
        "level": "L1C (top-of-atmosphere reflectance)",
        "crs": win.crs, "transform": list(win.transform)[:6],
        "crop_window_imgs1": {"row_off": ROW0, "col_off": COL0, "height": SIZE, "width": SIZE},
        "bounds_wgs84": [minx, miny, maxx, maxy],
        "bands": list(S2_LAND_BANDS),
        "resampling": "20 m bands bilinear onto imgs_1's 10 m B02 grid; imgs_2 bilinear "
                      "onto imgs_1's grid from the georeferencing",
        "labels": "OSCD train label crop, 0 = no change, 1 = change (from the file's 1/2)",
        "build_script": "scripts/build_sample.py",
        "sha256": {k: hashlib.sha256((OUT / v).read_bytes()).hexdigest()
                   for k, v in files.items()},
        "files": files,
        "licence": {
            "imagery": "Contains modified Copernicus Sentinel data 2015, 2018",
            "labels": "CC BY-NC-SA 4.0, Daudt, Le Saux, Boulch, Gousseau, 'Urban Change "
                      "Detection for Multispectral Earth Observation Using Convolutional "
                      "Neural Networks', IGARSS 2018",
        },
    }
    (OUT / "provenance.json").write_text(json.dumps(prov, indent=2) + "\n")
    print(f"wrote {OUT} bounds {prov['bounds_wgs84']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/oscd")
