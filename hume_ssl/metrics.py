"""Clustering metrics against ground truth (evaluation only): ACC (Hungarian), ARI, NMI."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def hungarian_map(pred: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """Cluster id -> class id maximising agreement (clusters and classes may differ in count)."""
    pred, truth = np.asarray(pred).astype(np.int64), np.asarray(truth).astype(np.int64)
    kp, kt = int(pred.max()) + 1, int(truth.max()) + 1
    c = np.zeros((kp, kt), dtype=np.int64)
    np.add.at(c, (pred, truth), 1)
    rows, cols = linear_sum_assignment(-c)
    return {int(r): int(c_) for r, c_ in zip(rows, cols)}


def cluster_acc(pred: np.ndarray, truth: np.ndarray) -> float:
    pred, truth = np.asarray(pred), np.asarray(truth)
    m = hungarian_map(pred, truth)
    mapped = np.array([m.get(int(p), -1) for p in range(int(pred.max()) + 1)])[pred]
    return float((mapped == truth).mean())


def clustering_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "acc": cluster_acc(pred, truth),
        "ari": float(adjusted_rand_score(truth, pred)),
        "nmi": float(normalized_mutual_info_score(truth, pred)),
    }
