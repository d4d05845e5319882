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


def vote(aligned: np.ndarray, k: int, reference: int,
         block_rows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote over aligned labelings (R, N) -> labels (N,), agreement (N,) in [0, 1].

    Ties go to the reference restart's label when it is among the tied, else to the lowest id.
    Counted `block_rows` samples at a time (0: as many as keep the (rows, k) counts at 16M
    entries), so k = 1,000 at N = 1.28M needs no (N, k) table.
    """
    r, n = aligned.shape
    b = block_rows or max(1, 2**24 // k)
    labels = np.empty(n, dtype=np.int64)
    agreement = np.empty(n, dtype=np.float32)
    for a in range(0, n, b):
        blk = aligned[:, a : a + b]  # (R, m)
        m = blk.shape[1]
        flat = (np.arange(m)[None, :] * k + blk).reshape(-1)
        counts = np.bincount(flat, minlength=m * k).reshape(m, k).astype(np.float64)
        counts[np.arange(m), blk[reference]] += 0.5  # breaks ties only: counts are integers
        lab = counts.argmax(1)
        labels[a : a + m] = lab
        agreement[a : a + m] = np.floor(counts[np.arange(m), lab]) / r
    return labels, agreement
