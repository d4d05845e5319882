"""`seed --k auto` against the true number of classes, on the seed benchmark's sets.

    python recipes/k_auto_benchmark.py --out runs/kauto --sets digits fashion
    python recipes/k_auto_benchmark.py --out runs/kauto --sets cifar-5 --k-range 2-10

For every set it runs what `seed --k auto` runs (hume_ssl.seeds.choose_k: one HUME fit per k of
--k-range with the seed defaults and at most MAX_RESTARTS restarts; each k's row saved in
OUT/NAME/k_auto.json as it is scored and reused by a later run on the same rows and settings)
and prints, per k, what the scan records: the restarts' mean pairwise ARI (what --k auto
maximises, choose_k.CRITERION), the median restart score and its chance-corrected value
(s - 1/k) / (1 - 1/k) (the criterion before). Then one row per set: the true k, the k --k auto
chose, and the k each column's maximum gives (ties: the smallest k, as --k auto). The true
number of classes is used for this comparison only. Sets: those of recipes/seed_benchmark.py
(its load_set; `digits-r5` fits 5 restarts).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe_parser, run_recipe, set_arguments  # noqa: E402
from seed_benchmark import check_sets, hume_overrides, load_set  # noqa: E402

from hume_ssl.seeds.choose_k import CRITERION, best_ks, choose_k  # noqa: E402

COLUMNS = (CRITERION, "median_score", "corrected")  # a k_auto.json row's figures


def scan(name: str, args) -> dict:
    """The set's --k auto scan (choose_k) and its table, with the true k."""
    x1, x2, y, over = load_set(name, args)
    t0 = time.perf_counter()
    chosen = choose_k(Path(args.out) / name, x1, x2, args.k_range, hume_overrides(args, over),
                      log=lambda m: None)
    table = json.loads((Path(args.out) / name / "k_auto.json").read_text())["table"]
    lo, hi = (int(v) for v in args.k_range.split("-"))
    rows = [r for r in table if lo <= r["k"] <= hi]
    return {"set": name, "true_k": int(len(np.unique(y))), "chosen": chosen, "rows": rows,
            "seconds": time.perf_counter() - t0}


def best_k(rows: list[dict], column: str) -> int:
    """The k with the column's maximum (ties: the smallest k, choose_k's rule)."""
    return best_ks(rows, column)[1][0]


def print_scan(r: dict) -> None:
    print(f"\n### {r['set']} (true k {r['true_k']}; --k auto chose {r['chosen']}; "
          f"{r['seconds']:.0f} s, 0 where every row was reused)\n")
    print("| k | restarts' mean pairwise ARI (maximised) | median score | chance-corrected |")
    print("|---|---|---|---|")
    for row in r["rows"]:
        mark = " (true)" if row["k"] == r["true_k"] else ""
        print(f"| {row['k']}{mark} | " + " | ".join(f"{row[c]:.4f}" for c in COLUMNS) + " |")


def print_summary(results: list[dict]) -> None:
    print("\n### The k chosen, by set\n")
    print("| set | true k | --k auto (restarts' ARI) | by the chance-corrected score (before) "
          "| by the median score |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['set']} | {r['true_k']} | {r['chosen']} | {best_k(r['rows'], 'corrected')} "
              f"| {best_k(r['rows'], 'median_score')} |")
    right = sum(r["chosen"] == r["true_k"] for r in results)
    near = sum(abs(r["chosen"] - r["true_k"]) <= 1 for r in results)
    print(f"\n--k auto chose the true k on {right} of {len(results)} sets, within 1 of it on "
          f"{near}.")


def main(argv=None) -> list[dict]:
    ap = recipe_parser(__doc__)
    ap.add_argument("--out", required=True, help="folder for each set's NAME/k_auto.json "
                    "(reused)")
    set_arguments(ap, ["digits", "fashion"])  # (--restarts: --k auto fits at most 20)
    ap.add_argument("--k-range", default="2-15", help="LO-HI, the k tried (inclusive)")
    args = ap.parse_args(argv)
    check_sets(args.sets, args)
    results = []
    for name in args.sets:
        results.append(scan(name, args))
        print_scan(results[-1])
        sys.stdout.flush()
    print_summary(results)
    return results


if __name__ == "__main__":
    run_recipe(main)
