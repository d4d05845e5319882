"""FixMatch with 40 true labels (4 per class) on the shared CIFAR-10: from the encoder that
`pretrain` learned (no labels) against from scratch (WRN-28-2), equal wall-clock budgets.

    PYTHONPATH=. python recipes/cifar10_fixmatch_init.py --shared DATA --pretrain-minutes 3 \\
        --fixmatch-minutes 2.5 --out /tmp/fmi                              # one GPU, < 9 min
    python recipes/cifar10_fixmatch_init.py --pretrain-minutes 1 --fixmatch-minutes 0.5 \\
        --subset 2048 --test-subset 500 --size 16 --device cpu --out /tmp/fmi   # CPU rehearsal
    PYTHONPATH=. python recipes/cifar10_fixmatch_init.py --shared DATA --fixmatch-minutes 2.5 \\
        --init torchvision:squeezenet1_1@DATA/squeezenet1_1_imagenet.pth --out /tmp/fmi_in

With `--init SPEC` (an ImageNet model: `torchvision:NAME@FILE`, `timm:NAME@FILE`) the first
start is that encoder and no pretraining is run; `--starts init` / `scratch` runs one start.
Prints, for each start (the pretrained encoder with --init ssl:, and WRN-28-2 from scratch),
the test accuracy at every evaluation against steps and seconds, the steps/s, and the final
accuracy; the labeled indices are the first 4 images of each class in a seeded shuffle.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from common import cifar10_data, data_parser


def main():
    ap = data_parser(__doc__)
    ap.add_argument("--pretrain-minutes", type=float, default=3.0)
    ap.add_argument("--fixmatch-minutes", type=float, default=2.5, help="per start")
    ap.add_argument("--per-class", type=int, default=4)
    ap.add_argument("--encoder-lr-scale", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=500, help="steps")
    ap.add_argument("--init", default="", help="start from this encoder spec instead of "
                    "pretraining (e.g. torchvision:squeezenet1_1@FILE)")
    ap.add_argument("--starts", default="init,scratch", help="which starts to run")
    ap.add_argument("--steps", type=int, default=0,
                    help="FixMatch steps (0: as many as --fixmatch-minutes allows; with "
                    "--fixmatch-minutes 0, a fixed number of steps and no budget)")
    args = ap.parse_args()

    from hume_ssl.data.datasets import load_dataset
    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.fixmatch.run import train_fixmatch_run
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    out = Path(args.out)
    data = cifar10_data(args)
    small = bool(args.subset)
    y = load_dataset(data, "train").labels
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(y))
    idx = np.concatenate([order[y[order] == c][: args.per_class] for c in range(10)])
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "idx.npy", idx)
    np.save(out / "labels.npy", y[idx])

    t, p = time.perf_counter(), None
    init = args.init
    if not init:
        pre = PretrainConfig(budget_minutes=args.pretrain_minutes, device=args.device,
                             random_state=args.seed, knn_every=10**4,
                             checkpoint_every=10**9, batch_size=128 if small else 512)
        p = pretrain_run(data, out / "ssl", pre)
        init = f"ssl:{out / 'ssl'}"
    t_pre = time.perf_counter() - t
    runs = {}
    starts = {f"encoder (--init {init.split('@')[0]})": dict(
        init=init, encoder_lr_scale=args.encoder_lr_scale), "scratch (wrn28_2)": dict(
        arch="wrn28_2")}
    wanted = [s.strip() for s in args.starts.split(",")]
    for name, kw in starts.items():
        if ("init" if "init" in kw else "scratch") not in wanted:
            continue
        if args.steps:
            kw["steps"] = args.steps
        cfg = FixMatchConfig(budget_minutes=args.fixmatch_minutes or None, device=args.device,
                             eval_every=args.eval_every, checkpoint_every=2**30,
                             tensorboard=False, random_state=args.seed, **kw)
        if small:
            cfg.batch_size, cfg.mu, cfg.eval_every = 16, 3, 50
        slug = "init" if "init" in kw else "scratch"
        runs[name] = train_fixmatch_run(out / slug, cfg, indices=out / "idx.npy",
                                        seed_labels=out / "labels.npy", dataset=data)
    pre_note = ("no pretraining" if p is None else f"pretrain {p['steps']} steps in "
                f"{t_pre:.0f} s (kNN-200 {p['knn_acc_last']:.4f})")
    print(f"\n## FixMatch, {10 * args.per_class} true labels, {data}; {pre_note}")
    print("| start | step | test accuracy |")
    print("|---|---|---|")
    for name, r in runs.items():
        for e in r["evals"]:
            print(f"| {name} | {e['step']} | {e['test_acc']:.4f} |")
    print("\n| start | device | steps | seconds | steps/s | final test accuracy |")
    print("|---|---|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {r['device']} | {r['steps']} | {r['seconds']:.0f} | "
              f"{r['steps'] / max(r['seconds'], 1e-9):.1f} | {r['test_acc_last']:.4f} |")


if __name__ == "__main__":
    main()
