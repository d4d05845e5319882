"""What HUME's restart score prefers, on the seed benchmark's sets: is HUME held back by its
search or by its objective?

    python recipes/hume_objective.py --out runs/sb --sets digits fashion
    python recipes/hume_objective.py --out runs/sb          # every set (fits: ~1 h on 2 cores)

HUME ranks its restarts by a label-free score (hume_ssl.hume.scoring.cv_scores: the
cross-validated balanced accuracy of a ridge classifier on space 2) and its task encoder can
only output labelings linear in space 1 (the argmax of W phi1, W with orthonormal rows). For
every set this prints the score (and, from the ground truth, the ACC) of:
  best restart        HUME's best-scoring restart (the fit's own score, recomputed)
  ensemble            HUME's voted labels
  truth               the true labels (not a labeling HUME's encoder can output)
  truth in space 1    a labeling HUME's encoder can output, near the truth: a ridge fit of
                      the one-hot true labels on space 1 (rows as HUME sees them, no bias,
                      HUME's ridge scale) made an encoder (orthonormal rows), its argmax
  k-means 2 in space 1  the same fit of k-means of space 2's labels: one it can output, label-free
  k-means 1           k-means of space 1 (linear cells, up to a bias per class)
and says what limits HUME there: "objective" when the truth in space 1 scores below the best
restart (the score prefers HUME's labeling to one much nearer the truth); "search" when it
scores above every label-free labeling the encoder can output (best restart, k-means 2 in space
1, k-means 1: a better search of the same score would move towards the truth); "search, then
objective" when above the best restart but below another of those (the search stops short, and
the score would not pick the truth's labeling either). The fits are seed_benchmark.py's
(OUT/NAME.npz, reused; a missing one is fitted the same way and saved); ground truth is used for
the ACC and the truth rows only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe_parser, run_recipe, set_arguments  # noqa: E402
from seed_benchmark import DEFAULT_SETS, check_sets, fit_set, load_set  # noqa: E402

from hume_ssl.core.metrics import cluster_acc  # noqa: E402
from hume_ssl.hume.config import HumeConfig  # noqa: E402
from hume_ssl.hume.ridge import ridge_lambda  # noqa: E402
from hume_ssl.hume.scoring import cv_scores  # noqa: E402
from hume_ssl.seeds.partitions import space_rows  # noqa: E402

COLUMNS = ("best restart", "ensemble", "truth", "truth in space 1", "k-means 2 in space 1",
           "k-means 1")
LIMITS = ("search", "search, then objective", "objective")


def linear_in(rows: np.ndarray, labels: np.ndarray, k: int, ridge: float) -> np.ndarray:
    """(N,) the labeling of a HUME encoder near `labels` (N,): a ridge fit (no bias, HUME's
    scale-free penalty) of the one-hot labels on unit rows (N, d), its (k, d) weights replaced
    by the nearest matrix with orthonormal rows (U V^T of their SVD: HUME's encoders are of that
    form, hume.engine.orthonormal_rows), then the argmax of its cosine logits."""
    x = torch.from_numpy(rows).double()  # (N, d)
    n, d = x.shape
    lam = ridge_lambda(ridge, n, d, float((x ** 2).sum(1).mean()))
    y = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), k).double()  # (N, k)
    w = torch.linalg.solve(x.T @ x + lam * torch.eye(d, dtype=x.dtype), x.T @ y).T  # (k, d)
    u, _, vt = torch.linalg.svd(w, full_matrices=False)
    return (x @ (u @ vt).T).argmax(1).numpy()


def judge(name: str, args) -> dict:
    """The set's row: each labeling's score and ACC, and what limits HUME."""
    f = fit_set(name, args, Path(args.out))
    x1, x2, y, _ = load_set(name, args)
    k = int(y.max()) + 1
    cfg = HumeConfig()
    r1 = space_rows(x1, cfg.center)  # (N, d1) as HUME sees them
    labelings = {
        "best restart": f["labelings"][int(np.argmax(f["scores"]))].astype(np.int64),
        "ensemble": f["labels"].astype(np.int64),
        "truth": y.astype(np.int64),
        "truth in space 1": linear_in(r1, y, k, cfg.ridge),
        "k-means 2 in space 1": linear_in(r1, f["km_phi2"].astype(np.int64), k, cfg.ridge),
        "k-means 1": f["km_phi1"].astype(np.int64),
    }
    scores = cv_scores(torch.from_numpy(space_rows(x2, cfg.center)),
                       torch.from_numpy(np.stack(list(labelings.values()))), k, cfg.cv_folds,
                       cfg.ridge, args.seed).numpy()
    row = {"set": name, "n": len(y), "k": k, "restarts": int(f["restarts"]),
           "encoder_init": str(f["encoder_init"]), "fit_best_score": float(f["scores"].max()),
           "score": dict(zip(labelings, scores.tolist())),
           "acc": {c: cluster_acc(v, y) for c, v in labelings.items()}}
    row["limit"] = limit(row["score"])
    return row


def limit(score: dict) -> str:
    """What limits HUME on a set, from each labeling's score (see the module docstring)."""
    near = score["truth in space 1"]
    if near <= score["best restart"]:
        return "objective"
    label_free = max(score[c] for c in ("best restart", "k-means 2 in space 1", "k-means 1"))
    return "search" if near > label_free else "search, then objective"


def print_rows(rows: list[dict]) -> None:
    print("\n| set (N, k, HUME restarts, start) | " + " | ".join(COLUMNS)
          + " | what limits HUME |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for r in rows:
        print(f"| {r['set']} ({r['n']}, {r['k']}, {r['restarts']}, {r['encoder_init']}) | "
              + " | ".join(f"{r['score'][c]:.3f} ({r['acc'][c]:.3f})" for c in COLUMNS)
              + f" | {r['limit']} |")
    print("\ncells: the restart score (ACC from the ground truth). "
          + "; ".join(f"{v}: {sum(r['limit'] == v for r in rows)} of {len(rows)} sets"
                      for v in LIMITS) + ".")


def main(argv=None) -> list[dict]:
    ap = recipe_parser(__doc__)
    ap.add_argument("--out", required=True, help="seed_benchmark.py's folder: its NAME.npz "
                    "fits are reused, missing ones fitted and saved there")
    set_arguments(ap, list(DEFAULT_SETS))
    ap.add_argument("--seed", type=int, default=0, help="HUME's random_state: a new fit's, and "
                    "the score's folds (pass the one the fits in OUT were made with)")
    ap.add_argument("--device", default="auto")
    ap.set_defaults(ridge=0.0, encoder_init=HumeConfig().encoder_init)  # fit_set: shipped
    args = ap.parse_args(argv)
    check_sets(args.sets, args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.sets:
        rows.append(judge(name, args))
        print(f"{name}: done", flush=True)
    print_rows(rows)
    return rows


if __name__ == "__main__":
    run_recipe(main)
