"""The `cnn` detector's network: a small fully convolutional U-Net, described by its shape.

The network is an early-fusion U-Net in the spirit of FC-EF (Daudt, Le Saux,
Boulch, ICIP 2018), slimmed to run on a CPU at a few megapixels per second. Its
shape is an :class:`Arch`: ``widths[l]`` channels at level
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

Trained weights live in an ``.npz`` file: ``<layer>.w`` (Cout, Cin, k, k) and
``<layer>.b`` (Cout,) for each layer of :func:`layers`, plus ``meta`` (a JSON
string holding the arch). The same layer list defines the PyTorch twin used for
training (``benchmarks/train_cnn.py``) and the ONNX graph the detector runs
(:mod:`sitewatch.detectors.cnngraph`, executed by ONNX Runtime); a plain numpy
evaluation is kept in the tests only, as the reference both are checked against.

Examples
--------
>>> import numpy as np
>>> arch = Arch()
>>> w = random_weights(arch, 6, np.random.default_rng(0))
>>> sorted(check_weights(w, arch, 6)), arch.halo
([], 56)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Arch", "layers", "random_weights", "check_weights"]


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
