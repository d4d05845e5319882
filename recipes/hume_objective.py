"""What HUME's restart score prefers, on the seed benchmark's sets: is HUME held back by its
search or by its objective?

    python recipes/hume_objective.py --out runs/sb --sets digits fashion
    python recipes/hume_objective.py --out runs/sb          # every set (fits: ~1 h on 2 cores)

HUME ranks its restarts by a label-free score (hume_ssl.hume.scoring.cv_scores: the
cross-validated balanced accuracy of a ridge classifier on space 2) and its task encoder can
only output labelings linear in space 1 (the argmax of W phi1, W with orthonormal rows, no
bias). For every set this prints the score (and, from the ground truth, the ACC) of:
  best restart          HUME's best-scoring restart (the fit's own score, recomputed; a fit
                        scored on other folds or rows is refused)
  ensemble              HUME's voted labels
  truth                 the true labels (not a labeling HUME's encoder can output)
  truth in space 1      a labeling HUME's encoder can output, fitted to the truth (linear_in:
                        an encoder of HUME's form trained on the true labels, cross-entropy)
  k-means 2 in space 1  the same fit to k-means of space 2's labels: label-free
  k-means 1             k-means of space 1, for reference (its cells have a bias per class)
and says what limits HUME there, from the first two of those HUME can output: "level" when the
truth in space 1 and the best restart score within LEVEL of each other; "objective" when the
truth in space 1 scores lower (the score prefers HUME's labeling to one much nearer the truth);
"search" when it scores higher, and higher than k-means 2 in space 1 by LEVEL (a better search
of the same score would move towards the truth); "search, then objective" when it scores higher
than the best restart but not than k-means 2 in space 1 (the search stops short, and the score
would not single out the truth's labeling either). The fits are seed_benchmark.py's
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
from seed_benchmark import DEFAULT_SETS, check_sets, fit_init, fit_set, load_set  # noqa: E402

from hume_ssl.core.metrics import cluster_acc  # noqa: E402
from hume_ssl.hume.config import HumeConfig  # noqa: E402
from hume_ssl.hume.engine import orthonormal_rows  # noqa: E402
from hume_ssl.hume.scoring import cv_scores  # noqa: E402
from hume_ssl.seeds.partitions import space_rows  # noqa: E402

COLUMNS = ("best restart", "ensemble", "truth", "truth in space 1", "k-means 2 in space 1",
           "k-means 1")
LIMITS = ("search", "search, then objective", "objective", "level")
LEVEL = 0.01  # scores closer than this are not told apart: one fold draw moves a score by
# 0.002-0.003, and the best restart is the highest of its restarts' scores on the same folds
FIT_STEPS, FIT_LR, FIT_SCALE = 300, 0.01, 20.0  # linear_in's cross-entropy fit


def linear_in(rows: np.ndarray, labels: np.ndarray, k: int, steps: int = FIT_STEPS
              ) -> np.ndarray:
    """(N,) the labeling of a HUME encoder (argmax of W x, W of hume.engine.orthonormal_rows'
    form, no bias) fitted to `labels` (N,) on unit rows (N, d): started at the nearest such W to
    a least-squares fit of the one-hot labels (U V^T of its SVD), then `steps` Adam steps on the
    cross-entropy of the scaled cosine logits through orthonormal_rows (the least-squares start
    alone stays further from labels that an encoder can nearly express)."""
    x = torch.from_numpy(rows).double()  # (N, d)
    target = torch.from_numpy(labels).long()  # (N,)
    w = torch.linalg.lstsq(x, torch.nn.functional.one_hot(target, k).double()).solution  # (d, k)
    u, _, vt = torch.linalg.svd(w, full_matrices=False)
    v = (u @ vt)[None].clone().requires_grad_(True)  # (1, d, k) free parameters
    opt = torch.optim.Adam([v], lr=FIT_LR)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(FIT_SCALE * x @ orthonormal_rows(v)[0].T, target)
        opt.zero_grad(), loss.backward(), opt.step()
    with torch.no_grad():
        return (x @ orthonormal_rows(v)[0].T).argmax(1).numpy()  # (N,)


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
        "truth in space 1": linear_in(r1, y, k),
        "k-means 2 in space 1": linear_in(r1, f["km_phi2"].astype(np.int64), k),
        "k-means 1": f["km_phi1"].astype(np.int64),
    }
    scores = cv_scores(torch.from_numpy(space_rows(x2, cfg.center)),
                       torch.from_numpy(np.stack(list(labelings.values()))), k, cfg.cv_folds,
                       cfg.ridge, args.seed).numpy()
    fit_best = float(f["scores"].max())
    if abs(float(scores[0]) - fit_best) > 1e-4:  # other folds or rows than the fit's score
        raise SystemExit(f"{name}: the best restart scores {scores[0]:.4f} here but {fit_best:.4f} "
                         "in its fit: OUT's fit was scored on other folds or rows (another "
                         "--seed or --ridge, or a subset of rows over 100,000); pass its --seed, "
                         "or fit it afresh in another OUT.")
    row = {"set": name, "n": len(y), "k": k, "restarts": int(f["restarts"]),
           "encoder_init": fit_init(f), "fit_best_score": fit_best,
           "score": dict(zip(labelings, scores.tolist())),
           "acc": {c: cluster_acc(v, y) for c, v in labelings.items()}}
    row["limit"] = limit(row["score"])
    return row


def limit(score: dict) -> str:
    """What limits HUME on a set, from each labeling's score (see the module docstring)."""
    near, best = score["truth in space 1"], score["best restart"]
    if abs(near - best) < LEVEL:
        return "level"
    if near < best:
        return "objective"
    return "search" if near > score["k-means 2 in space 1"] + LEVEL else "search, then objective"


def print_rows(rows: list[dict]) -> None:
    print("\n| set (N, k, HUME restarts, start) | " + " | ".join(COLUMNS)
          + " | truth in space 1 - best restart | what limits HUME |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for r in rows:
        print(f"| {r['set']} ({r['n']}, {r['k']}, {r['restarts']}, {r['encoder_init']}) | "
              + " | ".join(f"{r['score'][c]:.3f} ({r['acc'][c]:.3f})" for c in COLUMNS)
              + f" | {r['score']['truth in space 1'] - r['score']['best restart']:+.3f} "
              + f"| {r['limit']} |")
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
