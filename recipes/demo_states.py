"""The demo's first two steps over random states: how often its seeds are right, by pretrain epochs.

    python recipes/demo_states.py --out /tmp/ds                    # states 0..5, 30 and 60 epochs
    python recipes/demo_states.py --out /tmp/ds --states 0,1 --epochs 60
    OMP_NUM_THREADS=1 python recipes/demo_states.py --out /tmp/ds1    # one CPU thread

Runs what `hume-ssl demo` runs before FixMatch (hume_ssl.demo.run's pretrain_step and
seed_step: `pretrain` on the digits' train split, then `seed` on that space and the pixels,
every setting of DemoSettings) for each random state (pretrain and HUME use it, as in the
demo) and each number of pretrain epochs, and prints one row per run: the pretrained space's
kNN-200 test accuracy (the pretrain monitor), HUME's ensemble ACC, the seeds' precision and the
verdict. Labels are used for those figures only. The pretrained space depends on the CPU's
thread count (the order of float sums), so the table names it. Every run folder stays under
OUT (OUT/e{epochs}_s{state}); a finished one is reused. About 45 s per run on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from common import recipe_parser, run_recipe

from hume_ssl.demo import run as demo


def demo_seeds(out: Path, s: demo.DemoSettings) -> dict:
    """The demo's pretrain and seed steps with settings `s` into `out`: one table row."""
    pre = demo.pretrain_step(out / "pretrain", s)
    feature_kw = {"cache_dir": str(out / "cache"), "device": s.device, "progress": False}
    sr = demo.seed_step(out / "seed", f"ssl:{out / 'pretrain'}", s, feature_kw)
    return {"epochs": s.pretrain_epochs, "state": s.random_state, "knn": pre.get("knn_acc_last"),
            "hume_acc": sr["report"]["ensemble_acc"], "n_seeds": sr["n_seeds"],
            "precision": sr["report"]["seed_precision"], "verdict": sr["diagnostics"]["verdict"]}


def ints(text: str) -> list[int]:
    """Comma-separated whole numbers (an argparse type: anything else is a usage error)."""
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: whole numbers, comma-separated (0,1,2)") from None
    if not out:
        raise argparse.ArgumentTypeError("give at least one number")
    return out


def main(argv=None) -> list[dict]:
    ap = recipe_parser(__doc__)
    ap.add_argument("--out", required=True, help="a folder for the run folders (reused)")
    ap.add_argument("--states", type=ints, default="0,1,2,3,4,5",
                    help="random states, comma-separated")
    ap.add_argument("--epochs", type=ints, default="30,60",
                    help="pretrain epochs, comma-separated")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true",
                    help="the demo's tiny budgets (DemoSettings.quick, --epochs still applies): "
                         "the same path in seconds, figures that mean nothing")
    args = ap.parse_args(argv)
    base = demo.DemoSettings.quick() if args.quick else demo.DemoSettings()
    rows = []
    for epochs in args.epochs:
        for state in args.states:
            s = dataclasses.replace(base, pretrain_epochs=epochs,
                                    random_state=state, device=args.device)
            t = time.perf_counter()
            rows.append({**demo_seeds(Path(args.out) / f"e{epochs}_s{state}", s),
                         "seconds": time.perf_counter() - t})
            print(f"done: {epochs} epochs, state {state}", flush=True)
    print(f"\n## the demo's seeds by pretrain epochs and random state ({torch.get_num_threads()} "
          f"CPU thread(s); {base.per_class} seeds per cluster, the {base.seed_rule} rule"
          f"{'; --quick: figures that mean nothing' if args.quick else ''})")
    print("| epochs | state | kNN-200 | HUME ACC | seeds | precision | verdict | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['epochs']} | {r['state']} | {r['knn']:.3f} | {r['hume_acc']:.3f} | "
              f"{r['n_seeds']} | {r['precision']:.3f} | {r['verdict']} | {r['seconds']:.0f} |")
    for epochs in args.epochs:
        mine = [r for r in rows if r["epochs"] == epochs]
        good = sum(r["precision"] >= 0.95 for r in mine)
        print(f"{epochs} epochs: precision >= 0.95 in {good} of {len(mine)} states; mean kNN "
              f"{sum(r['knn'] for r in mine) / len(mine):.3f}, mean precision "
              f"{sum(r['precision'] for r in mine) / len(mine):.3f}")
    return rows


if __name__ == "__main__":
    run_recipe(main)
