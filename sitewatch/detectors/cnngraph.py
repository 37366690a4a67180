"""The `cnn` detector's network as an ONNX graph, built from its folded weights (export only).

:func:`cnn_graph` turns the weights of a :class:`~sitewatch.detectors.convnet.Arch`
(batch norm folded, as ``benchmarks/train_cnn.py`` writes them) into the ONNX model
the detector runs with ONNX Runtime. It needs the ``onnx`` package (``pip install
'sitewatch[export]'``), which inference does not: the graph is built once, when a
model is trained or converted (``benchmarks/cnn_to_onnx.py``), and shipped.

The graph computes the same function as the network's definition, arranged for
ONNX Runtime's blocked-channel (NCHWc) CPU kernels:

- inputs ``before`` and ``after``, each (1, B, H, W) standardised bands (H, W
  multiples of :attr:`Arch.align`); output ``probability`` (1, 1, H, W), the
  sigmoid of the change logit;
- early fusion: the first convolution of ``[before, after, after - before]`` is
  the sum of a convolution of ``before`` with ``W_before - W_diff`` and one of
  ``after`` with ``W_after + W_diff`` (a third fewer multiplications, no
  concatenated input);
- a decoder convolution of ``[up(v), skip]`` is a convolution of ``up(v)`` plus
  one of ``skip`` (no concatenation); a 1x1 one is applied to ``v`` before the
  nearest-neighbour upsampling (a quarter of the multiplications);
- channel counts are zero-padded to multiples of :data:`CHANNEL_BLOCK` (the
  runtime's block on AVX-512 CPUs; it pads to it anyway): zero weights and biases
  give exactly zero channels, and pooling, upsampling and sums then stay in the
  blocked layout instead of converting back and forth;
- every intermediate tensor carries its symbolic shape, so the runtime can prove
  the two operands of each sum alike and fuse the sum and the ReLU into the
  convolution.

Examples
--------
>>> import numpy as np
>>> from sitewatch.detectors.convnet import Arch, random_weights
>>> arch = Arch(widths=(4, 8), enc_convs=(1, 1))
>>> w = random_weights(arch, arch.input_channels(2), np.random.default_rng(0))
>>> blob = cnn_graph(w, {"arch": arch.to_meta(), "bands": ["B04", "B08"]})
>>> blob[:2], len(blob) > 1000
(b'\\x08\\x08', True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from sitewatch.detectors.convnet import Arch, check_weights
from sitewatch.errors import DetectorError

__all__ = ["cnn_graph", "CHANNEL_BLOCK", "META_KEY", "INPUTS", "OUTPUT", "OPSET"]

#: Channel counts are padded to multiples of this (ONNX Runtime's NCHWc block on AVX-512).
CHANNEL_BLOCK = 16
#: Key of the model's metadata (JSON: arch, bands, threshold, training facts) in the ONNX file.
META_KEY = "sitewatch"
#: Graph input names (standardised before and after bands) and output name.
INPUTS = ("before", "after")
OUTPUT = "probability"
#: ONNX operator set of the graph (ONNX Runtime 1.17 and newer run it).
OPSET = 17


def _pad(c: int) -> int:
    return -(-c // CHANNEL_BLOCK) * CHANNEL_BLOCK


class _Builder:
    """Nodes, initialisers and shaped value infos of one graph."""

    def __init__(self) -> None:
        from onnx import TensorProto, helper, numpy_helper

        self.helper, self.numpy_helper, self.float = helper, numpy_helper, TensorProto.FLOAT
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.infos: list[Any] = []
        self._names: set[str] = set()

    def name(self, base: str) -> str:
        n, i = base, 1
        while n in self._names:
            i += 1
            n = f"{base}_{i}"
        self._names.add(n)
        return n

    def const(self, base: str, arr: np.ndarray) -> str:
        n = self.name(base)
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def node(self, op: str, inputs: list[str], base: str, shape: tuple[int, int] | None,
             **attrs: Any) -> str:
        """Add a node with one output; ``shape`` = (channels, level) for its value info."""
        out = self.name(base)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        if shape is not None:
            self.infos.append(self.value_info(out, *shape))
        return out

    def value_info(self, name: str, channels: int, level: int) -> Any:
        return self.helper.make_tensor_value_info(
            name, self.float, [1, channels, f"height_{level}", f"width_{level}"])


def _conv_weights(w: np.ndarray, b: np.ndarray | None, cin_pad: int | None,
                  cout_pad: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(Cout, Cin, k, k) weights and bias zero-padded to the given channel counts."""
    cout, cin, k, _ = w.shape
    wp = np.zeros((cout_pad or cout, cin_pad or cin, k, k), "float32")
    wp[:cout, :cin] = w
    if b is None:
        return wp, None
    bp = np.zeros(cout_pad or cout, "float32")
    bp[:cout] = b
    return wp, bp


