"""Matching clusterings (the one Hungarian assignment) and metrics against ground truth.

`match_counts` is the single place a cluster-to-class (or restart-to-restart) matching is
solved: ensemble alignment, ACC, and the FixMatch accuracies all go through it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def contingency(a: np.ndarray, b: np.ndarray, ka: int, kb: int | None = None) -> np.ndarray:
    """(ka, kb) counts c[i, j] = #{n : a[n] = i and b[n] = j}."""
    kb = ka if kb is None else kb
    a, b = np.asarray(a).astype(np.int64), np.asarray(b).astype(np.int64)
    return np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb)


def match_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the matching that maximises the matched counts (Hungarian)."""
    rows, cols = linear_sum_assignment(-np.asarray(counts))
    return rows, cols


def hungarian_map(pred: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """Cluster id -> class id maximising agreement (clusters and classes may differ in count)."""
    pred, truth = np.asarray(pred).astype(np.int64), np.asarray(truth).astype(np.int64)
    if pred.size == 0:
        return {}
    rows, cols = match_counts(contingency(pred, truth, int(pred.max()) + 1, int(truth.max()) + 1))
    return {int(r): int(c) for r, c in zip(rows, cols)}


def accuracy_from_counts(counts: np.ndarray, aligned: bool = False) -> float | None:
    """Accuracy from a (k predicted, C true) count matrix: the diagonal when the ids already
    agree (`aligned`), else after the Hungarian map. None when there is nothing to count."""
    counts = np.asarray(counts)
    total = counts.sum()
    if total == 0:
        return None
    if aligned:
        n = min(counts.shape)
        return float(np.trace(counts[:n, :n]) / total)
    rows, cols = match_counts(counts)
    return float(counts[rows, cols].sum() / total)


def cluster_acc(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """ACC: accuracy after the best one-to-one map of clusters to classes (None if empty)."""
    pred, truth = np.asarray(pred).astype(np.int64), np.asarray(truth).astype(np.int64)
    if pred.size == 0:
        return None
    counts = contingency(pred, truth, int(pred.max()) + 1, int(truth.max()) + 1)
    return accuracy_from_counts(counts)


def label_accuracy(pred: np.ndarray, truth: np.ndarray, aligned: bool) -> float | None:
    """The accuracy of predicted ids against the truth: plain where the ids are the truth's
    class ids (`aligned`: a model trained on ground truth), else ACC (cluster ids, Hungarian
    map). None if empty. ACCURACY_KIND[aligned] names it."""
    pred, truth = np.asarray(pred).astype(np.int64), np.asarray(truth).astype(np.int64)
    if pred.size == 0:
        return None
    return float(np.mean(pred == truth)) if aligned else cluster_acc(pred, truth)


ACCURACY_KIND = {True: "accuracy", False: "ACC after Hungarian map"}  # by label_accuracy's aligned

Z95 = 1.959964  # the standard normal's 97.5% quantile: two-sided 95% intervals


def accuracy_interval(acc: float | None, n: int) -> list[float] | None:
    """[low, high], the 95% Wilson score interval of an accuracy measured on n images: how far
    it moves with the images drawn, not from one training run to the next; None without an
    accuracy or images. Wilson's, not acc +- 1.96 sd: it stays inside [0, 1] and is not empty at
    0 or 1 (a 1.000 on 30 images is 0.886..1.000)."""
    if acc is None or n <= 0:
        return None
    centre = (acc + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 / (1 + Z95 ** 2 / n) * np.sqrt(acc * (1 - acc) / n + Z95 ** 2 / (4 * n * n))
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def clustering_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "acc": cluster_acc(pred, truth),
        "ari": float(adjusted_rand_score(truth, pred)),
        "nmi": float(normalized_mutual_info_score(truth, pred)),
    }
