"""What `hume-ssl seed` costs per stage on a feature pair, the seed rules side by side.

    python recipes/seed_cost.py                          # the shared CIFAR-10 pair (50,000 rows)
    python recipes/seed_cost.py --phi1 A.npy --phi2 B.npy --k 10
    python recipes/seed_cost.py --restarts 10 --steps 30 # a quick look

Runs the functions `seed` runs (hume_ssl.seeds.run: HUME with the seed defaults, the
neighbour lists, select_seeds): HUME and the neighbour lists once (every rule here uses the
same), the selection once per rule, and times every stage in wall and CPU seconds (CPU:
this process, every thread). The selection runs under each rule: the hume rule (the default
before 0.2), the consensus rule as shipped (--kmeans-states 1), with 3 k-means states, with
the anchor taken anywhere in its cluster (--anchor-parts 1, the rule before the bulk) and
with the bulk found among all of a cluster's members (--bulk-of members, the rule before the
core) and without the spectral partition of the kNN graph (--no-graph-partition, the rule
before it); the last column is the whole `seed` (HUME + kNN + selection) against the hume rule's.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from common import recipe_parser, run_recipe

from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.estimator import Hume
from hume_ssl.seeds.config import SeedConfig
from hume_ssl.seeds.run import knn_spaces, neighbour_lists, select_seeds


def timed(fn, *args):
    """(fn(*args), wall seconds, CPU seconds of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv=None) -> list[dict]:
    from hume_ssl.core.knn import knn_consistency

    ap = recipe_parser(__doc__)
    ap.add_argument("--phi1"), ap.add_argument("--phi2")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--restarts", type=int, default=0, help="0: the seed default (100)")
    ap.add_argument("--steps", type=int, default=0, help="0: the seed default (300)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if bool(args.phi1) != bool(args.phi2):
        raise SystemExit("give both --phi1 and --phi2 (or neither: the shared CIFAR-10 pair)")
    if args.phi1:
        x1, x2 = np.load(args.phi1), np.load(args.phi2)
        name = f"{Path(args.phi1).name} / {Path(args.phi2).name}"
    else:
        d = Path(args.shared) / "cifar10_features"
        x1 = np.load(d / "mocov2_r18_36ep_train.npy")
        x2 = np.load(d / "squeezenet1_1_224px_train.npy")
        name = "CIFAR-10 train, MoCo-36ep / SqueezeNet"
    cfg = HumeConfig(k=args.k, device=args.device)
    cfg = cfg.replace(**{f: v for f, v in (("n_restarts", args.restarts),
                                           ("n_steps", args.steps)) if v})
    model, hw, hc = timed(Hume.from_config(cfg).fit, x1, x2)
    shipped = SeedConfig().kmeans_states
    more = 3 if shipped < 3 else 1
    rules = {"hume rule": SeedConfig(rule="hume"),
             f"consensus, {shipped} k-means state(s) (shipped)": SeedConfig(),
             f"consensus, {more} k-means states": SeedConfig(kmeans_states=more),
             "consensus, anchor anywhere (--anchor-parts 1)": SeedConfig(anchor_parts=1),
             "consensus, bulk of the members (--bulk-of members)": SeedConfig(bulk_of="members"),
             "consensus, k-means partitions only (--no-graph-partition)":
                 SeedConfig(graph_partition=False)}
    # every rule here needs the same neighbour lists (20 neighbours, both spaces): computed and
    # timed once, counted in each rule's run
    assert len({(s.n_neighbors, knn_spaces(s)) for s in rules.values()}) == 1
    (nbrs, _), nw, nc = timed(neighbour_lists, x1, x2, SeedConfig(), cfg.center, cfg.device)
    rows = []
    for label, seeds in rules.items():
        share = np.minimum.reduce([knn_consistency(model.labels_, nbrs[sp])
                                   for sp in knn_spaces(seeds)])
        sel, sw, sc = timed(select_seeds, seeds, x1, x2, model, nbrs, cfg, share)
        rows.append({"rule": label, "hume": (hw, hc), "knn": (nw, nc), "select": (sw, sc),
                     "seeds": int(len(sel.indices_))})
    base = sum(rows[0][s][1] for s in ("hume", "knn", "select"))
    print(f"\n## `seed` stages on {name}: N={len(x1)}, k={args.k}, {cfg.n_restarts} restarts x "
          f"{cfg.n_steps} steps (seconds, wall / CPU)")
    print("| rule | HUME | kNN | selection | seeds | whole seed, CPU | x the hume rule's |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        total = sum(r[s][1] for s in ("hume", "knn", "select"))
        cells = [f"{r[s][0]:.1f} / {r[s][1]:.1f}" for s in ("hume", "knn", "select")]
        print(f"| {r['rule']} | " + " | ".join(cells) + f" | {r['seeds']} | {total:.1f} | "
              f"{total / base:.2f} |")
    return rows


if __name__ == "__main__":
    run_recipe(main)
