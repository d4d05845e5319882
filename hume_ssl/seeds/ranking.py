"""How the consensus rule ranks a cluster's candidates (hume_ssl.seeds.consensus): around one
mode, anchored in the cluster's bulk (mode_order); the share of a row's neighbours in the core
(core_share); and the ranking in words for seeds.json."""

from __future__ import annotations

from typing import Optional

import numpy as np

from hume_ssl.seeds.partitions import kmeans_labels


def closeness(rows, idx: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """(len(idx),) cosine of rows idx to the mean of rows `towards`, summed over the spaces'
    unit rows (rows: (N, d1), (N, d2))."""
    return sum(r[idx] @ r[towards].mean(0) for r in rows)


def bulk(idx: np.ndarray, rows, parts: int, random_state: int) -> np.ndarray:
    """(M',) the rows idx (M,) of one cluster (its core or its members: `bulk_of`) in the
    largest of `parts` k-means parts of them (both spaces' unit rows side by side, as the joint
    partition; ties: the first part); all of them with parts <= 1 or fewer than 2 x parts."""
    if parts <= 1 or len(idx) < 2 * parts:
        return idx
    x = np.concatenate([r[idx] for r in rows], 1) / np.sqrt(len(rows))  # (M, d1 + d2)
    part = kmeans_labels(x, parts, random_state)[0]  # (M,)
    return idx[part == np.bincount(part, minlength=parts).argmax()]


def mode_order(cand: np.ndarray, share: np.ndarray, cent: np.ndarray, rows,
               mode_size: int, eligible: Optional[np.ndarray] = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Ranking of one cluster's candidates (C,) and its key (C,) float32 (higher first).
    mode_size 0: by share (C,), then centrality cent (C,), then index; the key is cent.
    mode_size > 0: the anchor is the first of that order among the `eligible` (C,) bool
    candidates (all when None or none is); the mode is the mode_size candidates nearest the
    anchor (closeness; the anchor first); candidates are ranked by closeness to the mode's mean
    (the key), then by index."""
    order = np.lexsort((cand, -cent, -share))  # (C,) share, centrality, index
    if mode_size == 0 or len(cand) == 0:
        return order, np.asarray(cent, np.float32)
    anchor = order[:1]
    if eligible is not None and eligible[order].any():
        anchor = order[eligible[order]][:1]
    to_anchor = closeness(rows, cand, cand[anchor])  # (C,)
    mode = cand[np.lexsort((cand, -to_anchor))[:mode_size]]  # (<= mode_size,) anchor first
    close = closeness(rows, cand, mode).astype(np.float32)  # (C,)
    return np.lexsort((cand, -close)), close


def ranking_description(mode_size: int, anchor_parts: int = 1,
                        bulk_of: str = "core") -> tuple[str, str]:
    """What mode_order ranks by, in words, and the name of its key (scores_' last column)."""
    if mode_size == 0:
        return ("core kNN share (lower space) desc, then centrality desc, then index",
                "centrality")
    where = (f" in the largest of {anchor_parts} k-means parts of the cluster's {bulk_of}"
             if anchor_parts > 1 else "")
    return (f"closeness to the mean of the {mode_size} candidates nearest the top one{where} "
            "(core kNN share, lower space, then centrality) desc, then index", "mode_closeness")


def core_share(core: np.ndarray, n: int, nbrs: np.ndarray,
               of: Optional[np.ndarray] = None) -> np.ndarray:
    """(R,) share of the neighbours (N, n_neighbors) of each row of `of` (default: the core
    rows themselves) that are core rows."""
    inside = np.zeros(n, bool)
    inside[core] = True
    return inside[nbrs[core if of is None else of]].mean(1).astype(np.float32)
