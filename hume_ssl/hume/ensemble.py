"""Aligning labelings to one another (Hungarian) and voting."""

from __future__ import annotations

import numpy as np

from hume_ssl.core.metrics import contingency, match_counts


def match(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """perm (k,) such that perm[a] agrees with b on as many samples as possible."""
    rows, cols = match_counts(contingency(a, b, k))
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return perm


def align(labelings: np.ndarray, reference: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Relabel every restart (R, N) to best agree with restart `reference`.

    Returns the aligned labelings (R, N) and the permutations (R, k) applied (perm[r][old]=new).
    """
    ref = labelings[reference]
    perms = np.stack([match(lab, ref, k) for lab in labelings])
    aligned = np.take_along_axis(perms, labelings.astype(np.int64), axis=1)
    return aligned, perms


def vote(aligned: np.ndarray, k: int, reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote over aligned labelings (R, N) -> labels (N,), agreement (N,) in [0, 1].

    Ties go to the reference restart's label when it is among the tied, else to the lowest id.
    """
    r, n = aligned.shape
    counts = np.zeros((n, k), dtype=np.float64)
    np.add.at(counts, (np.tile(np.arange(n), r), aligned.reshape(-1)), 1.0)
    bonus = np.zeros_like(counts)
    bonus[np.arange(n), aligned[reference]] = 0.5  # breaks ties only: counts are integers
    labels = (counts + bonus).argmax(1)
    agreement = counts[np.arange(n), labels] / r
    return labels.astype(np.int64), agreement.astype(np.float32)
