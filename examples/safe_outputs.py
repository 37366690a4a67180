"""Safe output folders and checked parameters from Python (what the command line does).

    python examples/safe_outputs.py [FOLDER]

Writes a change run on the bundled sample into FOLDER/run through an OutputFolder (a manifest
of what sitewatch wrote; the outputs move into place only when the run has finished), shows
that a folder holding a file of yours is refused and left alone, and that a detector parameter
of the wrong type, out of range, or one the detector would ignore is refused before any work.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from sitewatch.detectors.registry import get_detector
from sitewatch.errors import OutputFolderError, ParameterError
from sitewatch.imagery.sources import get_source
from sitewatch.outdir import MANIFEST, OutputFolder
from sitewatch.pipeline.change import detect_change
from sitewatch.pipeline.outputs import write_change_outputs


def main(root: Path) -> None:
    # 1. parameters: declared once per detector, checked the same way everywhere
    cva = get_detector("cva")
    print("cva parameters:", ", ".join(p.name for p in cva.parameters))
    for bad in ({"far": "abc"}, {"far": 0.2}, {"threshold": -1}):
        try:
            cva.check_params(bad)
        except ParameterError as err:
            print(f"  refused {bad}: {err}")
    params = cva.check_params({"threshold": "far", "far": "0.05"})  # strings get their types
    print("  accepted:", params)

    # 2. a run written through an OutputFolder
    src = get_source("sample")
    site = src.site()
    scenes = src.search(site, "2015-01-01", "2018-12-31")
    grid = src.native_grid(site)
    before, after = (src.load(s, grid, ["B02", "B03", "B04", "B08"])
                     for s in (scenes[0], scenes[-1]))
    out = root / "run"
    with OutputFolder(out, overwrite=True, command="example") as stage:
        result = detect_change(before, after, method="cva", threshold="far", far=0.05)
        write_change_outputs(result, stage, figure=False)
    manifest = json.loads((out / MANIFEST).read_text())
    print(f"wrote {len(manifest['files'])} files to {out}:", ", ".join(sorted(manifest["files"])))
    print("summary.json records the parameters in effect:",
          json.loads((out / "summary.json").read_text())["detector"]["params"]["far"])

    # 3. a folder holding a file of yours is refused, and the file is left as it was
    (out / "my-notes.txt").write_text("notes on the result")
    try:
        OutputFolder(out, overwrite=True, command="example").open()
    except OutputFolderError as err:
        print("refused:", err)
    print("your file is still there:", (out / "my-notes.txt").read_text())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