def cnn_graph(weights: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> bytes:
    """The serialised ONNX model of a network's folded weights, with ``meta`` embedded.

    Parameters
    ----------
    weights : mapping of str to ndarray
        ``<layer>.w`` (Cout, Cin, k, k) and ``<layer>.b`` (Cout,) for every layer of
        :func:`~sitewatch.detectors.convnet.layers`.
    meta : mapping
        The model's metadata; needs ``arch`` (:meth:`Arch.to_meta`) and ``bands`` (the
        B band names per date). Stored as JSON under :data:`META_KEY`.

    Returns
    -------
    bytes
        An ONNX model (opset :data:`OPSET`) mapping ``before``, ``after`` (1, B, H, W)
        to ``probability`` (1, 1, H, W).

    Raises
    ------
    DetectorError
        Weights that do not match the arch, or the ``onnx`` package missing.
    """
    try:
        import onnx
    except ImportError as err:
        raise DetectorError("building the cnn's ONNX model needs the onnx package: "
                            "pip install 'sitewatch[export]'") from err
    arch = Arch.from_meta(meta["arch"])
    nb = len(meta["bands"])
    w = {k: np.asarray(v, "float32") for k, v in weights.items()}
    problems = check_weights(w, arch, arch.input_channels(nb))
    if problems:
        raise DetectorError(f"weights do not match the arch {arch}: {'; '.join(problems[:3])}")
    g = _Builder()

    def conv(x: str, base: str, wt: np.ndarray, bias: np.ndarray | None, level: int,
             cin_pad: int | None, cout_pad: int | None = None) -> str:
        wp, bp = _conv_weights(wt, bias, cin_pad, cout_pad)
        k = wt.shape[2]
        ins = [x, g.const(f"{base}.w", wp)] + ([g.const(f"{base}.b", bp)] if bp is not None
                                                else [])
        return g.node("Conv", ins, base, (wp.shape[0], level), kernel_shape=[k, k],
                      pads=[k // 2] * 4)

    def add_relu(a: str, b: str, base: str, channels: int, level: int) -> str:
        s = g.node("Add", [a, b], f"{base}_sum", (channels, level))
        return g.node("Relu", [s], f"{base}_relu", (channels, level))

    def encode(inputs: list[str], first: list[np.ndarray]) -> list[str]:
        """Encoder features per level; the first convolution's weights split by input."""
        skips = []
        v = ""
        for lev, n in enumerate(arch.enc_convs):
            c = _pad(arch.widths[lev])
            if lev:
                v = g.node("MaxPool", [v], f"pool{lev}", (_pad(arch.widths[lev - 1]), lev),
                           kernel_shape=[2, 2], strides=[2, 2])
            for i in range(n):
                name = f"enc{lev}_{i}"
                bias = w[f"{name}.b"]
                if lev == 0 and i == 0:
                    parts = [conv(x, f"{name}_{x}", wt, bias if j == len(inputs) - 1 else None,
                                  0, None, c) for j, (x, wt) in enumerate(zip(inputs, first,
                                                                               strict=True))]
                    v = parts[0]
                    for j, p in enumerate(parts[1:]):
                        v = g.node("Add", [v, p], f"{name}_sum{j}", (c, 0))
                else:
                    v = conv(v, name, w[f"{name}.w"], bias, lev, _pad(w[f"{name}.w"].shape[1]),
                             c)
                v = g.node("Relu", [v], f"{name}_relu", (c, lev))
            skips.append(v)
        return skips

    w0 = w["enc0_0.w"]
    if arch.siamese:
        fb = encode([INPUTS[0]], [w0])
        fa = encode([INPUTS[1]], [w0])
        skips = [g.node("Abs", [g.node("Sub", [a, b], f"diff{lev}", (_pad(arch.widths[lev]),
                                                                      lev))],
                        f"absdiff{lev}", (_pad(arch.widths[lev]), lev))
                 for lev, (a, b) in enumerate(zip(fa, fb, strict=True))]
    else:  # conv of [b, a, a - b] = conv of b with (Wb - Wd) + conv of a with (Wa + Wd)
        skips = encode(list(INPUTS), [w0[:, :nb] - w0[:, 2 * nb:],
                                      w0[:, nb:2 * nb] + w0[:, 2 * nb:]])
    scales = g.const("up_scales", np.array([1, 1, 2, 2], "float32"))

    def upsample(x: str, channels: int, level: int) -> str:
        return g.node("Resize", [x, "", scales], f"up{level}", (channels, level),
                      mode="nearest", coordinate_transformation_mode="asymmetric",
                      nearest_mode="floor")

    v = skips[-1]
    for lev in range(len(arch.widths) - 2, -1, -1):
        wt, bias = w[f"dec{lev}.w"], w[f"dec{lev}.b"]
        cv, cs, c = arch.widths[lev + 1], arch.widths[lev], _pad(arch.widths[lev])
        from_skip = conv(skips[lev], f"dec{lev}_skip", wt[:, cv:], bias, lev, _pad(cs), c)
        if wt.shape[2] == 1:  # a 1x1 convolution commutes with nearest upsampling
            low = conv(v, f"dec{lev}_low", wt[:, :cv], None, lev + 1, _pad(cv), c)
            from_v = upsample(low, c, lev)
        else:
            from_v = conv(upsample(v, _pad(cv), lev), f"dec{lev}_up", wt[:, :cv], None, lev,
                          _pad(cv), c)
        v = add_relu(from_skip, from_v, f"dec{lev}", c, lev)
    logit = conv(v, "head", w["head.w"], w["head.b"], 0, _pad(arch.widths[0]))
    prob = g.node("Sigmoid", [logit], OUTPUT, None)
    h = g.helper
    inputs = [h.make_tensor_value_info(n, g.float, [1, nb, "height_0", "width_0"])
              for n in INPUTS]
    graph = h.make_graph(g.nodes, "sitewatch_cnn", inputs,
                         [g.value_info(prob, 1, 0)], g.inits,
                         value_info=[vi for vi in g.infos if vi.name != prob])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)],
                         producer_name="sitewatch")
    model.ir_version = 8  # readable by ONNX Runtime 1.14 and newer
    h.set_model_props(model, {META_KEY: json.dumps(dict(meta))})
    model.doc_string = ("sitewatch cnn change detector: per-image standardised bands of two "
                        "dates -> change probability")
    onnx.checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString())
