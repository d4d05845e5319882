"""Expected seed precision, label-free: each consensus cluster's stability (hume_ssl.seeds.
consensus) looked up in a table of how often seeds of clusters that stable were right on the
seed benchmark's sets, where the labels are known.

The table (BIN_COUNTS) is printed by `python recipes/seed_benchmark.py --out DIR --states 5`
(section "expected precision"; the shipped one with the flags of its day, below), which also
checks it leaving one set out: the interval printed for each left-out set, from the other sets'
table, against the precision measured there.

The unit of error is the cluster, not the seed: a cluster whose seeds carry the wrong label
(a split or merged class) has all of them wrong, so seeds are not independent draws. A bin's
table entry is (right, clusters): the summed precision of its clusters' seeds, and how many
clusters held seeds. A bin's chance of a right cluster is drawn from Beta(1 + right, 1 +
clusters - right), once per draw for all clusters of that stability bin (the table's own
uncertainty, shared by them), each cluster right (all its seeds) or wrong with that chance; the
interval is the 5th..95th percentile of the seeds' precision over those draws,
taken as values the precision can take (a few clusters give a few possible values; a bound
interpolated between two of them would cover less than 90%).
Seeds a cluster was topped up with (`--shortage fill`: not candidates, hume_ssl.seeds.consensus)
are looked up in a table of their own (FILL_COUNTS: clusters whose top 4 were all filled); a
cluster with both is two such units. That table was counted on the top 4 of each cluster, the
most central rows of its core: seeds filled deeper (a large --per-class reaching the cluster's
outer members) are likely right less often than it says.
Outside the kinds of data the benchmark holds (digits, Fashion-MNIST, CIFAR-10 features) the
figure is an estimate, not a guarantee.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

STABILITY_EDGES = (0.4, 0.6, 0.8)  # bins: < 0.4, 0.4..0.6, 0.6..0.8, >= 0.8
# (right, clusters) per stability bin at 4 seeds per cluster, over the benchmark's 12 sets x 5
# k-means random states, on HUME fits with the k-means start (random state 0), where HUME's
# partition stands for k-means of space 1 (the shipped default): `python recipes/seed_benchmark.py
# --out DIR --reuse-only --states 5 --min-support 0 --bulk-of members --no-graph-partition` (the
# rule of that day; CLAIMS.md S2n) on the fits of `--encoder-init kmeans` (2026-12-03, 2-core
# CPU; docs/seed_evidence.md "HUME standing for k-means of space 1"). Kept for the rule shipped
# since: on its fits the interval from this table holds 60 of 60 set-states, and the recipe's
# left-out recounts (which differ from it: CLAIMS.md S2s) 60 of 60 too (S2w), both with the
# interval before 2026-12-07; with the interval now, on fit 0 with 3 states, 36 of 36, each set
# left out 36 of 36, each data source left out 36 of 36 (S2zg). The table before,
# counted on Gaussian-start fits with all four partitions, was ((82.42, 90), (86.25, 117),
# (113.75, 127), (61.25, 62)): three partitions give lower stabilities, and it held 58 of these
# 60 set-states.
BIN_COUNTS = ((68.25, 97), (123.75, 159), (145.75, 158), (81.5, 84))
# (right, clusters) of the clusters whose top 4 were all filled (--shortage fill: no candidate)
# over the 12 sets x 5 states of the Gaussian-start HUME fits (all four partitions), `python
# recipes/seed_benchmark.py --out DIR --reuse-only --states 5 --shortage fill` (2026-12-03;
# docs/seed_evidence.md "What the seeds teach"). Kept for the shipped rule: on its k-means-start
# fits (the same command there) only 35 clusters were filled entirely, 16.25 right; with this table
# 60 of their 60 set-states lie inside the interval (`--tables-only`), and with theirs (16.25, 35)
# the Gaussian fits' would hold 56 of 60
FILL_COUNTS = (84.5, 137)
INTERVAL = (5.0, 95.0)  # percentiles
CALIBRATED_PER_CLASS = 4  # the tables count each cluster's top 4 seeds
SCOPE = (f"calibrated at {CALIBRATED_PER_CLASS} seeds per cluster on recipes/seed_benchmark.py's "
         "sets (digits, Fashion-MNIST, CIFAR-10 features; k 2 to 10)")


def stability_bin(stability) -> np.ndarray:
    """Bin index (0..len(STABILITY_EDGES)) of each stability."""
    return np.searchsorted(np.asarray(STABILITY_EDGES), np.asarray(stability), side="right")


def bin_counts(stability: Sequence[float], right: Sequence[int], taken: Sequence[int]):
    """((right, clusters) per bin): the table, from clusters' stability and their seeds right
    of taken; right sums each cluster's precision (right / taken), clusters without seeds
    don't count."""
    taken = np.asarray(taken, np.float64)
    held = taken > 0
    b = stability_bin(np.asarray(stability, np.float64)[held])
    prec = np.asarray(right, np.float64)[held] / taken[held]
    nb = len(STABILITY_EDGES) + 1
    r = np.bincount(b, weights=prec, minlength=nb)
    n = np.bincount(b, minlength=nb)
    return tuple((round(float(x), 2), int(y)) for x, y in zip(r, n))


