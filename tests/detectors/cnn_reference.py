"""The `cnn` network evaluated in plain numpy: the reference the ONNX graph is checked against.

This is the network's definition written out directly (the same layers as
``sitewatch.detectors.convnet.layers`` and the PyTorch twin of
``benchmarks/train_cnn.py``): 'same' zero-padded 3x3/1x1 convolutions with ReLU,
2x2 max pooling, nearest-neighbour upsampling, the decoder's convolution of the
concatenation ``[up(v), skip]``, a 1x1 head. It is slow and simple on purpose:
nothing of the graph's rearrangements (split first convolution, split decoder sums,
padded channels) is in it. Used by the tests only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sitewatch.detectors.convnet import Arch


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'Same' zero-padded 2-D cross-correlation of a (Cin, H, W) array with (Cout, Cin, k, k)."""
    _, h, wd = x.shape
    k = w.shape[2]
    r = k // 2
    xp = np.pad(x.astype("float64"), ((0, 0), (r, r), (r, r)))
    out = np.zeros((w.shape[0], h, wd))
    for i in range(k):
        for j in range(k):
            out += np.tensordot(w[:, :, i, j].astype("float64"), xp[:, i:i + h, j:j + wd],
                                axes=([1], [0]))
    return out + b.astype("float64")[:, None, None]


def _pool(x: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))  # type: ignore[no-any-return]


def _up(x: np.ndarray) -> np.ndarray:
    return x.repeat(2, axis=1).repeat(2, axis=2)


def _encode(weights: Mapping[str, np.ndarray], x: np.ndarray, arch: Arch) -> list[np.ndarray]:
    skips = []
    v = x
    for lev, n in enumerate(arch.enc_convs):
        if lev:
            v = _pool(v)
        for i in range(n):
            v = np.maximum(conv2d(v, weights[f"enc{lev}_{i}.w"], weights[f"enc{lev}_{i}.b"]), 0)
        skips.append(v)
    return skips


def forward(weights: Mapping[str, np.ndarray], x: np.ndarray, arch: Arch) -> np.ndarray:
    """(H, W) float64 change logits of a (C, H, W) input, zero-padded to ``arch.align``."""
    _, h, wd = x.shape
    al = arch.align
    x = np.pad(np.asarray(x, "float64"), ((0, 0), (0, (-h) % al), (0, (-wd) % al)))
    if arch.siamese:
        half = x.shape[0] // 2
        fb, fa = _encode(weights, x[:half], arch), _encode(weights, x[half:], arch)
        skips = [np.abs(a - b) for a, b in zip(fa, fb, strict=True)]
    else:
        skips = _encode(weights, x, arch)
    v = skips[-1]
    for lev in range(len(arch.widths) - 2, -1, -1):
        cat = np.concatenate([_up(v), skips[lev]])
        v = np.maximum(conv2d(cat, weights[f"dec{lev}.w"], weights[f"dec{lev}.b"]), 0)
    return conv2d(v, weights["head.w"], weights["head.b"])[0, :h, :wd]


def probability(weights: Mapping[str, np.ndarray], x: np.ndarray, arch: Arch) -> np.ndarray:
    """The sigmoid of :func:`forward`."""
    return 1 / (1 + np.exp(-forward(weights, x, arch)))  # type: ignore[no-any-return]
