"""Convert `cnn` weights (``.npz`` from ``train_cnn.py``) into the ONNX model the detector runs.

Usage::

    pip install -e '.[export]'          # the onnx package (not needed to run the model)
    python benchmarks/cnn_to_onnx.py benchmarks/models/cnn-loco-*.npz
    python benchmarks/cnn_to_onnx.py benchmarks/models/cnn-loco-cupertino.npz \\
        --out sitewatch/detectors/models/cnn-default.onnx

Each ``<name>.npz`` becomes ``<name>.onnx`` beside it (or ``--out`` for one file),
written atomically: the graph of :func:`sitewatch.detectors.cnngraph.cnn_graph`
with the weights and the model's metadata (arch, bands, threshold, training facts)
embedded. ``train_cnn.py`` calls :func:`convert` for every model it saves. The
tests check the graph against the network's numpy reference (the shipped model and
random ones, every arch option): probabilities within 1e-4.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sitewatch.atomic import atomic_write_bytes  # noqa: E402
from sitewatch.detectors.cnngraph import cnn_graph  # noqa: E402


def read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Weights and metadata of a ``.npz`` written by ``train_cnn.save_model``."""
    with np.load(path) as z:
        weights = {k: np.asarray(z[k], "float32") for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    return weights, meta


def convert(npz: Path, out: Path | None = None) -> Path:
    """Write the ONNX model of ``npz`` (default: beside it, ``.onnx``); return its path."""
    weights, meta = read_npz(npz)
    dest = out or npz.with_suffix(".onnx")
    atomic_write_bytes(cnn_graph(weights, meta), dest)
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("npz", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, help="output file (one input only)")
    args = ap.parse_args()
    if args.out and len(args.npz) > 1:
        sys.exit("--out takes one input file")
    for p in args.npz:
        print(f"{p} -> {convert(p, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
