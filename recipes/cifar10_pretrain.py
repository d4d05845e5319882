"""MoCo v2 on the shared CIFAR-10 train split: kNN-200 test accuracy against wall-clock time.

    python recipes/cifar10_pretrain.py --minutes 7 --out runs/cifar10/ssl          # one H100
    python recipes/cifar10_pretrain.py --minutes 10 --subset 5000 --test-subset 1000 \\
        --size 16 --batch-size 128 --out /tmp/ssl --device cpu                     # CPU sanity

Runs `hume-ssl pretrain` (hume_ssl.pretrain.run.pretrain_run) with `--budget-minutes`, so the
cosine schedule ends inside the budget, then prints a table of kNN accuracy (k=200, cosine, on
the test split, labels used for this report only) against elapsed seconds and epochs, and the
throughput. `--subset` / `--size` make a CPU-sized check (a random subset, images resized with
bilinear antialiasing); the full split at 32 px is the real benchmark. The run folder works as
`ssl:OUT` for recipes/cifar10_seeds.py --space1.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def subset_npz(shared: Path, out: Path, n_train: int, n_test: int, size: int, seed: int) -> str:
    """Write a decoded (optionally resized) random subset as npz:{out}/cifar_{split}.npz."""
    import torch
    import torch.nn.functional as F

    from hume_ssl.data.images import load_split

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        s = load_split(f"npz:{shared}/cifar10_{{split}}_jpeg.npz", split)
        idx = np.sort(rng.permutation(len(s.images))[:n] if n else np.arange(len(s.images)))
        x = s.images[idx]
        if size and size != x.shape[1]:
            t = torch.from_numpy(x).permute(0, 3, 1, 2).float()
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True)
            x = t.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
        np.savez(out / f"cifar_{split}.npz", images=x, labels=s.labels[idx])
    return f"npz:{out}/cifar_{{split}}.npz"


def main():
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared",
                    default=os.environ.get("HUME_SSL_SHARED", here.parent / "shared" / "data"))
    ap.add_argument("--out", required=True, help="run folder (a new one)")
    ap.add_argument("--minutes", type=float, default=7.0, help="training budget (min)")
    ap.add_argument("--epochs", type=int, default=200, help="upper bound on epochs")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=None, help="default: 0.06 * batch / 512")
    ap.add_argument("--knn-every", type=int, default=5, help="epochs")
    ap.add_argument("--arch", default="resnet18_cifar")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--subset", type=int, default=0, help="train images (0: all)")
    ap.add_argument("--test-subset", type=int, default=0, help="test images (0: all)")
    ap.add_argument("--size", type=int, default=0, help="resize to this side (0: 32)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    shared, out = Path(args.shared), Path(args.out)
    data = f"npz:{shared}/cifar10_{{split}}_jpeg.npz"
    if args.subset or args.test_subset or args.size:
        data = subset_npz(shared, out.parent / (out.name + "_data"), args.subset,
                          args.test_subset, args.size, args.seed)
    cfg = PretrainConfig(arch=args.arch, epochs=args.epochs, budget_minutes=args.minutes,
                         batch_size=args.batch_size, lr=args.lr, knn_every=args.knn_every,
                         device=args.device, compile=args.compile, random_state=args.seed,
                         checkpoint_every=10**9)

    def show(event, info):
        if event == "budget":
            print(f"budget: {info['epochs']} epochs = {info['total_steps']} steps, "
                  f"{info['s_per_step'] * 1e3:.1f} ms/step, {info['s_per_eval']:.1f} s per kNN",
                  flush=True)
        elif event == "log" and info["knn_acc"] != "":
            print(f"  step {info['step']:6d}  epoch {info['epoch']:6.1f}  "
                  f"{info['elapsed_s']:7.1f} s  kNN {info['knn_acc']:.4f}", flush=True)

    t0 = time.perf_counter()
    res = pretrain_run(data, out, cfg, callback=show)
    rows = res["knn"]
    print(f"\n## MoCo v2 {args.arch}, batch {args.batch_size}, {data}, device {res['device']}")
    print("| step | epoch | elapsed s | kNN-200 test acc |")
    print("|---|---|---|---|")
    spe = res["steps"] / max(res["epochs"], 1e-9)
    for r in rows:
        ep = r["step"] / spe
        print(f"| {r['step']} | {ep:.1f} | {r['elapsed_s']:.1f} | {r['knn_acc']:.4f} |")
    imgs = res["steps"] * args.batch_size
    print(f"\n{res['steps']} steps, {res['epochs']:.1f} epochs, {imgs / res['seconds']:.0f} "
          "images/s over the whole run (kNN evaluations included); "
          f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
