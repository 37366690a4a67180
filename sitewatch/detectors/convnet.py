"""A small fully convolutional network evaluated in plain numpy (inference only).

The network is an early-fusion U-Net in the spirit of FC-EF (Daudt, Le Saux,
Boulch, ICIP 2018), slimmed to run on a CPU in about a second per
0.5 megapixel. Its shape is an :class:`Arch`: ``widths[l]`` channels at level
``l`` (resolution 1 / 2**l), ``enc_convs[l]`` 3x3 convolutions with ReLU in
the encoder at that level, 2x2 max pooling between levels; the decoder
upsamples (nearest neighbour), concatenates the encoder's skip and applies one
convolution with ReLU per level (3x3; ``dec0_kernel`` at full resolution);
a 1x1 head gives one change logit per pixel. With ``siamese=True`` the input
holds the two dates' bands (before, then after), the encoder runs on each date
with the same weights and the decoder sees ``|after - before|`` of the
features at every level (FC-Siam-diff in the same paper), so the logits do not
depend on the order of the dates. Batch normalisation was folded
into the convolution weights at export, so each layer is ``relu(W * x + b)``.

Weights live in an ``.npz`` file: ``<layer>.w`` (Cout, Cin, k, k) and
``<layer>.b`` (Cout,) for each layer of :func:`layers`, plus ``meta`` (a JSON
string holding the arch). The same layer list defines the PyTorch twin used
for training (``benchmarks/train_cnn.py``).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> arch = Arch()
>>> w = random_weights(arch, 6, rng)
>>> logit = forward(w, rng.normal(size=(6, 20, 28)).astype("float32"), arch)
>>> logit.shape
(20, 28)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Arch", "layers", "forward", "conv2d", "conv2d_upsampled", "random_weights",
           "check_weights"]

_CHUNK_ELEMS = 2_000_000  # floats of one layer's stacked products per chunk (bounds memory)


@dataclass(frozen=True)
class Arch:
    """Shape of the U-Net: channels and encoder convolutions per level.

    Examples
    --------
    >>> a = Arch(widths=(8, 16), enc_convs=(1, 1))
    >>> a.align, a.halo
    (2, 6)
    """

    widths: tuple[int, ...] = (16, 32, 48, 64)
    enc_convs: tuple[int, ...] = (1, 2, 2, 2)
    dec0_kernel: int = 1
    siamese: bool = False

    @classmethod
    def from_meta(cls, d: Mapping[str, Any]) -> Arch:
        """The arch recorded in a model's metadata.

        Examples
        --------
        >>> Arch.from_meta({"widths": [8, 16], "enc_convs": [1, 1], "dec0_kernel": 3}).widths
        (8, 16)
        """
        return cls(tuple(d["widths"]), tuple(d["enc_convs"]), int(d.get("dec0_kernel", 1)),
                   bool(d.get("siamese", False)))

    def input_channels(self, n_bands: int) -> int:
        """Channels of the network input for ``n_bands`` bands per date.

        Before, after and their difference (early fusion), or before and after (Siamese).

        Examples
        --------
        >>> Arch().input_channels(10), Arch(siamese=True).input_channels(10)
        (30, 10)
        """
        return n_bands if self.siamese else 3 * n_bands

    def to_meta(self) -> dict[str, Any]:
        """A JSON-able dict (inverse of :meth:`from_meta`)."""
        return asdict(self)

    @property
    def align(self) -> int:
        """Block offsets and padded sizes are multiples of this (the pooling grids)."""
        return int(2 ** (len(self.widths) - 1))

    @property
    def halo(self) -> int:
        """Rows/cols of context a block needs on each side for an exact result."""
        reach = 0
        for lev, n in enumerate(self.enc_convs):  # 3x3 convolutions at scale 2**lev
            reach += n * 2 ** lev + (2 ** lev if lev else 0)  # + the pooling into the level
        for lev in range(len(self.widths) - 1):  # decoder
            k = 3 if lev else self.dec0_kernel
            reach += (k // 2) * 2 ** lev + 2 ** lev
        return -(-reach // self.align) * self.align


def layers(arch: Arch, in_channels: int) -> list[tuple[str, int, int, int]]:
    """(name, kernel, Cin, Cout) of every convolution, in evaluation order.

    Examples
    --------
    >>> [n for n, *_ in layers(Arch(widths=(8, 16), enc_convs=(1, 2)), 3)]
    ['enc0_0', 'enc1_0', 'enc1_1', 'dec0', 'head']
    """
    out = []
    w = arch.widths
    for lev, n in enumerate(arch.enc_convs):
        cin = in_channels if lev == 0 else w[lev - 1]
        for i in range(n):
            out.append((f"enc{lev}_{i}", 3, cin if i == 0 else w[lev], w[lev]))
    for lev in range(len(w) - 2, -1, -1):
        k = 3 if lev else arch.dec0_kernel
        out.append((f"dec{lev}", k, w[lev + 1] + w[lev], w[lev]))
    out.append(("head", 1, w[0], 1))
    return out


def _shift_sum(x: np.ndarray, taps: Sequence[tuple[int, int, np.ndarray]]) -> np.ndarray:
    """``sum_t W_t @ x[:, i + di_t, j + dj_t]`` over taps ``(di, dj, W (Cout, Cin))``, zero outside.

    One matrix product of the stacked tap weights with the padded input per
    chunk of rows, then the shifted products are summed (a shift is a
    contiguous offset in the flattened padded image).
    """
    cin, h, wd = x.shape
    cout = taps[0][2].shape[0]
    r = max(max(abs(di), abs(dj)) for di, dj, _ in taps)
    pw = wd + 2 * r
    xp = np.zeros((cin, h + 2 * r, pw), "float32")
    xp[:, r:r + h, r:r + wd] = x
    ws = np.ascontiguousarray(np.concatenate([t[2] for t in taps]), "float32")
    offs = [(di + r) * pw + (dj + r) for di, dj, _ in taps]
    out = np.empty((cout, h, wd), "float32")
    rows = max(1, _CHUNK_ELEMS // (len(taps) * cout * pw) - 2 * r)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        y = (ws @ xp[:, r0:r1 + 2 * r].reshape(cin, -1)).reshape(len(taps), cout, -1)
        n = (r1 - r0) * pw - 2 * r  # flat positions whose every shift stays in the chunk
        acc = np.empty((cout, (r1 - r0) * pw), "float32")
        acc[:, :n] = y[0, :, offs[0]:offs[0] + n]
        for t in range(1, len(taps)):
            acc[:, :n] += y[t, :, offs[t]:offs[t] + n]
        out[:, r0:r1] = acc.reshape(cout, r1 - r0, pw)[:, :, :wd]
    return out


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """'Same' zero-padded 2-D convolution (cross-correlation) of a (C, H, W) array.

    Parameters
    ----------
    x : (Cin, H, W) float32 ndarray
    w : (Cout, Cin, k, k) ndarray
        Odd ``k``.
    b : (Cout,) ndarray, optional

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
    w = np.asarray(w, "float32")
    if k == 1:
        out = (w[:, :, 0, 0] @ x.reshape(cin, -1)).reshape(cout, h, wd)
    else:
        r = k // 2
        out = _shift_sum(x, [(i - r, j - r, w[:, :, i, j]) for i in range(k) for j in range(k)])
    if b is not None:
        out += np.asarray(b, "float32")[:, None, None]
    return out


