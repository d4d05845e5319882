"""Label-free restart score: cross-validated balanced accuracy of a linear model on space 2.

For each restart's hard labeling, a ridge classifier on space 2 (one-hot targets, bias) is fit
on k-1 folds and predicts the held-out fold. The score is the mean over all k classes of the
per-class recall, where a class the labeling never uses counts as recall 0, so a collapsed
restart (fewer than k labels) scores low: a single-cluster labeling scores 1/k.
All restarts share the folds, so each fold needs one factorisation for every restart.
"""

from __future__ import annotations

import numpy as np
import torch

from hume_ssl.hume.ridge import augment, regulariser, ridge_lambda


@torch.no_grad()
def cv_scores(
    phi2: torch.Tensor,
    labels: torch.Tensor,
    k: int,
    folds: int = 10,
    ridge: float = 0.1,
    random_state: int = 0,
) -> torch.Tensor:
    """phi2 (N, d), labels (R, N) int in [0, k) -> scores (R,) in [0, 1] (higher is better)."""
    n, d = phi2.shape
    r = labels.shape[0]
    dt = torch.float64
    xa = augment(phi2.to(dt))  # (N, D)
    folds = min(folds, n)
    order = torch.from_numpy(np.random.default_rng([random_state, 31]).permutation(n)).to(
        phi2.device
    )
    fold_of = torch.empty(n, dtype=torch.long, device=phi2.device)
    fold_of[order] = torch.arange(n, device=phi2.device) % folds
    y = torch.nn.functional.one_hot(labels.long(), k).to(dt).permute(1, 0, 2).reshape(n, r * k)
    gram = xa.T @ xa  # (D, D)
    xty = xa.T @ y  # (D, R*k)
    mean_sq = float((phi2.to(dt) ** 2).sum(1).mean())
    n_fit = int(n * (folds - 1) / folds)
    reg = regulariser(d + 1, ridge_lambda(ridge, n_fit, d, mean_sq), phi2.device, dt)
    correct = torch.zeros(r, k, dtype=dt, device=phi2.device)
    for f in range(folds):
        rows = (fold_of == f).nonzero().squeeze(1)
        xf, yf = xa[rows], y[rows]
        w = torch.linalg.solve(gram - xf.T @ xf + reg, xty - xf.T @ yf)  # (D, R*k)
        pred = (xf @ w).reshape(len(rows), r, k).argmax(-1).T  # (R, n_f)
        truth = labels[:, rows].long()
        hit = (pred == truth).to(dt)
        correct.scatter_add_(1, truth, hit)
    counts = torch.nn.functional.one_hot(labels.long(), k).sum(1).to(dt)  # (R, k)
    recall = torch.where(counts > 0, correct / counts.clamp_min(1), torch.zeros_like(correct))
    return recall.mean(1).float()
