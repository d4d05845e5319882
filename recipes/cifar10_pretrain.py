"""Self-supervised pretraining on the shared CIFAR-10: kNN-200 against wall-clock time, per variant.

    python recipes/cifar10_pretrain.py --variants demo,default --minutes 3.5 --out /tmp/ssl
    python recipes/cifar10_pretrain.py --variants default,simclr --minutes 3.5 --out /tmp/ssl
    python recipes/cifar10_pretrain.py --variants default --minutes 9 --out /tmp/ssl
    python recipes/cifar10_pretrain.py --variants demo,default --minutes 1.5 --subset 2048 \\
        --test-subset 512 --size 16 --batch-size 128 --out /tmp/ssl --device cpu   # CPU check

Each variant runs `hume-ssl pretrain` (hume_ssl.pretrain.run.pretrain_run) with
`--budget-minutes`, one after the other in the same process, so the comparison holds on any
card; checkpoints are off (the command writes one every 1,000 steps inside its budget).
Variants (VARIANTS below): `demo` = MoCo's CIFAR-10 demo (asymmetric, linear head),
`default` = the shipped mocov2 defaults (symmetric, MLP head), `sym-linear`, `asym-mlp`
(the two other combinations, to tell which of the two changes matters), `simclr`,
`queue-4096` (the demo's queue whatever the batch, where the default is 8 x batch).
Prints, per variant, kNN-200 test accuracy (cosine, k=200, labels for this report only)
against elapsed seconds and epochs, the training throughput (images/s, median over log rows
without a kNN evaluation), the model-FLOPs utilisation where the card's peak is known, and
the positive-key accuracy curve with its lowest value after its peak (a collapse shows as
pos_acc falling far below its peak while the loss returns near chance). `--subset` / `--size`
make a CPU-sized check; the full split at 32 px is the real benchmark. Each run folder works as
`ssl:OUT/VARIANT` for `hume-ssl features`, whose output recipes/seed_benchmark.py takes as
`--sets user --phi1`.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
from common import cifar10_data, data_parser, run_recipe

VARIANTS = {
    "demo": dict(method="mocov2", symmetric=False, head="linear"),
    "default": dict(method="mocov2"),
    "sym-linear": dict(method="mocov2", symmetric=True, head="linear"),
    "asym-mlp": dict(method="mocov2", symmetric=False, head="mlp"),
    "simclr": dict(method="simclr"),
    "queue-4096": dict(method="mocov2", queue_size=4096),  # the demo's queue at any batch
}


def run_variant(name: str, data: str, out: Path, args) -> dict:
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    cfg = PretrainConfig(arch=args.arch, epochs=args.epochs, budget_minutes=args.minutes,
                         batch_size=args.batch_size, lr=args.lr, device=args.device,
                         compile=args.compile, random_state=args.seed,
                         checkpoint_every=10**9, log_every=args.log_every, **VARIANTS[name],
                         **({} if args.knn_every is None else {"knn_every": args.knn_every}))

    def show(event, info):
        if event == "budget":
            print(f"  [{name}] budget: {info['epochs']} epochs = {info['total_steps']} steps, "
                  f"{info['s_per_step'] * 1e3:.1f} ms/step, {info['s_per_eval']:.1f} s per kNN",
                  flush=True)
        elif event == "warning":
            print(f"  [{name}] warning: {info['message']}", flush=True)
        elif event == "log" and info["knn_acc"] != "":
            print(f"  [{name}] step {info['step']:6d}  epoch {info['epoch']:6.1f}  "
                  f"{info['elapsed_s']:7.1f} s  kNN {info['knn_acc']:.4f}", flush=True)

    res = pretrain_run(data, out / name, cfg, callback=show)
    cfg = cfg.resolve()  # the automatic values (lr, temperature, head, queue_size) filled in
    with open(out / name / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    train_rows = [r for r in rows if r["knn_acc"] == "" and r["images_per_s"]]
    res["images_per_s"] = float(np.median([float(r["images_per_s"]) for r in train_rows] or [0]))
    mfus = [float(r["mfu"]) for r in train_rows if r["mfu"]]
    res["mfu"] = float(np.median(mfus)) if mfus else None
    # pos_acc means something only once the queue's random initial rows are replaced
    turnover = (math.ceil(cfg.queue_size / ((2 if cfg.symmetric else 1) * cfg.batch_size))
                if cfg.method == "mocov2" else 0)
    pos = [(int(r["step"]), float(r["pos_acc"]), float(r["loss"])) for r in rows
           if r["pos_acc"] and int(r["step"]) > turnover]
    res["pos_curve"] = pos
    if pos:
        peak_i = int(np.argmax([p for _, p, _ in pos]))
        after = pos[peak_i:]
        low = min(after, key=lambda t: t[1])
        res["pos_peak"], res["pos_low_after_peak"] = pos[peak_i], low
    res["cfg"] = cfg
    return res


def main():
    from hume_ssl.pretrain.config import PretrainConfig

    ap = data_parser(__doc__)
    ap.add_argument("--variants", default="demo,default", help=", ".join(VARIANTS))
    ap.add_argument("--minutes", type=float, default=3.5, help="training budget per variant (min)")
    ap.add_argument("--epochs", type=int, default=200, help="upper bound on epochs")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--lr", type=float, default=None, help="default: the method's, scaled")
    ap.add_argument("--knn-every", type=int, default=None, help="epochs between kNN-200 "
                    "evaluations, the curve's points (default: the product's, "
                    f"{PretrainConfig.knn_every}; they count in the budget)")
    ap.add_argument("--log-every", type=int, default=50, help="steps")
    ap.add_argument("--arch", default="resnet18_cifar")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")

    out, data = Path(args.out), cifar10_data(args)
    t0 = time.perf_counter()
    results = {name: run_variant(name, data, out, args) for name in names}

    print(f"\n## kNN-200 test accuracy against time ({args.arch}, batch {args.batch_size}, "
          f"{data}, budget {args.minutes} min per variant)")
    print("| variant | settings | step | epoch | elapsed s | kNN-200 |")
    print("|---|---|---|---|---|---|")
    for name, res in results.items():
        spe = res["steps"] / max(res["epochs"], 1e-9)
        c = res["cfg"]
        sym = "sym" if c.symmetric else "asym"
        what = f"{c.method} {sym} {c.head} lr {c.lr:g} T {c.temperature:g}"
        for r in res["knn"]:
            print(f"| {name} | {what} | {r['step']} | {r['step'] / spe:.1f} | "
                  f"{r['elapsed_s']:.1f} | {r['knn_acc']:.4f} |")
    print("\n| variant | device | steps | epochs | final kNN-200 | images/s (train) | MFU | "
          "pos_acc peak after the queue turnover (step) | lowest after (step, loss) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        mfu = "-" if res["mfu"] is None else f"{res['mfu']:.1%}"
        pk, lo = res.get("pos_peak"), res.get("pos_low_after_peak")
        peak = f"{pk[1]:.3f} ({pk[0]})" if pk else "-"
        low = f"{lo[1]:.3f} ({lo[0]}, {lo[2]:.2f})" if lo else "-"
        print(f"| {name} | {res['device']} | {res['steps']} | {res['epochs']:.1f} | "
              f"{res['knn_acc_last']:.4f} | {res['images_per_s']:.0f} | {mfu} | {peak} | {low} |")
    for name, res in results.items():
        curve = " ".join(f"{s}:{p:.2f}/{lo:.1f}" for s, p, lo in res["pos_curve"])
        print(f"\n{name} pos_acc/loss by step: {curve}")
    print(f"\nwall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    run_recipe(main)
