"""Exact duplicate rows: one image stored twice (a scraped set, a copied file) has the same
features in both spaces. Its copies are each other's nearest neighbours, so the kNN terms rank
them high, and a cluster's seeds could be copies of one image: fewer distinct labeled images
than asked for. The seed rules take one row of each group (`first_distinct`).

    groups = duplicate_groups(x1, x2)        # (N,) the first row equal to each row
    pos = first_distinct(ranked, groups, 4)  # positions in `ranked` of its first 4 groups
"""

from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np


def duplicate_groups(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """(N,) int64: for each row, the lowest row index whose features equal its own, byte for
    byte, in both spaces (itself when none does). A 128-bit hash of each row pair; memory-mapped
    inputs are read one row at a time, never loaded whole."""
    n = len(x1)
    keys = np.empty((n, 2), np.uint64)  # (N, 2) the hash of row i of x1 and of x2
    for i in range(n):
        h = hashlib.blake2b(digest_size=16)
        h.update(np.ascontiguousarray(x1[i]).tobytes())
        h.update(np.ascontiguousarray(x2[i]).tobytes())
        keys[i] = np.frombuffer(h.digest(), np.uint64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)


def n_duplicates(groups: np.ndarray) -> int:
    """Rows that repeat an earlier row (N minus the number of groups)."""
    return int(len(groups) - len(np.unique(groups)))


def first_distinct(ranked: np.ndarray, groups: Optional[np.ndarray], n: int) -> np.ndarray:
    """Positions in `ranked` (row indices, best first) of the best row of each of its first `n`
    groups, in rank order: a copy of a row already taken is passed over. groups None: the
    first n positions."""
    if groups is None:
        return np.arange(min(n, len(ranked)))
    _, first = np.unique(groups[np.asarray(ranked, np.int64)], return_index=True)
    return np.sort(first)[:n]
