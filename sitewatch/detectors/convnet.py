"""A small fully convolutional network evaluated in plain numpy (inference only).

The network is an early-fusion U-Net in the spirit of FC-EF (Daudt, Le Saux,
Boulch, ICIP 2018), slimmed to run on a CPU in about a second per
0.5 megapixel: 3x3 convolutions with ReLU at full, half and quarter
resolution, 2x2 max pooling, nearest-neighbour upsampling with skip
connections, and a 1x1 head giving one change logit per pixel. Batch
normalisation was folded into the convolution weights at export, so each
layer is ``relu(W * x + b)``.

Weights live in an ``.npz`` file: ``<layer>.w`` (Cout, Cin, k, k) and
``<layer>.b`` (Cout,) for each layer of :data:`LAYERS`, plus ``meta`` (a JSON
string). The same layer list defines the PyTorch twin used for training
(``benchmarks/train_cnn.py``).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> w = random_weights(6, rng)
>>> logit = forward(w, rng.normal(size=(6, 20, 28)).astype("float32"))
>>> logit.shape
(20, 28)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["LAYERS", "forward", "conv2d", "random_weights", "RECEPTIVE_HALO", "ALIGN"]

#: (name, kernel size, input channels (None: the model input), output channels).
#: Resolution and wiring are fixed in :func:`forward`.
LAYERS: tuple[tuple[str, int, int | None, int], ...] = (
    ("enc1", 3, None, 16),   # full resolution
    ("enc2a", 3, 16, 24),    # 1/2
    ("enc2b", 3, 24, 24),
    ("enc3a", 3, 24, 32),    # 1/4
    ("enc3b", 3, 32, 32),
    ("enc3c", 3, 32, 32),
    ("dec2", 3, 32 + 24, 24),  # 1/2, after upsampling and skip
    ("dec1", 1, 24 + 16, 16),  # full, after upsampling and skip
    ("head", 1, 16, 1),
)

#: Context rows/cols a block needs on each side for an exact result.
RECEPTIVE_HALO = 32
#: Block offsets must be multiples of this (two 2x2 poolings).
ALIGN = 4

_CHUNK_ELEMS = 3_000_000  # im2col chunk size (floats), bounds memory per layer


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'Same' zero-padded 2-D convolution (cross-correlation) of a (C, H, W) array.

    Parameters
    ----------
    x : (Cin, H, W) float32 ndarray
    w : (Cout, Cin, k, k) ndarray
        Odd ``k``.
    b : (Cout,) ndarray

    Returns
    -------
    (Cout, H, W) float32 ndarray

    Examples
    --------
    >>> x = np.arange(9, dtype="float32").reshape(1, 3, 3)
    >>> w = np.zeros((1, 1, 3, 3), "float32"); w[0, 0, 1, 2] = 1   # pick the right neighbour
    >>> conv2d(x, w, np.zeros(1, "float32"))[0]
    array([[1., 2., 0.],
           [4., 5., 0.],
           [7., 8., 0.]], dtype=float32)
    """
    cin, h, wd = x.shape
    cout, _, k, _ = w.shape
    r = k // 2
    wm = np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(cout, k * k * cin), "float32")
    out = np.empty((cout, h, wd), "float32")
    if k == 1:
        out[:] = (wm @ x.reshape(cin, -1)).reshape(cout, h, wd)
        out += b[:, None, None]
        return out
    xp = np.pad(x, ((0, 0), (r, r), (r, r)))
    rows = max(1, _CHUNK_ELEMS // (k * k * cin * wd))
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        cols = np.empty((k * k, cin, r1 - r0, wd), "float32")
        t = 0
        for i in range(k):
            for j in range(k):
                cols[t] = xp[:, r0 + i: r1 + i, j: j + wd]
                t += 1
        out[:, r0:r1] = (wm @ cols.reshape(k * k * cin, -1)).reshape(cout, r1 - r0, wd)
    out += b[:, None, None]
    return out


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _pool(x: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))  # type: ignore[no-any-return]


def _up(x: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)


def forward(weights: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """(H, W) change logits of a (C, H, W) input (any H, W; padded to a multiple of 4).

    Examples
    --------
    >>> w = random_weights(2, np.random.default_rng(1))
    >>> forward(w, np.zeros((2, 5, 7), "float32")).shape
    (5, 7)
    """
    c, h, wd = x.shape
    ph, pw = (-h) % ALIGN, (-wd) % ALIGN
    x = np.pad(np.asarray(x, "float32"), ((0, 0), (0, ph), (0, pw)))

    def layer(name: str, v: np.ndarray, relu: bool = True) -> np.ndarray:
        y = conv2d(v, weights[f"{name}.w"], weights[f"{name}.b"])
        return _relu(y) if relu else y

    e1 = layer("enc1", x)
    e2 = layer("enc2b", layer("enc2a", _pool(e1)))
    e3 = layer("enc3c", layer("enc3b", layer("enc3a", _pool(e2))))
    d2 = layer("dec2", np.concatenate([_up(e3), e2]))
    d1 = layer("dec1", np.concatenate([_up(d2), e1]))
    return layer("head", d1, relu=False)[0, :h, :wd]


def random_weights(in_channels: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He-initialised weights for :data:`LAYERS` (for tests and as a training start).

    Examples
    --------
    >>> w = random_weights(3, np.random.default_rng(0))
    >>> w["enc1.w"].shape, w["head.b"].shape
    ((16, 3, 3, 3), (1,))
    """
    out = {}
    for name, k, cin, cout in LAYERS:
        ci = in_channels if cin is None else cin
        out[f"{name}.w"] = (rng.normal(0, np.sqrt(2 / (ci * k * k)), (cout, ci, k, k))
                            .astype("float32"))
        out[f"{name}.b"] = np.zeros(cout, "float32")
    return out
