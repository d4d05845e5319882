"""The evidence for `train-fixmatch --encoder-lr-scale` (default 0.1): FixMatch from an encoder
that `hume-ssl pretrain` learned without labels, at several encoder learning-rate scales, against
the same architecture from random init, on a small real subset of the shared CIFAR-10.

    python recipes/fixmatch_encoder_lr.py --out /tmp/elr   # 2-core CPU: 98 min beside other jobs
    python recipes/fixmatch_encoder_lr.py --out /tmp/elr --scales 0.1 --seeds 0   # quicker
    python recipes/fixmatch_encoder_lr.py --out /tmp/elr --scales 0.1 --recipe cnn

Setup (the same as the slow test tests/fixmatch/test_init_beats_random.py, which imports it):
2,048 train and 1,000 test images of the shared CIFAR-10 at 16 px (a seeded random subset), an
encoder from 20 epochs of MoCo's CIFAR-10 demo settings (asymmetric loss, linear head, batch
128), 25 true labels per class, 120 FixMatch steps of 16 labeled + 2 x 48 unlabeled images
(threshold 0.8), resnet18_cifar, test accuracy of the EMA model; the encoder rows under the
shipped recipe for ssl: inits (ssl) or the one `--recipe` names. Prints the encoder's kNN-200 and
one row per start and scale with the accuracy of each random seed and their mean.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np

SIZE, N_TRAIN, N_TEST, PER_CLASS, STEPS = 16, 2048, 1000, 25, 120


def cifar_subset(shared: Path, out: Path, rng) -> str:
    """npz:{out}/c_{split}.npz: a random subset of the shared CIFAR-10, resized to SIZE px."""
    from PIL import Image

    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        z = np.load(Path(shared) / f"cifar10_{split}_jpeg.npz")
        idx = np.sort(rng.choice(len(z["labels"]), n, replace=False))
        off, buf = z["offsets"], z["jpeg_bytes"]
        x = np.stack([np.asarray(Image.open(io.BytesIO(buf[off[i]:off[i + 1]].tobytes()))
                                 .convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))
                      for i in idx])
        np.savez(out / f"c_{split}.npz", images=x, labels=z["labels"][idx])
    return f"npz:{out}/c_{{split}}.npz"


def pretrain_encoder(data: str, out: Path) -> list[dict]:
    """20 epochs of MoCo's CIFAR-10 demo (asymmetric, linear head: half the default's compute);
    returns the kNN-200 monitor's evaluations."""
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    pre = PretrainConfig(batch_size=128, epochs=20, knn_every=20, checkpoint_every=10**6,
                         device="cpu", log_every=16, symmetric=False, head="linear")
    return pretrain_run(data, out, pre)["knn"]


def true_seeds(folder: Path) -> tuple[Path, Path]:
    """The first PER_CLASS train images of each class and their true labels (the oracle's
    view: this experiment measures the init, not the seeds)."""
    y = np.load(folder / "c_train.npz")["labels"]
    idx = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS] for c in range(10)])
    np.save(folder / "idx.npy", idx)
    np.save(folder / "y.npy", y[idx])
    return folder / "idx.npy", folder / "y.npy"


def fixmatch_acc(data: str, out: Path, seeds: tuple[Path, Path], init, seed: int,
                 scale: float | None = None, recipe: str = "auto") -> float:
    """Test accuracy after STEPS FixMatch steps from `init` (None: random resnet18_cifar) with
    the encoder lr scale `scale` (None: the recipe's) under `recipe` (auto: the shipped one,
    ssl for an ssl: init)."""
    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.fixmatch.run import train_fixmatch_run

    kw = {} if scale is None else {"encoder_lr_scale": scale}
    cfg = FixMatchConfig(arch=None if init else "resnet18_cifar", init=init, steps=STEPS,
                         batch_size=16, mu=3, eval_every=STEPS, log_every=20,
                         checkpoint_every=10**6, device="cpu", tensorboard=False,
                         random_state=seed, threshold=0.8, recipe=recipe if init else "auto",
                         **kw)
    res = train_fixmatch_run(out, cfg, indices=seeds[0], seed_labels=seeds[1], dataset=data)
    return res["test_acc_last"]


def main():
    import torch
    from common import recipe_parser

    from hume_ssl.fixmatch.recipes import RECIPES

    ap = recipe_parser(__doc__)
    ap.add_argument("--out", required=True, help="a new folder")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.3, 0.1, 0.03, 0.01])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipe", default="auto", choices=["auto", *RECIPES],
                    help="the encoder rows' fine-tuning recipe (auto: ssl, the shipped one; cnn: "
                         "the ImageNet CNNs' one, what ssl: inits got before)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    t0 = time.perf_counter()
    data = cifar_subset(Path(args.shared), out, np.random.default_rng(0))
    knn = pretrain_encoder(data, out / "ssl")
    seeds = true_seeds(out)
    print(f"encoder kNN-200 after 20 epochs: {[round(k['knn_acc'], 3) for k in knn]} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    starts = [("random init", None, 1.0)] + [("encoder", f"ssl:{out / 'ssl'}", s)
                                             for s in args.scales]
    rows = []
    for name, init, scale in starts:
        accs = [fixmatch_acc(data, out / f"{name[:3]}_{scale}_{seed}", seeds, init, seed,
                             scale if init else None, args.recipe) for seed in args.seeds]
        rows.append((name, scale, accs))
        print(f"{name}, scale {scale}: {[round(a, 3) for a in accs]} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nrecipe of the encoder rows: {args.recipe}")
    print(f"\n| start | encoder lr scale | test ACC (seeds {'/'.join(map(str, args.seeds))}) "
          "| mean |")
    print("|---|---|---|---|")
    for name, scale, accs in rows:  # (random init: no encoder, no scale)
        shown = f"{scale:g}" if name != "random init" else "-"
        print(f"| {name} | {shown} | {' / '.join(f'{a:.3f}' for a in accs)} | "
              f"{np.mean(accs):.3f} |")


if __name__ == "__main__":
    from common import run_recipe

    run_recipe(main)