def conv2d_upsampled(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``conv2d(up(v), w)`` for nearest-neighbour 2x upsampling, without upsampling.

    Each of the four output phases is a 2x2 convolution of ``v`` with summed
    taps of the 3x3 kernel (4 taps per output pixel instead of 9).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> v = rng.normal(size=(2, 3, 4)).astype("float32"); w = rng.normal(size=(3, 2, 3, 3))
    >>> np.allclose(conv2d_upsampled(v, w), conv2d(_up(v), w), atol=1e-5)
    True
    """
    c, h, wd = v.shape
    w = np.asarray(w, "float32")
    cout = w.shape[0]
    # for output phase a (row parity), kernel row i reads low-res row offset (a + i - 1) // 2
    out = np.empty((cout, h, 2, wd, 2), "float32")
    for a in (0, 1):
        for bb in (0, 1):
            taps: dict[tuple[int, int], np.ndarray] = {}
            for i in range(3):
                for j in range(3):
                    key = ((a + i - 1) // 2, (bb + j - 1) // 2)
                    taps[key] = taps.get(key, 0) + w[:, :, i, j]
            out[:, :, a, :, bb] = _shift_sum(v, [(di, dj, t) for (di, dj), t in taps.items()])
    return out.reshape(cout, 2 * h, 2 * wd)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _pool(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(x[:, ::2, ::2], x[:, 1::2, ::2]),  # type: ignore[no-any-return]
                      np.maximum(x[:, ::2, 1::2], x[:, 1::2, 1::2]))


def _up(x: np.ndarray) -> np.ndarray:
    c, h, w = x.shape
    out = np.empty((c, h, 2, w, 2), x.dtype)
    out[...] = x[:, :, None, :, None]
    return out.reshape(c, 2 * h, 2 * w)


def _encode(weights: Mapping[str, np.ndarray], x: np.ndarray, arch: Arch) -> list[np.ndarray]:
    """The encoder's feature maps, one per level."""
    skips: list[np.ndarray] = []
    v = x
    for lev, n in enumerate(arch.enc_convs):
        if lev:
            v = _pool(v)
        for i in range(n):
            name = f"enc{lev}_{i}"
            v = _relu(conv2d(v, weights[f"{name}.w"], weights[f"{name}.b"]))
        skips.append(v)
    return skips


def forward(weights: Mapping[str, np.ndarray], x: np.ndarray, arch: Arch) -> np.ndarray:
    """(H, W) change logits of a (C, H, W) input (any H, W; padded to a multiple of ``arch.align``).

    The decoder's convolution of ``[up(v); skip]`` is computed as
    :func:`conv2d_upsampled` of ``v`` plus :func:`conv2d` of the skip (the
    same sum, without building the upsampled, concatenated array).

    Examples
    --------
    >>> a = Arch(widths=(4, 8, 8), enc_convs=(1, 1, 1))
    >>> w = random_weights(a, 2, np.random.default_rng(1))
    >>> forward(w, np.zeros((2, 5, 7), "float32"), a).shape
    (5, 7)
    """
    _, h, wd = x.shape
    al = arch.align
    x = np.asarray(x, "float32")
    if h % al or wd % al:
        x = np.pad(x, ((0, 0), (0, (-h) % al), (0, (-wd) % al)))

    if arch.siamese:
        half = x.shape[0] // 2
        fb, fa = _encode(weights, x[:half], arch), _encode(weights, x[half:], arch)
        skips = [np.abs(np.subtract(a, b, out=a), out=a) for a, b in zip(fa, fb, strict=True)]
    else:
        skips = _encode(weights, x, arch)
    v = skips[-1]
    for lev in range(len(arch.widths) - 2, -1, -1):
        w, b = weights[f"dec{lev}.w"], weights[f"dec{lev}.b"]
        cv = v.shape[0]
        skip = skips[lev]
        out = conv2d(skip, w[:, cv:], b)
        if w.shape[2] == 1:  # a 1x1 convolution commutes with nearest upsampling
            low = conv2d(v, w[:, :cv])
            c, hh, ww = low.shape
            out.reshape(c, hh, 2, ww, 2)[...] += low[:, :, None, :, None]
        else:
            out += conv2d_upsampled(v, w[:, :cv])
        v = _relu(out)
    return conv2d(v, weights["head.w"], weights["head.b"])[0, :h, :wd]


def random_weights(arch: Arch, in_channels: int, rng: np.random.Generator
                   ) -> dict[str, np.ndarray]:
    """He-initialised weights for :func:`layers` (for tests).

    Examples
    --------
    >>> w = random_weights(Arch(), 3, np.random.default_rng(0))
    >>> w["enc0_0.w"].shape, w["head.b"].shape
    ((16, 3, 3, 3), (1,))
    """
    out = {}
    for name, k, cin, cout in layers(arch, in_channels):
        out[f"{name}.w"] = (rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k))
                            .astype("float32"))
        out[f"{name}.b"] = np.zeros(cout, "float32")
    return out


def check_weights(weights: Mapping[str, np.ndarray], arch: Arch,
                  in_channels: int) -> Sequence[str]:
    """Problems of a weight set against an arch (empty when they match).

    Examples
    --------
    >>> a = Arch(widths=(4, 8), enc_convs=(1, 1))
    >>> check_weights(random_weights(a, 3, np.random.default_rng(0)), a, 3)
    []
    >>> check_weights({}, a, 3)[0]
    'enc0_0.w missing'
    """
    problems = []
    for name, k, cin, cout in layers(arch, in_channels):
        for key, shape in ((f"{name}.w", (cout, cin, k, k)), (f"{name}.b", (cout,))):
            if key not in weights:
                problems.append(f"{key} missing")
            elif tuple(weights[key].shape) != shape:
                problems.append(f"{key} is {tuple(weights[key].shape)}, expected {shape}")
    return problems
