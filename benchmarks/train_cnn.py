"""Train the `cnn` detector on the 9 labelled OSCD cities (seeded, CPU only).

    pip install -e '.[train]'          # adds PyTorch (training only; inference is numpy)
    python benchmarks/train_cnn.py --folds all --out benchmarks/models
    cp benchmarks/models/cnn-loco-cupertino.npz sitewatch/detectors/models/cnn-default.npz

The shipped default model is the leave-cupertino-out fold (trained on the 8
other cities), so the demo's score on the bundled cupertino crop is an
out-of-training score. The fold models in ``benchmarks/models`` were made with
the defaults below (200 iterations of 8 crops of 64 x 64, lr 3e-3, seed
20180722), in several processes of 1-2 threads on a shared 2-core machine.

For every fold (a held-out city) a model is trained on the other 8 cities,
exported to ``<out>/cnn-loco-<city>.npz`` and evaluated on the held-out city
with the package's numpy inference (``sitewatch.detectors.learned``); the
out-of-fold probability maps go to ``<out>/oof/<city>.npy``. ``--final``
trains the same recipe on all 9 cities (``cnn-default.npz``). Only
leave-one-city-out scores are ever reported: a model is never scored on a
city it was trained on.

Training labels: Onera Satellite Change Detection dataset (Daudt, Le Saux,
Boulch, Gousseau, IGARSS 2018), CC BY-NC-SA 4.0. Imagery: contains modified
Copernicus Sentinel data 2015-2018.

Recipe: inputs = per-image median/IQR-standardised bands of both dates and
their difference (30 channels); random 96x96 crops (half centred on change),
flips and 90-degree rotations, a random 1-pixel shift of the second date in a
third of the samples (misregistration), per-band gain/offset jitter of either
date before standardisation being a no-op, it is not needed; loss = binary
cross-entropy + soft Dice; AdamW, cosine learning rate, fixed iterations.
Seeded (``--seed``: sampling, augmentation, initialisation); PyTorch CPU
kernels may still differ in the last bits between machines and thread counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import OSCD_ROOT, require_data  # noqa: E402

from sitewatch.bands import S2_LAND_BANDS  # noqa: E402
from sitewatch.detectors.convnet import LAYERS, forward  # noqa: E402
from sitewatch.detectors.learned import (  # noqa: E402
    REFLECTANCE_HISTOGRAM,
    image_stats,
    model_inputs,
)
from sitewatch.imagery.oscd import find_oscd_cities, read_oscd_labels, read_oscd_pair  # noqa: E402

CREDIT = ("Onera Satellite Change Detection dataset, Daudt, Le Saux, Boulch, Gousseau, "
          "IGARSS 2018, CC BY-NC-SA 4.0")


def load_city(root: Path, city: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    before, after = read_oscd_pair(root, city, bands=S2_LAND_BANDS)
    label = read_oscd_labels(root, city)
    assert label is not None
    ok = before.valid_mask() & after.valid_mask()

    def stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return image_stats(np.stack([REFLECTANCE_HISTOGRAM.counts(b[ok]) for b in x]))

    x = model_inputs(before.data, after.data, stats(before.data), stats(after.data))
    return x, label.data[0].astype("float32"), ok


def build_torch_model(in_ch: int):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleDict()
            self.bns = nn.ModuleDict()
            for name, k, cin, cout in LAYERS:
                ci = in_ch if cin is None else cin
                self.convs[name] = nn.Conv2d(ci, cout, k, padding=k // 2)
                if name != "head":
                    self.bns[name] = nn.BatchNorm2d(cout)

        def layer(self, name: str, x: torch.Tensor) -> torch.Tensor:
            y = self.convs[name](x)
            if name == "head":
                return y
            return torch.relu(self.bns[name](y))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = nn.functional
            e1 = self.layer("enc1", x)
            e2 = self.layer("enc2b", self.layer("enc2a", f.max_pool2d(e1, 2)))
            e3 = self.layer("enc3c", self.layer("enc3b", self.layer("enc3a",
                                                                    f.max_pool2d(e2, 2))))
            up = f.interpolate
            d2 = self.layer("dec2", torch.cat([up(e3, scale_factor=2, mode="nearest"), e2], 1))
            d1 = self.layer("dec1", torch.cat([up(d2, scale_factor=2, mode="nearest"), e1], 1))
            return self.layer("head", d1)[:, 0]

    return Net()


def export_weights(net) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Fold batch norm into the convolutions; numpy float32 arrays."""
    out = {}
    for name, _k, _cin, _cout in LAYERS:
        conv = net.convs[name]
        w = conv.weight.detach().double().numpy()
        b = conv.bias.detach().double().numpy()
        if name in net.bns:
            bn = net.bns[name]
            g = bn.weight.detach().double().numpy() / np.sqrt(
                bn.running_var.detach().double().numpy() + bn.eps)
            w = w * g[:, None, None, None]
            b = (b - bn.running_mean.detach().double().numpy()) * g \
                + bn.bias.detach().double().numpy()
        out[f"{name}.w"] = w.astype("float32")
        out[f"{name}.b"] = b.astype("float32")
    return out


