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
accuracy; the labeled indices are the first 4 images of each class in a seeded shuffle. The
pretraining runs with its kNN check and checkpoints off, and FixMatch with checkpoints off (the
commands' defaults have them on inside their budgets: a few % fewer steps in the same minutes).

Section `--backbone-init SPEC` (an ImageNet backbone as --init, e.g. the EfficientNet-Lite2
file): the linear probe on the seeds, FixMatch from the backbone, and FixMatch from a random
init of the same network, over --repeats random states; a table of test accuracy against
minutes (tests/fixmatch/test_backbone_init_cpu.py runs its CPU size):

    PYTHONPATH=. python recipes/cifar10_fixmatch_init.py --device cpu --out /tmp/bbi \
        --backbone-init timm:tf_efficientnet_lite2@../shared/data/tf_efficientnet_lite2_in1k.pth \
        --subset 2000 --test-subset 500 --input-size 64 --steps 40 --batch-size 8 --mu 2 \
        --eval-every 20 --repeats 3                                                  # CPU table
    PYTHONPATH=. python recipes/cifar10_fixmatch_init.py --device cuda --out /tmp/bbi \
        --backbone-init timm:tf_efficientnet_lite2@../shared/data/tf_efficientnet_lite2_in1k.pth \
        --input-size 224 --fixmatch-minutes 9 --repeats 1 --batch-size 64 --mu 7   # GPU target
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from common import cifar10_data, data_parser, run_recipe

# the CPU size of the --backbone-init section (measured on the shared 2-core CPU:
# docs/fixmatch_evidence.md)
CPU_SIZE = dict(subset=2000, test_subset=500, input_size=64, steps=40, batch_size=8, mu=2,
                eval_every=20)


def labeled_seeds(data: str, out: Path, per_class: int, seed: int) -> tuple[Path, Path]:
    """The first `per_class` train images of each class in a seeded shuffle: idx.npy and
    labels.npy (true labels) in `out`."""
    from hume_ssl.data.datasets import load_dataset

    y = load_dataset(data, "train").labels
    order = np.random.default_rng(seed).permutation(len(y))
    idx = np.concatenate([order[y[order] == c][:per_class] for c in range(int(y.max()) + 1)])
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "idx.npy", idx)
    np.save(out / "labels.npy", y[idx])
    return out / "idx.npy", out / "labels.npy"


def fixmatch_from_init(init: str, data: str, out: Path, idx: Path, labels: Path,
                       random_weights: bool = False, **cfg_kw) -> dict:
    """FixMatch from `init` (any --init spec), or from a random init of the same network
    (`random_weights`: --arch of the init, the scratch recipe), with ground-truth seed labels
    (`--oracle-labels`, so test accuracy needs no Hungarian map). Returns train_fixmatch_run's
    summary (probe_test_acc included for the pretrained start). The --backbone-init
    section runs it per start and random state."""
    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.fixmatch.run import train_fixmatch_run
    from hume_ssl.models.classifier import resolve_init

    kw = dict(checkpoint_every=2**30, tensorboard=False, oracle_labels=True, **cfg_kw)
    if random_weights:
        kw.update(arch=resolve_init(init, kw.get("input_size")).arch, recipe="scratch")
    else:
        kw.update(init=init)
    t = time.perf_counter()
    r = train_fixmatch_run(out, FixMatchConfig(**kw), indices=idx, seed_labels=labels,
                           dataset=data)
    r["wall_s"] = time.perf_counter() - t
    return r


def backbone_table(init: str, data: str, out: Path, idx: Path, labels: Path, repeats: int,
                   **cfg_kw) -> dict[str, list[dict]]:
    """Probe, pretrained init and random init of the same network over `repeats` random
    states: {"pretrained": [summary...], "random": [...]} (the probe is in each pretrained
    summary)."""
    runs: dict[str, list[dict]] = {"pretrained": [], "random": []}
    for rs in range(repeats):
        for name in runs:
            runs[name].append(fixmatch_from_init(init, data, out / f"{name}{rs}", idx, labels,
                                                 random_weights=name == "random",
                                                 random_state=rs, **cfg_kw))
    return runs


