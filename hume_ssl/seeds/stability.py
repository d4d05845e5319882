"""Which clusters the partitions agree on (hume_ssl.seeds.consensus): a cluster's stability is
its mean best Jaccard overlap with the clusters of the other partitions; clusters are accepted
most stable first, none overlapping an accepted one by more than max_overlap; a cluster's core is
its members that every other partition puts in its best match."""

from __future__ import annotations

import numpy as np

PARTITIONS = ("hume", "kmeans1", "kmeans2", "joint", "graph")
STANDS_FOR = {"gaussian": None, "kmeans": "kmeans1"}  # by HUME's encoder_init: the k-means
# partition its own stands for (left out while HUME's partition is in), None: none


def most_stable_state(kmeans: list[tuple[int, dict]], hume_labels, k: int, max_overlap: float):
    """The partitions (HUME's labels, unless None, then the k-means ones of one state) and
    accepted clusters of the k-means state (kmeans_partitions) whose accepted clusters have the
    highest mean stability (ties: the first), and [{random_state, mean_stability}] per state."""
    hume = {} if hume_labels is None else {"hume": np.asarray(hume_labels, np.int64)}
    best, tried = None, []
    for state, km in kmeans:
        parts = {**hume, **km}  # PARTITIONS' order: ties in stable_clusters go by it
        clusters = stable_clusters(parts, k, max_overlap)
        score = float(np.mean([c["stability"] for c in clusters]))
        tried.append({"random_state": state, "mean_stability": round(score, 4)})
        if best is None or score > best[0]:
            best = (score, parts, clusters)
    return best[1], best[2], tried


def best_matches(a: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For every cluster of partition a: (k,) its best Jaccard overlap with a cluster of b, and
    that cluster's id."""
    both = np.zeros((k, k))
    np.add.at(both, (a, b), 1)
    size_a, size_b = both.sum(1), both.sum(0)
    jac = both / np.maximum(size_a[:, None] + size_b[None, :] - both, 1)
    return jac.max(1), jac.argmax(1)


def stable_clusters(parts: dict, k: int, max_overlap: float) -> list[dict]:
    """The accepted clusters, most stable first: {source, id, stability, members (M,) int64,
    core (C,) int64, matches {partition: its best-matching cluster id}}."""
    names = list(parts)
    matches = {(a, b): best_matches(parts[a], parts[b], k) for a in names for b in names
               if a != b}
    pool = []
    for a in names:
        present = np.bincount(parts[a], minlength=k) > 0
        stab = np.mean([matches[a, b][0] for b in names if b != a], 0)  # (k,)
        pool += [(float(stab[c]), names.index(a), c) for c in range(k) if present[c]]
    pool.sort(key=lambda t: (-t[0], t[1], t[2]))  # ties: partition order, then cluster id
    n = len(parts[names[0]])
    owner = np.full(n, -1, np.int64)  # accepted cluster holding each row (the first one)
    accepted: list[dict] = []
    for stab, ai, c in pool:
        if len(accepted) == k:
            break
        a = names[ai]
        members = np.nonzero(parts[a] == c)[0]
        if _overlaps(members, owner, accepted, max_overlap):
            continue
        agree = {b: int(matches[a, b][1][c]) for b in names if b != a}
        in_all = np.ones(len(members), bool)
        for b, cb in agree.items():
            in_all &= parts[b][members] == cb
        owner[members[owner[members] < 0]] = len(accepted)
        accepted.append({"source": a, "id": int(c), "stability": stab, "members": members,
                         "core": members[in_all], "matches": agree})
    return accepted


def _overlaps(members: np.ndarray, owner: np.ndarray, accepted: list[dict], limit: float) -> bool:
    """Whether `members` overlap an accepted cluster by more than `limit` (Jaccard)."""
    held = owner[members]
    held = held[held >= 0]
    for j, shared in zip(*np.unique(held, return_counts=True)):
        other = len(accepted[j]["members"])
        if shared / (len(members) + other - shared) > limit:
            return True
    return False
