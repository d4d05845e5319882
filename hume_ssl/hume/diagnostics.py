"""Label-free diagnostics of a HUME ensemble, and a verdict on how far to trust it.

Everything here uses the restarts' labelings and scores only (never ground truth):
    agreement   distribution of the share of restarts voting for each sample's ensemble label
    ARI         mean adjusted Rand index between pairs of restarts (how alike the labelings are)
    scores      spread of the label-free restart scores
    clusters    size and mean agreement of every ensemble cluster (+ seed candidates, kNN share
                when `seed` adds them)
The verdict compares `agreement.majority` (the share of samples a majority of restarts agree
on, beyond chance: majority_level) with a threshold calibrated on recipes/seed_benchmark.py,
where seed precision is known:
see docs/seed_evidence.md "The verdict's threshold" for the table it was chosen on. A cluster
is flagged weak when the same share within it falls below the threshold, or (in `seed`) when it
has fewer candidates than seeds asked for.
"""

from __future__ import annotations

import math

import numpy as np

from hume_ssl.core.metrics import contingency

# Calibrated on recipes/seed_benchmark.py's 12 sets (`--tables-only` on HUME fits with the
# k-means start, random state 0; leave one set out): "unreliable" must be said where HUME's
# ensemble ACC < 0.5 and must not where it is >= 0.65. The k-means start makes restarts agree
# more: must-warn sets had 0.42-0.58 of their samples with a restart majority (effnet-squeeze:
# 0.58 at ACC 0.49), must-pass sets 0.74-1.00; midpoint 0.662, right on every set left out.
# The earlier 0.48 (chosen on Gaussian-start fits) called cifar-10 (ACC 0.41) and effnet-squeeze
# reliable. Out of sample, HUME random state 1 (7 sets): right on all; Gaussian-start fits: wrong
# on digits-noise1 only (ACC 0.654, a majority on 0.33), as 0.48 was. With k = 2 more than half
# the votes is almost automatic: there a majority is counted beyond chance (majority_level).
RELIABLE_MAJORITY = 0.66  # share of samples with a restart majority needed for "reliable"
MAJORITY_K2 = 0.75  # k = 2: the agreement whose chance-corrected value (a - 1/2) / (1/2) is 0.5
MAX_ARI_RESTARTS = 30  # pairwise ARI over at most this many restarts (435 pairs)
MAX_ARI_ROWS = 100_000  # ... on at most this many rows (a fixed random subset)


def ari_from_counts(c: np.ndarray) -> float:
    """Adjusted Rand index from a contingency table (Hubert & Arabie, 1985)."""
    c = c.astype(np.float64)
    n = c.sum()

    def pairs(x):
        return float((x * (x - 1) / 2).sum())

    sum_ij, sum_a, sum_b = pairs(c), pairs(c.sum(1)), pairs(c.sum(0))
    expected = sum_a * sum_b / (n * (n - 1) / 2)
    top = (sum_a + sum_b) / 2 - expected
    return 1.0 if top == 0 else float((sum_ij - expected) / top)


def pairwise_ari(labelings: np.ndarray, k: int, random_state: int = 0) -> dict:
    """Mean ARI over pairs of restarts (R, N). `mean` is None (with a reason) for one restart."""
    r, n = labelings.shape
    if r < 2:
        return {"mean": None, "reason": "one restart: no pairs to compare"}
    rng = np.random.default_rng([random_state, 53])
    rs = np.sort(rng.choice(r, MAX_ARI_RESTARTS, replace=False)) if r > MAX_ARI_RESTARTS \
        else np.arange(r)
    rows = np.sort(rng.choice(n, MAX_ARI_ROWS, replace=False)) if n > MAX_ARI_ROWS else None
    lab = labelings[rs] if rows is None else labelings[rs][:, rows]
    vals = [ari_from_counts(contingency(lab[i], lab[j], k))
            for i in range(len(rs)) for j in range(i + 1, len(rs))]
    return {"mean": float(np.mean(vals)), "min": float(np.min(vals)), "pairs": len(vals),
            "restarts_used": int(len(rs)), "rows_used": int(lab.shape[1])}


def majority_level(k: int) -> float:
    """The restart agreement above which a sample has a restart majority: 0.5 (more than half
    the restarts) for k >= 3; for k = 2 MAJORITY_K2, a chance-corrected agreement above 0.5,
    since with two labels every sample has half the votes or more by construction (restarts of
    random labels: more than half on ~92% of samples at 100 restarts, which 0.5 would call
    reliable)."""
    return MAJORITY_K2 if k == 2 else 0.5


def restart_majority(agreement: np.ndarray, k: int) -> float:
    """Share of samples (N,) that a majority of restarts agree on (agreement >
    majority_level(k)): the statistic the verdict compares with RELIABLE_MAJORITY."""
    return float((np.asarray(agreement) > majority_level(k)).mean())