def sample_batch(data, rng: np.random.Generator, batch: int, size: int):  # type: ignore[no-untyped-def]
    xs, ys = [], []
    weights = np.array([d[1].size for d in data], "float64")
    for _ in range(batch):
        x, y, ok, pos = data[rng.choice(len(data), p=weights / weights.sum())]
        h, w = y.shape
        if rng.random() < 0.5 and len(pos[0]):
            i = rng.integers(len(pos[0]))
            r = int(np.clip(pos[0][i] - size // 2 + rng.integers(-size // 4, size // 4 + 1),
                            0, h - size))
            c = int(np.clip(pos[1][i] - size // 2 + rng.integers(-size // 4, size // 4 + 1),
                            0, w - size))
        else:
            r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        px = x[:, r:r + size, c:c + size].copy()
        py = np.where(ok[r:r + size, c:c + size], y[r:r + size, c:c + size], -1.0)
        nb = px.shape[0] // 3
        if rng.random() < 1 / 3:  # misregistration: shift the second date by one pixel
            dr, dc = rng.integers(-1, 2, size=2)
            za = np.roll(px[nb:2 * nb], (int(dr), int(dc)), axis=(1, 2))
            px[nb:2 * nb] = za
            px[2 * nb:] = za - px[:nb]
        k = int(rng.integers(4))
        px, py = np.rot90(px, k, axes=(1, 2)), np.rot90(py, k)
        if rng.random() < 0.5:
            px, py = px[:, :, ::-1], py[:, ::-1]
        xs.append(np.ascontiguousarray(px))
        ys.append(np.ascontiguousarray(py))
    return np.stack(xs), np.stack(ys)


def train(data, *, seed: int, iters: int, batch: int, size: int, lr: float, log_every: int = 250
          ) -> dict[str, np.ndarray]:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_torch_model(data[0][0].shape[0])
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=iters,
                                                pct_start=0.1)
    t0 = time.perf_counter()
    run = 0.0
    for it in range(iters):
        xb, yb = sample_batch(data, rng, batch, size)
        x, y = torch.from_numpy(xb), torch.from_numpy(yb)
        m = (y >= 0).float()
        yt = y.clamp(min=0)
        logit = net(x)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, yt, weight=m)
        p = torch.sigmoid(logit) * m
        dice = 1 - (2 * (p * yt).sum() + 1) / (p.sum() + (yt * m).sum() + 1)
        loss = bce + 0.5 * dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run = 0.98 * run + 0.02 * loss.item() if it else loss.item()
        if (it + 1) % log_every == 0:
            print(f"    it {it + 1}/{iters} loss {run:.4f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    net.eval()
    return export_weights(net)


def save_model(path: Path, weights: dict[str, np.ndarray], meta: dict) -> None:  # type: ignore[type-arg]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **weights)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=OSCD_ROOT)
    ap.add_argument("--out", type=Path, default=HERE / "models")
    ap.add_argument("--folds", default="all", help="'all', 'none' or comma-separated cities")
    ap.add_argument("--final", action="store_true", help="also train on all cities (after "
                    "the first fold, so the default model is ready early)")
    ap.add_argument("--seed", type=int, default=20180722)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    root = require_data(args.root)
    cities = find_oscd_cities(root, labelled_only=True)
    data = {}
    for c in cities:
        x, y, ok = load_city(root, c)
        data[c] = (x, y, ok, np.nonzero(y > 0))
    order = ["cupertino"] + [c for c in cities if c != "cupertino"]  # the demo's city first
    if args.folds == "all":
        folds = [c for c in order if c in cities]
    else:
        folds = [] if args.folds == "none" else args.folds.split(",")
    recipe = {"seed": args.seed, "iters": args.iters, "batch": args.batch, "size": args.size,
              "lr": args.lr, "threshold": 0.5}
    base_meta = {"version": 1, "bands": list(S2_LAND_BANDS), "threshold": 0.5,
                 "training_labels": CREDIT, "seed": args.seed, "recipe": recipe,
                 "inputs": "per-image median/IQR standardised before, after, after-before"}
    tp = fp = fn = 0
    jobs: list[str | None] = list(folds)
    if args.final:
        jobs.insert(1 if jobs else 0, None)
    for held in jobs:
        if held is None:
            print("final model on all cities", flush=True)
            w = train([data[c] for c in cities], seed=args.seed, iters=args.iters,
                      batch=args.batch, size=args.size, lr=args.lr)
            save_model(args.out / "cnn-default.npz", w, {**base_meta, "trained_on": cities})
            continue
        t0 = time.perf_counter()
        train_on = [c for c in cities if c != held]
        print(f"fold {held}: training on {', '.join(train_on)}", flush=True)
        w = train([data[c] for c in train_on], seed=args.seed, iters=args.iters,
                  batch=args.batch, size=args.size, lr=args.lr)
        save_model(args.out / f"cnn-loco-{held}.npz", w,
                   {**base_meta, "trained_on": train_on, "held_out": held})
        x, y, ok, _ = data[held]
        logit = forward(w, x)
        prob = 1 / (1 + np.exp(-logit))
        (args.out / "oof").mkdir(parents=True, exist_ok=True)
        np.save(args.out / "oof" / f"{held}.npy", prob.astype("float16"))
        pred = (prob > 0.5) & ok
        truth = y > 0
        a, b, c_ = int((pred & truth).sum()), int((pred & ~truth).sum()), \
            int((~pred & truth).sum())
        tp, fp, fn = tp + a, fp + b, fn + c_
        print(f"fold {held}: F1 {2 * a / max(2 * a + b + c_, 1):.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if folds:
        print(f"pooled leave-one-city-out F1 {2 * tp / max(2 * tp + fp + fn, 1):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