def print_backbone_table(runs: dict[str, list[dict]]) -> None:
    def row(name, accs, minutes):
        a = np.array(accs)
        print(f"| {name} | {' / '.join(f'{x:.3f}' for x in a)} | {a.mean():.3f} | "
              f"{a.max() - a.min():.3f} | {np.mean(minutes):.1f} |")

    pre = runs["pretrained"]
    print("| start | test accuracy per random state | mean | spread | minutes |")
    print("|---|---|---|---|---|")
    row("linear probe on the seeds", [r["probe_test_acc"] for r in pre],
        [r["probe_seconds"] / 60 for r in pre])
    row("FixMatch, random init", [r["test_acc_last"] for r in runs["random"]],
        [r["wall_s"] / 60 for r in runs["random"]])
    row("FixMatch, pretrained init", [r["test_acc_last"] for r in pre],
        [r["wall_s"] / 60 for r in pre])


def backbone_section(args) -> None:
    data = cifar10_data(args)
    out = Path(args.out)
    idx, labels = labeled_seeds(data, out, args.per_class, args.seed)
    kw = dict(device=args.device, input_size=args.input_size, batch_size=args.batch_size,
              mu=args.mu, eval_every=args.eval_every)
    kw.update(dict(budget_minutes=args.fixmatch_minutes) if args.steps == 0
              else dict(steps=args.steps))
    runs = backbone_table(args.backbone_init, data, out, idx, labels, args.repeats, **kw)
    print(f"\n## FixMatch from {args.backbone_init}, {len(np.load(idx))} true labels, {data}")
    print_backbone_table(runs)


def main():
    ap = data_parser(__doc__)
    ap.add_argument("--pretrain-minutes", type=float, default=3.0)
    ap.add_argument("--fixmatch-minutes", type=float, default=2.5, help="per start")
    ap.add_argument("--per-class", type=int, default=4)
    ap.add_argument("--encoder-lr-scale", type=float, default=None,
                    help="the encoder's lr relative to --lr (default: the --init recipe's)")
    ap.add_argument("--eval-every", type=int, default=500, help="steps")
    ap.add_argument("--init", default="", help="start from this encoder spec instead of "
                    "pretraining (e.g. torchvision:squeezenet1_1@FILE)")
    ap.add_argument("--starts", default="init,scratch", help="which starts to run")
    ap.add_argument("--steps", type=int, default=0,
                    help="FixMatch steps (0: as many as --fixmatch-minutes allows; with "
                    "--fixmatch-minutes 0, a fixed number of steps and no budget; with "
                    "--backbone-init, a fixed number of steps and no budget)")
    ap.add_argument("--backbone-init", help="the --backbone-init section: this --init spec")
    ap.add_argument("--input-size", type=int, default=None, help="px (--backbone-init)")
    ap.add_argument("--repeats", type=int, default=3, help="random states (--backbone-init)")
    ap.add_argument("--batch-size", type=int, default=64, help="--backbone-init")
    ap.add_argument("--mu", type=int, default=7, help="--backbone-init")
    args = ap.parse_args()
    if args.backbone_init:
        return backbone_section(args)

    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.fixmatch.run import train_fixmatch_run
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    out = Path(args.out)
    data = cifar10_data(args)
    small = bool(args.subset)
    idx, labels = labeled_seeds(data, out, args.per_class, args.seed)

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
        runs[name] = train_fixmatch_run(out / slug, cfg, indices=idx, seed_labels=labels,
                                        dataset=data)
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
              f"{r['steps'] / max(r['seconds'], 1e-9):.3g} | {r['test_acc_last']:.4f} |")


if __name__ == "__main__":
    run_recipe(main)