def expected_precision(stability: Sequence[float], seeds: Sequence[int], k: int,
                       counts: Optional[Sequence[tuple[float, int]]] = None,
                       n_draws: int = 4000, random_state: int = 0,
                       filled: Optional[Sequence[int]] = None,
                       fill_counts: Optional[tuple[float, int]] = None,
                       per_class: Optional[int] = None) -> dict:
    """{"overall": {expected, low, high, chance_corrected}, "clusters": [{expected, low,
    high}], "table": counts, "note", "caveat"} for clusters of the given stabilities holding
    `seeds` seeds each, `filled` (default none) of them topped up (looked up in fill_counts,
    default FILL_COUNTS). chance_corrected = (p - 1/k) / (1 - 1/k): 0 is what random labels give
    (the figure to read for k = 2, where half the seeds are right by chance). per_class: the
    seeds asked per cluster; above CALIBRATED_PER_CLASS the caveat says the figure runs high."""
    counts = BIN_COUNTS if counts is None else counts
    stability, seeds = np.asarray(stability, np.float64), np.asarray(seeds, np.int64)
    filled = np.zeros_like(seeds) if filled is None else np.asarray(filled, np.int64)
    fill_counts = FILL_COUNTS if fill_counts is None else fill_counts
    rng = np.random.default_rng(random_state)
    table = list(counts) + ([fill_counts] if filled.any() else [])
    right = np.array([c[0] for c in table], np.float64)
    wrong = np.array([c[1] - c[0] for c in table], np.float64)
    m, topped = len(seeds), np.flatnonzero(filled > 0)
    b = np.concatenate([stability_bin(stability), np.full(len(topped), len(counts))])
    n_units = np.concatenate([seeds - filled, filled[topped]])  # candidate parts, filled parts
    # each bin's chance of a right cluster, drawn once per draw and shared by the bin's units: the
    # table's own uncertainty (a draw per unit would average it away: a coin at the bin's mean)
    p = rng.beta(1 + right, 1 + wrong, size=(n_draws, len(table)))[:, b]  # (draws, units)
    ok = rng.random(p.shape) < p  # (draws, units): a unit's seeds all right, or all wrong
    part = p[:, :m].copy()  # (draws, clusters): a cluster's expected share of right seeds
    part[:, topped] = ((p[:, topped] * (seeds - filled)[topped] + p[:, m:] * filled[topped])
                       / np.maximum(seeds[topped], 1))
    clusters = [_summary(part[:, j], k) for j in range(m)]
    total = int(seeds.sum())
    overall = _summary((ok * n_units[None, :]).sum(1) / total, k) if total else None
    caveat = None
    if per_class is not None and per_class > CALIBRATED_PER_CLASS:
        caveat = (f"--per-class {per_class}: the table counts the top {CALIBRATED_PER_CLASS} "
                  "seeds of each cluster, and seeds deeper in a cluster's ranking were right "
                  "less often on most benchmark sets: read it as an upper estimate")
    return {"overall": overall, "clusters": clusters, "table": [list(c) for c in counts],
            "fill_table": list(fill_counts) if filled.any() else None,
            "note": "label-free estimate from each cluster's stability"
                    + (" (filled seeds: how often filled seeds were right)" if filled.any()
                       else "") + f", {SCOPE}; the interval is 90%",
            "caveat": caveat}


def _summary(draws: np.ndarray, k: int) -> dict:
    lo, hi = np.percentile(draws, INTERVAL, method="inverted_cdf")  # attainable values
    mean = float(draws.mean())
    return {"expected": round(mean, 4), "low": round(float(lo), 4), "high": round(float(hi), 4),
            "chance_corrected": round((mean - 1 / k) / (1 - 1 / k), 4)}
