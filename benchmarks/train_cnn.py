"""Train the `cnn` detector on the 9 labelled OSCD cities, leave one city out (seeded, CPU).

Commands (PyTorch and onnx are needed for training only; inference is ONNX Runtime)::

    pip install -e '.[train]'      # CPU build of torch: pip install torch==2.13.0 first
    python benchmarks/train_cnn.py --folds all --out benchmarks/models \
        2>&1 | tee benchmarks/models/train.log

Status: the defaults below are the shipped recipe (``benchmarks/models/cnn-loco-<city>.npz``;
the package default ``sitewatch/detectors/models/cnn-default.npz`` is its cupertino
fold): a small 3-level U-Net trained briefly (250 iterations, about 45 s per fold
on one core) with a spectral distortion shared by both dates, pooled
leave-one-city-out F1 0.303. Longer training fits the 8 training cities better
and the held-out city worse: the earlier recipes (``benchmarks/models/recipe1``:
200 iterations of batch 8, 0.266; ``recipe2``: a 4-level U-Net for 1000-1600
iterations, 0.249; ``siamese``: ``--siamese 1`` with 1000 iterations, 0.210) are
compared in ``benchmarks/results/oscd.md``. Copy a fold's ``.npz`` and ``.onnx`` over
``sitewatch/detectors/models/cnn-default.npz`` and ``cnn-default.onnx`` only if
``benchmarks/bench_oscd.py`` shows its recipe ahead.

For every fold (a held-out city) a model is trained on the other 8 cities,
exported to ``<out>/cnn-loco-<city>.npz`` (batch norm folded, float32) and to the
ONNX model beside it, ``<out>/cnn-loco-<city>.onnx`` (``cnn_to_onnx.convert``: the
file the detector runs), and scored on the held-out city with the package's
inference (ONNX Runtime, :mod:`sitewatch.detectors.learned`); the out-of-fold probabilities go to
``<out>/oof/<city>.npy`` and a summary to ``<out>/loco-<city>.json``. The
held-out city is never looked at during training or model selection: the
iteration and the probability threshold are chosen on *validation strips*
inside the 8 training cities (in each, the fifth of the rows or columns whose
change share is closest to the city's own; those pixels' labels are never
trained on). The shipped default model is the leave-cupertino-out fold, so the
demo's score on the bundled cupertino crop is an out-of-training score.

Recipe (defaults below; see ``--help``):

- inputs: each band of each date standardised with its own median and IQR
  (per-image normalisation: L1C and L2A look alike), 30 channels = before,
  after, after - before;
- network: early-fusion U-Net (:class:`sitewatch.detectors.convnet.Arch`,
  widths 16/24/32, 1/2/3 convolutions per level, batch norm folded at export);
  with ``--siamese 1`` one encoder per date (shared weights, inputs before and
  after only) and a decoder on the absolute differences of their features;
- sampling: random 96 x 96 crops, half of them centred (+-24 px) on a change
  pixel of a training city (class-balanced), batch 16;
- augmentation: the 8 dihedral transforms; per band and date a random gain
  (log-normal, sd 0.1) and offset (sd 0.1, in IQR units) on the standardised
  values (residual radiometric differences); in 30 % of the crops the second
  date shifted by one pixel (misregistration); per band a gain (log-normal,
  sd 0.2) and offset (sd 0.2) applied alike to both dates (another city's look);
- loss: binary cross-entropy + soft Dice of the change class (ignoring the
  validation strips and invalid pixels);
- bfloat16 autocast and channels-last tensors for speed (training only);
- AdamW (weight decay 1e-4), one-cycle learning rate (max 2e-3), an
  exponential moving average of the weights (decay 0.995) is what is
  validated and exported;
- every 50 iterations (from the 150th) the EMA model is scored on the validation strips
  (pooled over the 8 cities); the best iteration and its F1-maximising
  threshold are kept.

Seeded (``--seed``: sampling, augmentation, initialisation); PyTorch CPU
kernels may still differ in the last bits between machines and thread counts.

Training labels: Onera Satellite Change Detection dataset (Daudt, Le Saux,
Boulch, Gousseau, IGARSS 2018), CC BY-NC-SA 4.0. Imagery: contains modified
Copernicus Sentinel data 2015-2018.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from cnn_to_onnx import convert  # noqa: E402
from common import OSCD_ROOT, require_data  # noqa: E402

from sitewatch.bands import S2_LAND_BANDS  # noqa: E402
from sitewatch.detectors.convnet import Arch, layers  # noqa: E402
from sitewatch.detectors.learned import (  # noqa: E402
    REFLECTANCE_HISTOGRAM,
    image_stats,
    load_model,
    standardize,
    tiled_probability,
)
from sitewatch.imagery.oscd import find_oscd_cities, read_oscd_labels, read_oscd_pair  # noqa: E402

CREDIT = ("Onera Satellite Change Detection dataset, Daudt, Le Saux, Boulch, Gousseau, "
          "IGARSS 2018, CC BY-NC-SA 4.0")
NB = len(S2_LAND_BANDS)


# -- data -------------------------------------------------------------------------------------

def load_city(root: Path, city: str) -> dict[str, Any]:
    """Standardised bands of both dates (float32), label (0/1), valid mask."""
    before, after = read_oscd_pair(root, city, bands=S2_LAND_BANDS)
    label = read_oscd_labels(root, city)
    assert label is not None
    ok = before.valid_mask() & after.valid_mask()

    def z(x: np.ndarray) -> np.ndarray:
        stats = image_stats(np.stack([REFLECTANCE_HISTOGRAM.counts(b[ok]) for b in x]))
        return standardize(x, *stats)

    y = (label.data[0] == 1).astype("float32")
    return {"zb": z(before.data), "za": z(after.data), "y": y, "ok": ok}


def validation_strip(y: np.ndarray, parts: int = 5) -> np.ndarray:
    """Mask of the fifth of the rows (or columns, along the longer side) whose change share
    is closest to the whole city's."""
    h, w = y.shape
    axis = 0 if h >= w else 1
    n = y.shape[axis]
    edges = np.linspace(0, n, parts + 1).astype(int)
    share = y.mean()
    best = min(range(parts), key=lambda i: (abs(np.take(y, range(edges[i], edges[i + 1]),
                                                        axis=axis).mean() - share),
                                            abs(i - parts // 2)))
    m = np.zeros(y.shape, bool)
    if axis == 0:
        m[edges[best]:edges[best + 1]] = True
    else:
        m[:, edges[best]:edges[best + 1]] = True
    return m


SIAMESE = False  # set from --siamese in main()


def inputs(zb: np.ndarray, za: np.ndarray) -> np.ndarray:
    if SIAMESE:
        return np.concatenate([zb, za])
    return np.concatenate([zb, za, za - zb])


def sample_batch(cities: list[dict[str, Any]], rng: np.random.Generator, batch: int,
                 size: int, *, pos_share: float, gain_sd: float, offset_sd: float,
                 shift_p: float, common_sd: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    weights = np.array([c["y"].size for c in cities], "float64")
    for _ in range(batch):
        c = cities[rng.choice(len(cities), p=weights / weights.sum())]
        h, w = c["y"].shape
        m = 1  # margin for the misregistration shift
        if rng.random() < pos_share and len(c["pos"][0]):
            i = rng.integers(len(c["pos"][0]))
            j = size // 4
            r = int(c["pos"][0][i]) - size // 2 + int(rng.integers(-j, j + 1))
            q = int(c["pos"][1][i]) - size // 2 + int(rng.integers(-j, j + 1))
        else:
            r, q = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        r = int(np.clip(r, m, h - size - m))
        q = int(np.clip(q, m, w - size - m))
        dr = dc = 0
        if rng.random() < shift_p:
            dr, dc = (int(v) for v in rng.integers(-1, 2, size=2))
        zb = c["zb"][:, r:r + size, q:q + size]
        za = c["za"][:, r + dr:r + dr + size, q + dc:q + dc + size]
        gb = np.exp(rng.normal(0, gain_sd, (NB, 1, 1)))
        ga = np.exp(rng.normal(0, gain_sd, (NB, 1, 1)))
        zb = zb * gb + rng.normal(0, offset_sd, (NB, 1, 1))
        za = za * ga + rng.normal(0, offset_sd, (NB, 1, 1))
        if common_sd:  # the same spectral distortion on both dates (another city's look)
            gc = np.exp(rng.normal(0, common_sd, (NB, 1, 1)))
            oc = rng.normal(0, common_sd, (NB, 1, 1))
            zb, za = zb * gc + oc, za * gc + oc
        x = inputs(zb, za)
        y = c["target"][r:r + size, q:q + size]
        k = int(rng.integers(4))
        x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k)
        if rng.random() < 0.5:
            x, y = x[:, :, ::-1], y[:, ::-1]
        xs.append(np.ascontiguousarray(x, "float32"))
        ys.append(np.ascontiguousarray(y, "float32"))
    return np.stack(xs), np.stack(ys)


# -- model --------------------------------------------------------------------------------------

def build_torch_model(arch: Arch, in_ch: int):  # type: ignore[no-untyped-def]
    """The PyTorch twin of the network of :mod:`sitewatch.detectors.convnet` (with batch norm)."""
    import torch
    from torch import nn

    spec = layers(arch, in_ch)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleDict()
            self.bns = nn.ModuleDict()
            for name, k, cin, cout in spec:
                self.convs[name] = nn.Conv2d(cin, cout, k, padding=k // 2)
                if name != "head":
                    self.bns[name] = nn.BatchNorm2d(cout)

        def conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
            y = self.convs[name](x)
            return y if name == "head" else torch.relu(self.bns[name](y))

        def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
            skips = []
            v = x
            for lev, n in enumerate(arch.enc_convs):
                if lev:
                    v = nn.functional.max_pool2d(v, 2)
                for i in range(n):
                    v = self.conv(f"enc{lev}_{i}", v)
                skips.append(v)
            return skips

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = nn.functional
            if SIAMESE:
                half = x.shape[1] // 2
                fb, fa = self.encode(x[:, :half]), self.encode(x[:, half:])
                skips = [torch.abs(a - b) for a, b in zip(fa, fb, strict=True)]
            else:
                skips = self.encode(x)
            v = skips[-1]
            for lev in range(len(arch.widths) - 2, -1, -1):
                up = f.interpolate(v, scale_factor=2, mode="nearest")
                v = self.conv(f"dec{lev}", torch.cat([up, skips[lev]], 1))
            return self.conv("head", v)[:, 0]

    return Net()


def export_weights(net, arch: Arch, in_ch: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Fold batch norm into the convolutions; numpy float32 arrays."""
    out = {}
    for name, _k, _cin, _cout in layers(arch, in_ch):
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


def predict_torch(net, x: np.ndarray, align: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    _, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, (-h) % align), (0, (-w) % align)))
    with torch.no_grad():
        t = torch.from_numpy(xp[None]).to(memory_format=torch.channels_last)
        logit = net(t)[0].float().numpy()
    return 1 / (1 + np.exp(-logit[:h, :w]))


def best_threshold(prob: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(F1, threshold) maximising the change-class F1 over a grid of thresholds."""
    grid = np.round(np.arange(0.05, 0.96, 0.025), 3)
    pos = np.histogram(prob[truth], bins=1000, range=(0, 1))[0]
    neg = np.histogram(prob[~truth], bins=1000, range=(0, 1))[0]
    tp_above = np.cumsum(pos[::-1])[::-1]
    fp_above = np.cumsum(neg[::-1])[::-1]
    best = (0.0, 0.5)
    for t in grid:
        i = int(round(t * 1000))
        tp, fp = tp_above[i], fp_above[i]
        fn = pos.sum() - tp
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        if f1 > best[0]:
            best = (float(f1), float(t))
    return best


def validate(net, cities: list[dict[str, Any]], align: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Pooled best F1 and its threshold on the validation strips (run with context around)."""
    probs, truths = [], []
    for c in cities:
        win = c["val_window"]
        p = predict_torch(net, inputs(c["zb"][(slice(None), *win)], c["za"][(slice(None), *win)]),
                          align)
        sel = (c["val"] & c["ok"])[win]
        probs.append(p[sel])
        truths.append(c["y"][win][sel] > 0)
    return best_threshold(np.concatenate(probs), np.concatenate(truths))


def train(cities: list[dict[str, Any]], arch: Arch, args: argparse.Namespace, log: Any
          ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import torch

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    in_ch = arch.input_channels(NB)
    net = build_torch_model(arch, in_ch).to(memory_format=torch.channels_last)
    ema = torch.optim.swa_utils.AveragedModel(
        net, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema), use_buffers=True)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.iters,
                                                pct_start=0.1)
    t0 = time.perf_counter()
    run = 0.0
    best: dict[str, Any] = {"f1": -1.0}
    curve = []
    for it in range(args.iters):
        net.train()
        xb, yb = sample_batch(cities, rng, args.batch, args.size, pos_share=args.pos_share,
                              gain_sd=args.gain_sd, offset_sd=args.offset_sd,
                              shift_p=args.shift_p, common_sd=args.common_sd)
        x = torch.from_numpy(xb).to(memory_format=torch.channels_last)
        y = torch.from_numpy(yb)
        m = (y >= 0).float()
        yt = y.clamp(min=0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(args.bf16)):
            logit = net(x).float()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, yt, weight=m,
                                                                   reduction="sum") / m.sum()
        p = torch.sigmoid(logit) * m
        dice = 1 - (2 * (p * yt).sum() + 1) / (p.sum() + (yt * m).sum() + 1)
        loss = bce + args.dice * dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ema.update_parameters(net)
        run = 0.98 * run + 0.02 * loss.item() if it else loss.item()
        if (it + 1) % args.val_every == 0 or it + 1 == args.iters:
            model = ema.module
            model.eval()
            f1, thr = validate(model, cities, arch.align)
            curve.append((it + 1, round(f1, 4), thr))
            log(f"    it {it + 1}/{args.iters} loss {run:.4f} val F1 {f1:.4f} at {thr:.3f} "
                f"({time.perf_counter() - t0:.0f} s)")
            if f1 > best["f1"] and it + 1 >= min(args.min_iter, args.iters):
                best = {"f1": f1, "threshold": thr, "iteration": it + 1,
                        "weights": export_weights(copy.deepcopy(model), arch, in_ch)}
    weights = best.pop("weights")
    best["curve"] = curve
    best["train_seconds"] = round(time.perf_counter() - t0, 1)
    return weights, best


def save_model(path: Path, weights: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Write the weights (``.npz``) and the ONNX model beside them; return the ONNX path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **weights)
    return convert(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=OSCD_ROOT)
    ap.add_argument("--out", type=Path, default=HERE / "models" / "recipe2")
    ap.add_argument("--folds", default="all", help="'all' or comma-separated held-out cities")
    ap.add_argument("--seed", type=int, default=20180722)
    ap.add_argument("--iters", type=int, default=250)
    ap.add_argument("--min-iter", type=int, default=150, help="earliest iteration to keep")
    ap.add_argument("--val-every", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--dice", type=float, default=1.0, help="weight of the Dice loss")
    ap.add_argument("--pos-share", type=float, default=0.5)
    ap.add_argument("--gain-sd", type=float, default=0.1)
    ap.add_argument("--offset-sd", type=float, default=0.1)
    ap.add_argument("--shift-p", type=float, default=0.3)
    ap.add_argument("--common-sd", type=float, default=0.2, help="sd of a per-band gain "
                    "(log) and offset applied alike to both dates (city-to-city look)")
    ap.add_argument("--siamese", type=int, default=0, help="1: Siamese-difference U-Net "
                    "(shared encoder per date, decoder on |features_after - features_before|)")
    ap.add_argument("--widths", default="16,24,32")
    ap.add_argument("--enc-convs", default="1,2,3")
    ap.add_argument("--dec0-kernel", type=int, default=1)
    ap.add_argument("--bf16", type=int, default=1, help="bfloat16 autocast in training "
                    "(AMX/AVX512-BF16 CPUs; validation and export stay float32)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (on a shared "
                    "machine 1 thread is several times faster than 2 spinning OpenMP threads)")
    args = ap.parse_args()
    import torch

    global SIAMESE
    SIAMESE = bool(args.siamese)
    torch.set_num_threads(args.threads)
    arch = Arch(tuple(int(v) for v in args.widths.split(",")),
                tuple(int(v) for v in args.enc_convs.split(",")), args.dec0_kernel,
                SIAMESE)
    args.out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, flush=True)

    root = require_data(args.root)
    cities = find_oscd_cities(root, labelled_only=True)
    data = {}
    for c in cities:
        d = load_city(root, c)
        d["val"] = validation_strip(d["y"])
        rows, cols = np.nonzero(d["val"])
        pad = arch.halo
        d["val_window"] = (slice(max(rows.min() - pad, 0), rows.max() + 1 + pad),
                           slice(max(cols.min() - pad, 0), cols.max() + 1 + pad))
        d["target"] = np.where(d["ok"] & ~d["val"], d["y"], -1.0).astype("float32")
        d["pos"] = np.nonzero(d["target"] > 0)
        data[c] = d
    order = ["cupertino"] + [c for c in cities if c != "cupertino"]  # the demo's city first
    folds = order if args.folds == "all" else args.folds.split(",")
    recipe = {k: v for k, v in vars(args).items() if k not in ("root", "out", "folds", "threads")}
    log(f"arch {arch}, recipe {recipe}")
    tp = fp = fn = 0
    for held in folds:
        t0 = time.perf_counter()
        train_on = [c for c in cities if c != held]
        log(f"fold {held}: training on {', '.join(train_on)}")
        w, info = train([data[c] for c in train_on], arch, args, log)
        meta = {"version": 2, "bands": list(S2_LAND_BANDS), "arch": arch.to_meta(),
                "threshold": info["threshold"], "training_labels": CREDIT, "seed": args.seed,
                "recipe": recipe, "trained_on": train_on, "held_out": held,
                "selected": {k: info[k] for k in ("iteration", "f1")},
                "inputs": "per-image median/IQR standardised before, after, after-before"}
        model = load_model(str(save_model(args.out / f"cnn-loco-{held}.npz", w, meta)))
        d = data[held]
        plain = (np.zeros(NB), np.ones(NB))  # zb, za are standardised already
        prob = tiled_probability(model, d["zb"], d["za"], plain, plain)
        (args.out / "oof").mkdir(parents=True, exist_ok=True)
        np.save(args.out / "oof" / f"{held}.npy", prob.astype("float16"))
        pred = (prob > info["threshold"]) & d["ok"]
        truth = d["y"] > 0
        a, b, c_ = (int((pred & truth).sum()), int((pred & ~truth).sum()),
                    int((~pred & truth).sum()))
        tp, fp, fn = tp + a, fp + b, fn + c_
        f1 = 2 * a / max(2 * a + b + c_, 1)
        summary = {**info, "held_out": held, "tp": a, "fp": b, "fn": c_, "f1_held_out": f1,
                   "seconds": round(time.perf_counter() - t0, 1), "arch": arch.to_meta(),
                   "recipe": recipe}
        (args.out / f"loco-{held}.json").write_text(json.dumps(summary, indent=1))
        log(f"fold {held}: val F1 {info['f1']:.3f} (it {info['iteration']}, threshold "
            f"{info['threshold']}), held-out F1 {f1:.3f} ({summary['seconds']:.0f} s)")
    log(f"these folds pooled: F1 {2 * tp / max(2 * tp + fp + fn, 1):.4f} "
        f"(TP {tp}, FP {fp}, FN {fn}, pixel level, no minimum mapping unit)")
    pool_summaries(args.out, cities, log)
    return 0


def pool_summaries(out: Path, cities: list[str], log: Any) -> None:
    """Pool the held-out counts of every fold summary in ``out`` (folds may run in parallel
    processes: ``--folds a,b,c`` and ``--folds d,e,f``)."""
    done = [json.loads((out / f"loco-{c}.json").read_text()) for c in cities
            if (out / f"loco-{c}.json").is_file()]
    tp, fp, fn = (sum(d[k] for d in done) for k in ("tp", "fp", "fn"))
    log(f"pooled leave-one-city-out F1 over {len(done)}/{len(cities)} folds in {out}: "
        f"{2 * tp / max(2 * tp + fp + fn, 1):.4f} (TP {tp}, FP {fp}, FN {fn}; per city "
        + ", ".join(f"{d['held_out']} {d['f1_held_out']:.3f}" for d in done) + ")")


if __name__ == "__main__":
    sys.exit(main())
