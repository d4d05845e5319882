"""Label-free restart score: cross-validated balanced accuracy of a linear model on space 2.

For each restart's hard labeling, a ridge classifier on space 2 (one-hot targets, bias) is fit
on all folds but one and predicts the held-out one. At ImageNet size the score is computed on a
fixed random subset of rows (`score_rows`), the same for every restart. The score is the mean
over all k classes of the per-class recall, where a class the labeling never uses counts as
recall 0, so a collapsed restart (fewer than k labels) scores low: a single-cluster labeling
scores 1/k.
All restarts share the folds, so each fold needs one factorisation for every restart.
"""

from __future__ import annotations

import numpy as np
import torch

from hume_ssl.hume.config import SCORE_ROWS_MIN, SCORE_ROWS_PER_CLASS
from hume_ssl.hume.ridge import augment, regulariser, ridge_lambda


@torch.no_grad()
def cv_scores(
    phi2: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    folds: int = 10,
    ridge: float = 0.1,
    random_state: int = 0,
    block_bytes: int = 2**28,
) -> torch.Tensor:
    """phi2 (N, d), labels (R, N) int in [0, k) -> scores (R,) in [0, 1] (higher is better).

    Memory stays bounded at k = 1,000 and R = 100: the one-hot targets are never formed (class
    sums come from index_add), and held-out predictions are made `block_bytes` at a time.
    """
    n, d = phi2.shape
    r = labels.shape[0]
    dt = torch.float64
    dev = phi2.device
    xa = augment(phi2.to(dt))  # (N, D)
    folds = min(folds, n)
    order = torch.from_numpy(np.random.default_rng([random_state, 31]).permutation(n)).to(dev)
    fold_of = torch.empty(n, dtype=torch.long, device=dev)
    fold_of[order] = torch.arange(n, device=dev) % folds
    labels = labels.long()

    def class_sums(x: torch.Tensor, lab: torch.Tensor) -> torch.Tensor:
        """(R, k, D): per restart, the sum of the rows x (m, D) of each class of lab (R, m)."""
        out = torch.zeros(r, k, x.shape[1], dtype=dt, device=dev)
        for i in range(r):
            out[i].index_add_(0, lab[i], x)
        return out

    gram = xa.T @ xa  # (D, D)
    xty = class_sums(xa, labels)  # (R, k, D)
    mean_sq = float((phi2.to(dt) ** 2).sum(1).mean())
    n_fit = int(n * (folds - 1) / folds)
    reg = regulariser(d + 1, ridge_lambda(ridge, n_fit, d, mean_sq), dev, dt)
    correct = torch.zeros(r, k, dtype=dt, device=dev)
    for f in range(folds):
        rows = (fold_of == f).nonzero().squeeze(1)
        xf, truth = xa[rows], labels[:, rows]  # (n_f, D), (R, n_f)
        rhs = (xty - class_sums(xf, truth)).reshape(r * k, -1).T  # (D, R*k)
        w = torch.linalg.solve(gram - xf.T @ xf + reg, rhs)  # (D, R*k)
        step = max(1, block_bytes // (8 * len(rows) * k))  # restarts per prediction block
        for a in range(0, r, step):
            b = min(a + step, r)
            pred = (xf @ w[:, a * k : b * k]).reshape(len(rows), b - a, k).argmax(-1).T
            hit = (pred == truth[a:b]).to(dt)  # (b-a, n_f)
            correct[a:b].scatter_add_(1, truth[a:b], hit)
    counts = torch.zeros(r, k, dtype=dt, device=dev)
    counts.scatter_add_(1, labels, torch.ones_like(labels, dtype=dt))
    recall = torch.where(counts > 0, correct / counts.clamp_min(1), torch.zeros_like(correct))
    return recall.mean(1).float()


def score_rows(n: int, k: int, wanted: int, random_state: int) -> np.ndarray | None:
    """Sorted row subset the score is computed on (None: all rows).

    wanted = 0 picks max(100,000, 400 k) rows: all of CIFAR-size data, 400 rows per class at
    ImageNet size. Measured there (recipes/bench_hume.py --sections score-subsample, H200,
    N = 1.28M, k = 1,000, 100 restarts): Spearman with the all-rows score 0.820 / 0.857 / 0.958
    / 0.977 at 100 / 200 / 400 / 640 rows per class, the same best restart at every size.
    """
    m = wanted if wanted > 0 else max(SCORE_ROWS_MIN, SCORE_ROWS_PER_CLASS * k)
    if m >= n:
        return None
    return np.sort(np.random.default_rng([random_state, 37]).choice(n, m, replace=False))