def diagnose(
    labels: np.ndarray,
    agreement: np.ndarray,
    labelings: np.ndarray,
    scores: np.ndarray,
    k: int,
    random_state: int = 0,
) -> dict:
    """The diagnostics object of a HUME ensemble (strict-JSON ready), verdict included.

    labels (N,) ensemble labels; agreement (N,); labelings (R, N) aligned; scores (R,).
    """
    r = labelings.shape[0]
    sizes = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=agreement, minlength=k)
    level = majority_level(k)
    majority = np.bincount(labels, weights=(agreement > level).astype(np.float64), minlength=k)
    clusters = []
    for c in range(k):
        if sizes[c] == 0:
            clusters.append({"cluster": c, "size": 0, "mean_agreement": None,
                             "share_majority": None, "reliable": False,
                             "reason": "no sample has this ensemble label"})
            continue
        share_c = float(majority[c] / sizes[c])
        clusters.append({"cluster": c, "size": int(sizes[c]),
                         "mean_agreement": float(sums[c] / sizes[c]), "share_majority": share_c,
                         "reliable": share_c >= RELIABLE_MAJORITY})
        if share_c < RELIABLE_MAJORITY:
            clusters[-1]["reason"] = (f"a restart majority on {percent_below(share_c)} of its "
                                      f"samples (< {100 * RELIABLE_MAJORITY:.0f}%)")
    diag = {
        "n_restarts": int(r),
        "agreement": {
            "mean": float(agreement.mean()),
            "majority": restart_majority(agreement, k),  # what the verdict judges
            "majority_level": level,
            "above_0.5": float((agreement > 0.5).mean()),
            "at_least_0.9": float((agreement >= 0.9).mean()),
            "all_1.0": float((agreement >= 1.0).mean()),
        },
        "pairwise_ari": pairwise_ari(labelings, k, random_state),
        "scores": _spread(scores),
        "cluster_sizes": sizes.tolist(),
        "empty_clusters": [c for c in range(k) if sizes[c] == 0],
        "clusters": clusters,
    }
    diag.update(verdict(diag))
    return diag


def _spread(scores: np.ndarray) -> dict:
    s = np.asarray(scores, dtype=np.float64)
    return {"min": float(s.min()), "median": float(np.median(s)), "max": float(s.max()),
            "std": float(s.std()), "best_minus_median": float(s.max() - np.median(s))}


def percent_below(share: float, limit: float = RELIABLE_MAJORITY) -> str:
    """A share under `limit` as a percentage: whole percent, or as many decimals (up to 3) as
    keep it under the limit's own figure (0.6586 reads "65.9%", not "66%" beside "< 66%");
    past 3 decimals cut, not rounded, so it never reads as the limit."""
    for digits in range(4):
        text = f"{100 * share:.{digits}f}"
        if float(text) < 100 * limit:
            return text + "%"
    return f"{math.floor(100 * share * 1000) / 1000:.3f}%"


def verdict(diag: dict) -> dict:
    """{"verdict": "reliable" | "unreliable" | "uncertain" (one restart: cannot be judged),
    "message": plain words with the fix it suggests}."""
    share = diag["agreement"]["majority"]
    bad = [c["cluster"] for c in diag["clusters"] if not c["reliable"]]
    if diag["n_restarts"] < 2:
        return {"verdict": "uncertain",
                "message": "one restart: agreement cannot be judged; run 20 or more restarts."}
    level = diag["agreement"]["majority_level"]
    beyond = f" beyond chance (agreement > {level:g})" if level == MAJORITY_K2 else ""
    if share >= RELIABLE_MAJORITY:
        msg = f"a majority of restarts agree{beyond} on {100 * share:.0f}% of samples"
        if bad:
            msg += (f"; HUME's clusters {bad} (ids of its labels.npy) are weak: look at their "
                    "samples before using them")  # (seed's contact sheets number its own)
        return {"verdict": "reliable", "message": msg + "."}
    return {"verdict": "unreliable", "message": (
        f"restarts disagree on {100 * (1 - share):.0f}% of samples (a majority agrees{beyond} "
        f"on {percent_below(share)}, reliable runs reach {100 * RELIABLE_MAJORITY:.0f}%): these "
        "spaces are probably too weak for HUME and many of its labels (and seeds drawn from "
        "them) may be wrong; try a stronger backbone, `hume-ssl pretrain`, or fewer classes.")}


def with_seeds(diag: dict, candidates: np.ndarray, knn_share: np.ndarray, labels: np.ndarray,
               per_class: int) -> dict:
    """`diag` plus the seed stage's evidence: candidates and mean kNN consistency per cluster,
    the share of clusters with `per_class` candidates, and the verdict re-judged with them."""
    k = len(candidates)
    sizes = np.bincount(labels, minlength=k)
    knn_sum = np.bincount(labels, weights=knn_share, minlength=k)
    out = {**diag, "clusters": [dict(c) for c in diag["clusters"]]}
    for c, cl in enumerate(out["clusters"]):
        cl["candidates"] = int(candidates[c])
        cl["mean_knn"] = float(knn_sum[c] / sizes[c]) if sizes[c] else None
        if candidates[c] < per_class:
            cl["reliable"] = False
            cl["reason"] = f"{int(candidates[c])} candidates, fewer than {per_class}"
    out["clusters_full"] = float(np.mean(candidates >= per_class))
    out["per_class"] = int(per_class)
    out.update(verdict(out))
    return out
