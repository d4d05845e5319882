"""The whole mission on the shared CIFAR-10, label-free: pretrain -> seed -> train-fixmatch.

    PYTHONPATH=. python recipes/cifar10_end_to_end.py --shared DATA --total-minutes 9 \\
        --out /tmp/e2e                                                   # one GPU, ~9 min
    python recipes/cifar10_end_to_end.py --total-minutes 30 --out /tmp/e2e30   # the bar's budget
    python recipes/cifar10_end_to_end.py --total-minutes 4 --subset 2048 --test-subset 500 \\
        --size 16 --restarts 10 --input-size 64 --device cpu --out /tmp/e2e   # CPU rehearsal

1. `pretrain` (MoCo v2, `--budget-minutes` = pretrain share x total) on the train split;
2. `seed`: space 1 = that encoder (`ssl:`), space 2 = the shipped ImageNet SqueezeNet
   (`squeezenet1_1_imagenet.pth` from --shared), HUME, `--per-class` seeds by the product's
   seed rule, shortage policy and support cut (`--seed-rule`, `--shortage`, `--min-support`
   to try others);
3. `train-fixmatch --init ssl:` from the seeds' pseudo-labels with the time that is left.
Inside the budget, pretrain's kNN check and checkpoints and FixMatch's periodic evaluation and
checkpoints are off (the commands' defaults have them on and charge them to their budget, so at
the same minutes they train a few % fewer steps); the report evaluates once at the end.
No label is used by any stage; the true labels are read only for the report: the encoder's
kNN-200 and k-means ACC, the HUME ensemble ACC, the seeds' precision (share of wrong seeds) and
how many clusters hold seeds (FixMatch never learns the others), and the final test ACC
(Hungarian-mapped, since FixMatch learned cluster ids). With --oracle, FixMatch is run a second
time with the true labels at the same seed indices and the same budget (not counted in the
total), so the cost of the wrong seeds is visible.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import cifar10_data, data_parser, run_recipe


def main():
    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.seeds.config import RULES, SHORTAGES, SeedConfig

    ap = data_parser(__doc__)
    ap.add_argument("--total-minutes", type=float, default=9.0, help="wall clock, all stages")
    ap.add_argument("--pretrain-share", type=float, default=0.5, help="of the total")
    ap.add_argument("--method", default="mocov2")
    ap.add_argument("--per-class", type=int, default=SeedConfig.per_class,
                    help=f"seeds per cluster (default: the product's, {SeedConfig.per_class})")
    ap.add_argument("--seed-rule", default=SeedConfig.rule, choices=RULES,
                    help=f"the seed rule (default: the product's, {SeedConfig.rule})")
    ap.add_argument("--shortage", default=SeedConfig.shortage, choices=SHORTAGES,
                    help=f"clusters short of seeds (default: the product's, "
                    f"{SeedConfig.shortage}; relax needs --seed-rule hume)")
    ap.add_argument("--min-support", type=float, default=SeedConfig.min_support,
                    help="clusters with fewer candidates than this share of their members give "
                    f"no seeds (default: the product's, {SeedConfig.min_support:g}; 0 with "
                    "--shortage fill seeds every accepted cluster)")
    ap.add_argument("--restarts", type=int, default=HumeConfig.n_restarts,
                    help=f"HUME restarts (default: the product's, {HumeConfig.n_restarts})")
    ap.add_argument("--input-size", type=int, default=None, help="SqueezeNet input px")
    ap.add_argument("--encoder-lr-scale", type=float, default=None,
                    help="the encoder's lr relative to --lr (default: the --init recipe's)")
    ap.add_argument("--oracle", action="store_true", help="also FixMatch with true labels")
    args = ap.parse_args()

    from sklearn.cluster import KMeans

    from hume_ssl.core.metrics import cluster_acc
    from hume_ssl.data.datasets import load_dataset
    from hume_ssl.features.extract import extract_features
    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.fixmatch.run import train_fixmatch_run
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run
    from hume_ssl.seeds.partitions import space_rows
    from hume_ssl.seeds.run import seed_run

    shared, out = Path(args.shared), Path(args.out)
    data = cifar10_data(args)
    weights = shared / "squeezenet1_1_imagenet.pth"
    t_start, times = time.perf_counter(), {}
    budget_s = args.total_minutes * 60

    # 1. pretrain
    t = time.perf_counter()
    pre = PretrainConfig(method=args.method, budget_minutes=args.total_minutes
                         * args.pretrain_share, device=args.device, random_state=args.seed,
                         knn_every=10**4, checkpoint_every=10**9)
    small = args.subset and args.subset < 512 * 8
    if small:
        pre.batch_size = 128
    p = pretrain_run(data, out / "ssl", pre)
    times["pretrain"] = time.perf_counter() - t
    ssl = f"ssl:{out / 'ssl'}"

    # 2. seed (features of both spaces, HUME, kNN consistency, selection)
    t = time.perf_counter()
    feature_kw = {"device": args.device, "cache_dir": out / "cache", "input_size": args.input_size}
    s = seed_run(out / "seed", data, (ssl, f"torchvision:squeezenet1_1@{weights}"),
                 hume=HumeConfig(k=10, n_restarts=args.restarts, device=args.device,
                                 random_state=args.seed),
                 seeds=SeedConfig(per_class=args.per_class, rule=args.seed_rule,
                                  shortage=args.shortage, min_support=args.min_support,
                                  contact_sheets=False),
                 feature_kw=feature_kw, log=lambda m: print(f"  seed: {m}", flush=True))
    times["seed"] = time.perf_counter() - t

    # 3. FixMatch from the encoder with the time left
    left_min = (budget_s - (time.perf_counter() - t_start)) / 60
    if left_min <= 0.3:
        raise SystemExit(f"no time left for FixMatch ({left_min:.2f} min); raise --total-minutes")
    fm_kw = dict(init=ssl, encoder_lr_scale=args.encoder_lr_scale, budget_minutes=left_min,
                 device=args.device, random_state=args.seed, eval_every=2**30,
                 checkpoint_every=2**30, tensorboard=False)
    if small:  # log intervals of 16 steps: the budget is fitted in whole intervals, and a
        # CPU rehearsal has too little time left for one of the default 64 steps
        fm_kw.update(batch_size=16, mu=3, log_every=16)
    t = time.perf_counter()
    fm = train_fixmatch_run(out / "fixmatch", FixMatchConfig(**fm_kw), seeds=out / "seed" / "seeds")
    times["fixmatch"] = time.perf_counter() - t
    total = time.perf_counter() - t_start
    oracle = None
    if args.oracle:
        oracle = train_fixmatch_run(out / "fixmatch_oracle",
                                    FixMatchConfig(**fm_kw, oracle_labels=True),
                                    seeds=out / "seed" / "seeds")

    # report (labels from here on). The baseline: k-means of the encoder's features of the
    # test images, the images FixMatch's test ACC is measured on (not timed)
    test = load_dataset(data, "test")
    fs = extract_features(data, "test", ssl, cache_dir=out / "cache", device=args.device,
                          progress=False)
    x = space_rows(fs.features, center=True)  # (N_test, d) centred unit rows, as HUME's
    km = KMeans(10, n_init=3, random_state=args.seed).fit_predict(x)
    km_acc = cluster_acc(km, test.labels)
    rep = s.get("report", {})
    prec = rep.get("seed_precision")
    seeded = sum(n > 0 for n in s["per_class"])  # a cluster without seeds is never learned
    print(f"\n## End to end, label-free: {data} on {fm['device']}, "
          f"total budget {args.total_minutes} min")
    print("| stage | seconds | result |")
    print("|---|---|---|")
    print(f"| pretrain ({args.method}) | {times['pretrain']:.0f} | {p['steps']} steps "
          f"({p['epochs']:.1f} epochs), kNN-200 {p['knn_acc_last']:.4f}, k-means ACC on the "
          f"test images {km_acc:.4f} |")
    print(f"| seed (features + HUME {args.restarts} restarts + selection) | {times['seed']:.0f} | "
          f"ensemble ACC {rep.get('ensemble_acc', float('nan')):.4f}, {s['n_seeds']} seeds in "
          f"{seeded} of {len(s['per_class'])} clusters ({args.seed_rule}, --shortage "
          f"{args.shortage}, --min-support {args.min_support:g}), "
          f"precision {prec if prec is None else round(prec, 4)} (wrong: "
          f"{'-' if prec is None else f'{1 - prec:.1%}'}) |")
    print(f"| train-fixmatch (--init ssl) | {times['fixmatch']:.0f} | {fm['steps']} steps, test "
          f"ACC {fm['test_acc_last']:.4f} (Hungarian-mapped) |")
    print(f"| total | {total:.0f} | budget {budget_s:.0f} s |")
    print("\n(monitoring off inside the budget, unlike the commands' defaults: pretrain's kNN "
          "check and checkpoints, FixMatch's periodic evaluation and checkpoints; `hume-ssl "
          "pretrain` / `train-fixmatch` charge their evaluations to --budget-minutes and so train "
          "a few % fewer steps in the same minutes)")
    if oracle is not None:
        print(f"\nsame seed indices with true labels (--oracle-labels, same budget): test "
              f"accuracy {oracle['test_acc_last']:.4f} in {oracle['steps']} steps")
    first_target = fm["test_acc_last"] > km_acc
    print(f"\nfirst target (final test ACC above k-means of the encoder's test features, "
          f"{km_acc:.4f}): "
          f"{'met' if first_target else 'NOT met'}")


if __name__ == "__main__":
    run_recipe(main)
