"""Expected seed precision, label-free: each consensus cluster's stability (hume_ssl.seeds.
consensus) looked up in a table of how often seeds of clusters that stable were right on the
seed benchmark's sets, where the labels are known.

The table (BIN_COUNTS) is printed by `python recipes/seed_benchmark.py --out DIR` (section
"expected precision"), which also checks it leaving one set out: the interval printed for each
left-out set, from the other sets' table, against the precision measured there. A cluster's
precision is drawn from Beta(1 + right, 1 + wrong) of its stability bin, its seeds from a
binomial; the interval is the 5th..95th percentile of the seeds' precision over those draws.
Outside the kinds of data the benchmark holds (digits, Fashion-MNIST, CIFAR-10 features) the
figure is an estimate, not a guarantee.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

STABILITY_EDGES = (0.4, 0.6, 0.8)  # bins: < 0.4, 0.4..0.6, 0.6..0.8, >= 0.8
# (right, taken) seeds at 4 per cluster, per stability bin, over the benchmark's sets (11 of
# them: effnet-moco was not fitted in time; 2026-12-02, README "How far to trust seeds")
BIN_COUNTS = ((34, 45), (64, 73), (91, 104), (48, 48))
INTERVAL = (5.0, 95.0)  # percentiles


def stability_bin(stability) -> np.ndarray:
    """Bin index (0..len(STABILITY_EDGES)) of each stability."""
    return np.searchsorted(np.asarray(STABILITY_EDGES), np.asarray(stability), side="right")


def bin_counts(stability: Sequence[float], right: Sequence[int], taken: Sequence[int]):
    """((right, taken) per bin): the table, from clusters' stability and their seeds."""
    b = stability_bin(stability)
    nb = len(STABILITY_EDGES) + 1
    r = np.bincount(b, weights=np.asarray(right, np.float64), minlength=nb)
    t = np.bincount(b, weights=np.asarray(taken, np.float64), minlength=nb)
    return tuple((int(x), int(y)) for x, y in zip(r, t))


def expected_precision(stability: Sequence[float], seeds: Sequence[int], k: int,
                       counts: Optional[Sequence[tuple[int, int]]] = None,
                       n_draws: int = 4000, random_state: int = 0) -> dict:
    """{"overall": {expected, low, high, chance_corrected}, "clusters": [{expected, low,
    high}], "table": counts, "note"} for clusters of the given stabilities holding `seeds`
    seeds each. chance_corrected = (p - 1/k) / (1 - 1/k): 0 is what random labels give (the
    figure to read for k = 2, where half the seeds are right by chance)."""
    counts = BIN_COUNTS if counts is None else counts
    stability, seeds = np.asarray(stability, np.float64), np.asarray(seeds, np.int64)
    rng = np.random.default_rng(random_state)
    right = np.array([c[0] for c in counts], np.float64)
    wrong = np.array([c[1] - c[0] for c in counts], np.float64)
    b = stability_bin(stability)
    p = rng.beta(1 + right[b], 1 + wrong[b], size=(n_draws, len(b)))  # (draws, clusters)
    hits = rng.binomial(seeds[None, :], p)  # (draws, clusters)
    clusters = [_summary(p[:, j], k) for j in range(len(b))]
    total = int(seeds.sum())
    overall = _summary(hits.sum(1) / total, k) if total else None
    return {"overall": overall, "clusters": clusters, "table": [list(c) for c in counts],
            "note": "label-free estimate from each cluster's stability, calibrated on "
                    "recipes/seed_benchmark.py's sets; the interval is 90%"}


def _summary(draws: np.ndarray, k: int) -> dict:
    lo, hi = np.percentile(draws, INTERVAL)
    mean = float(draws.mean())
    return {"expected": round(mean, 4), "low": round(float(lo), 4), "high": round(float(hi), 4),
            "chance_corrected": round((mean - 1 / k) / (1 - 1 / k), 4)}
