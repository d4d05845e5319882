"""The consensus seed rule: seeds from the clusters that HUME and k-means in each space agree on.

The partitions (seeds/partitions.py: HUME's labels, k-means of each space and of both, the
spectral clustering of both spaces' kNN graph) vote on clusters: a cluster's stability is its
mean best Jaccard overlap with the other partitions' clusters, the most stable are accepted,
and a cluster's core is its members every partition puts in it (seeds/stability.py). A core
member is a candidate when most of its neighbours are core members too, in each space; clusters
under --min-stability or --min-support give none (seeds/cuts.py). Candidates are ranked around
one mode of the cluster, anchored in its bulk (seeds/ranking.py); the top `per_class` are the
seeds, topped up from the core with `shortage` fill. When HUME's partition leaves fewer than
MIN_SEEDED clusters with candidates, the rule runs on the k-means partitions alone.

The rule in full, with why each step is there: docs/consensus_rule.md; the evidence behind each
default: docs/seed_evidence.md.

    sel = ConsensusSelector(per_class=4).fit(x1, x2, hume.labels_, k, agreement=hume.agreement_)
    sel.indices_, sel.pseudo_labels_, sel.evidence()   # seeds, their clusters, what they rest on
    sel.expected_precision()["overall"]                # label-free: how far to trust them
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError, NotFittedError
from hume_ssl.core.io import (
    check_features,
    check_k,
    check_labels,
    check_not_constant,
    check_shares,
)
from hume_ssl.core.params import moved
from hume_ssl.hume.diagnostics import RELIABLE_MAJORITY, restart_majority
from hume_ssl.seeds.calibration import expected_precision
from hume_ssl.seeds.config import RuleSelector, SeedConfig
from hume_ssl.seeds.cuts import gives_no_seeds, why_short
from hume_ssl.seeds.duplicates import duplicate_groups, first_distinct
from hume_ssl.seeds.partitions import (
    graph_embedding,
    kmeans_partitions,
    space_neighbours,
    space_rows,
)
from hume_ssl.seeds.ranking import bulk, closeness, core_share, mode_order
from hume_ssl.seeds.stability import STANDS_FOR, most_stable_state

MIN_SEEDED = 2  # clusters holding seeds below which HUME's partition is left out (a classifier
# needs two classes: fewer is nothing to train on)


def agreement_floor(agreement: Optional[np.ndarray], quantile: float, k: int
                    ) -> Optional[float]:
    """The HUME restart agreement (N,) a candidate needs: the `quantile` quantile of all rows'
    agreement where HUME is reliable (a restart majority on >= RELIABLE_MAJORITY of rows, the
    verdict's rule for k classes), else None (no floor; also without agreement or at quantile
    0)."""
    if agreement is None or quantile <= 0:
        return None
    if restart_majority(agreement, k) < RELIABLE_MAJORITY:
        return None
    return float(np.quantile(np.asarray(agreement, np.float64), quantile))


def fill(cfg: SeedConfig, clusters: list[dict], rows, nbrs, labels: np.ndarray,
         agreed: np.ndarray, ranked: dict, shares: dict, keys: dict,
         groups: Optional[np.ndarray] = None) -> None:
    """`shortage` fill: top every accepted cluster short of per_class candidates up (in place:
    ranked, shares, keys {cluster: (R,)} and each cluster's "filled"), clusters that give no
    seeds (gives_no_seeds) excepted. A row tops up only the cluster that holds it (labels (N,),
    the first accepted one), only once, never when it is another cluster's seed (or a copy of
    one: groups, duplicates.duplicate_groups), and only past the agreement floor (agreed (N,)
    bool)."""
    n = len(labels)
    taken = np.zeros(n, bool)
    for c in ranked:
        taken[ranked[c][:cfg.per_class]] = True
    if groups is not None:  # a copy of a taken row is taken too
        taken |= np.isin(groups, groups[taken])
    for c, cl in enumerate(clusters):
        missing = cfg.per_class - len(ranked[c])
        if missing <= 0 or gives_no_seeds(cfg, cl):
            continue
        allowed = (labels == c) & agreed & ~taken  # (N,)
        extra, extra_key = fill_order(cl["members"], cl["core"], allowed, rows)
        keep = first_distinct(extra, groups, missing)  # one of each copy group
        extra, extra_key = extra[keep], extra_key[keep]
        extra_share = np.minimum(*(core_share(cl["core"], n, b, extra) for b in nbrs))  # (F,)
        ranked[c] = np.concatenate([ranked[c], extra])
        shares[c] = np.concatenate([shares[c], extra_share]).astype(np.float32)
        keys[c] = np.concatenate([keys[c], extra_key]).astype(np.float32)
        taken[extra] = True
        if groups is not None:
            taken |= np.isin(groups, groups[extra])
        cl["filled"] = int(len(extra))


def fill_order(members: np.ndarray, core: np.ndarray, allowed: np.ndarray, rows
               ) -> tuple[np.ndarray, np.ndarray]:
    """The rows that top up a cluster short of candidates (`shortage` fill), best first, and
    their centrality (cosine to the mean of its members (M,), summed over the spaces): its core
    members (C,), then its other members, those `allowed` (N,) bool only, each by centrality,
    then index."""
    out, cent = [], []
    for pool in (core[allowed[core]], members[allowed[members] & ~np.isin(members, core)]):
        c = closeness(rows, pool, members)  # (P,)
        order = np.lexsort((pool, -c))
        out.append(pool[order])
        cent.append(c[order])
    return np.concatenate(out), np.concatenate(cent).astype(np.float32)


def select(cfg: SeedConfig, rows, nbrs, kmeans: list[tuple[int, dict]], hume_labels, k: int,
           agreed: np.ndarray, groups: Optional[np.ndarray] = None) -> dict:
    """ConsensusSelector's learned attributes but kmeans_, without_hume_ and agreement_floor_,
    {name_: value}, from HUME's labels (hume_labels; left out when None) and the k-means
    partitions of each state (kmeans_partitions, or some of them): rows the spaces' unit rows
    (N, d1), (N, d2); nbrs their (N, n_neighbors) neighbour lists; agreed (N,) bool the rows
    past the agreement floor; groups (N,) duplicate_groups, a cluster's seeds one row of each
    (None: no duplicates)."""
    n = len(rows[0])
    parts, clusters, states = most_stable_state(kmeans, hume_labels, k, cfg.max_overlap)
    labels = np.full(n, -1, np.int64)
    ranked_all, shares, keys = {}, {}, {}
    candidates = np.zeros(k, np.int64)
    for c, cl in enumerate(clusters):
        labels[cl["members"][labels[cl["members"]] < 0]] = c
        core = cl["core"]
        share = np.minimum(*(core_share(core, n, b) for b in nbrs))  # (C,)
        cent = closeness(rows, core, cl["members"])  # (C,) centrality
        ok = (share > cfg.min_knn) & (cl["stability"] >= cfg.min_stability) & agreed[core]
        cl["support"] = float(ok.sum() / len(cl["members"]))  # candidates / members
        if gives_no_seeds(cfg, cl):
            ok[:] = False
        cand, share, cent = core[ok], share[ok], cent[ok]
        eligible = None
        if cfg.mode_size > 0 and cfg.anchor_parts > 1 and len(cand):
            eligible = np.isin(cand, bulk(cl[cfg.bulk_of], rows, cfg.anchor_parts,
                                          cfg.random_state))  # (C',)
        ranked, key = mode_order(cand, share, cent, rows, cfg.mode_size,
                                 eligible)  # (C',) best first
        ranked = ranked[first_distinct(cand[ranked], groups, len(ranked))]  # one of each copy
        ranked_all[c], shares[c], keys[c] = cand[ranked], share[ranked], key[ranked]
        candidates[c] = len(ranked)
        cl["candidates"], cl["filled"] = int(len(ranked)), 0
    if cfg.shortage == "fill":
        fill(cfg, clusters, rows, nbrs, labels, agreed, ranked_all, shares, keys, groups)
    chosen = [ranked_all[c][:cfg.per_class] for c in range(len(clusters))]
    scores = [np.stack([np.full(len(chosen[c]), cl["stability"]), shares[c][:cfg.per_class],
                        keys[c][:cfg.per_class]], 1) for c, cl in enumerate(clusters)]
    pseudo = np.concatenate([np.full(len(s), c, np.int64) for c, s in enumerate(chosen)] or
                            [np.zeros(0, np.int64)])
    per_class = np.bincount(pseudo, minlength=k)
    return {
        "clusters_": clusters, "states_": states, "labels_": labels,
        "ranked_": ranked_all, "candidates_": candidates,
        "partitions_": tuple(parts),
        "indices_": np.concatenate(chosen or [np.zeros(0, np.int64)]).astype(np.int64),
        "pseudo_labels_": pseudo,
        "scores_": np.concatenate(scores or [np.zeros((0, 3))]).astype(np.float32),
        "per_class_": per_class,
        "short_classes_": [c for c in range(k) if per_class[c] < cfg.per_class],
    }


def check_neighbours(neighbours, n: int, n_neighbors: int) -> list[np.ndarray]:
    """The two spaces' neighbour lists, each (N, >= n_neighbors) row ids in 0..N-1, or one
    clear error (fewer columns would quietly shrink the kNN consistency)."""
    try:
        neighbours = list(neighbours)  # a list, a tuple, a (2, N, K) array, a generator
    except TypeError:
        neighbours = []
    if len(neighbours) != 2:
        raise HumeSSLError("neighbours must be a pair (phi1's, phi2's) of (N, n_neighbors) "
                           "neighbour lists (space_neighbours), or None to compute them.")
    out = []
    for space, b in zip(("phi1", "phi2"), neighbours):
        b = np.asarray(b)
        if b.ndim != 2 or b.shape[0] != n or b.shape[1] < n_neighbors or b.dtype.kind not in "iu":
            raise HumeSSLError(f"neighbours of {space}: need integer row ids of shape ({n}, >= "
                               f"{n_neighbors}) (n_neighbors={n_neighbors}); got {b.dtype} "
                               f"{b.shape}. Compute them with space_neighbours(x, "
                               f"{n_neighbors}, ...), or lower n_neighbors.")
        if b.size and (b.min() < 0 or b.max() >= n):
            raise HumeSSLError(f"neighbours of {space}: row ids span {b.min()}..{b.max()}, "
                               f"outside 0..{n - 1}.")
        out.append(b)
    return out


class ConsensusSelector(RuleSelector):
    """Estimator-shaped consensus rule. `fit(x1, x2, hume_labels, k)` returns self.

    Parameters: per_class, n_neighbors, min_knn, max_overlap, min_stability, min_support,
    kmeans_states, agreement_quantile, mode_size, anchor_parts, bulk_of, shortage (fewer or fill),
    random_state (SeedConfig's fields; `ConsensusSelector.from_config(cfg)`); the
    scikit-learn contract holds.
    Learned: clusters_ (accepted clusters, see stable_clusters; seed label c is the c-th),
    labels_ (N,) int64 the accepted cluster of every row (-1: none), indices_ (n,) int64 in
    dataset order, pseudo_labels_ (n,), scores_ (n, 3) float32 columns [stability of its
    cluster, core kNN share (lower space), ranking key (closeness to the mode; centrality with
    mode_size 0 and for filled seeds)], per_class_ (k,), candidates_ (k,),
    short_classes_, ranked_ {cluster: every candidate, best first, then with shortage fill the
    rows that top it up to per_class}, kmeans_ (the k-means
    implementation), states_ ([{random_state, mean_stability}] of each k-means state tried;
    the kept one has the highest), agreement_floor_ (the HUME agreement candidates needed;
    None: not used, see agreement_floor), partitions_ (the partitions the clusters came from),
    without_hume_ (None, or {clusters_with_seeds_with_hume} when fewer than MIN_SEEDED clusters
    held candidate seeds with HUME's partition and more did without it: the seeds then rest on
    k-means alone).
    """

    serves = {"rule": "consensus"}  # SeedConfig.rule
    param_names = ("per_class", "n_neighbors", "min_knn", "max_overlap", "min_stability",
                   "min_support", "kmeans_states", "agreement_quantile", "mode_size",
                   "anchor_parts", "bulk_of", "graph_partition", "shortage", "random_state")

    def __init__(self, config: Optional[SeedConfig] = None, /, **params):
        self._store(config, params)

    def fit(self, x1, x2, hume_labels, k: int, neighbours=None, center: bool = True,
            progress=None, agreement=None, encoder_init: str = "kmeans"):
        """x1 (N, d1), x2 (N, d2): the two spaces; hume_labels (N,); neighbours: the (N, >=
        n_neighbors) lists of each space (space_neighbours), computed when None; progress:
        called (states done, states) after each k-means state; agreement (N,): HUME's restart
        agreement (Hume.agreement_), for the agreement floor (none when None); encoder_init:
        where the HUME fit's restarts started (HumeConfig.encoder_init): from k-means of space 1
        ("kmeans"), HUME's partition stands for that one, which is left out while HUME's is in
        (STANDS_FOR)."""
        cfg = self.config.validate()  # (kept as config_: evidence() reads the fitted one)
        if encoder_init not in STANDS_FOR:
            raise HumeSSLError(f"encoder_init={encoder_init!r}: use "
                               f"{' or '.join(STANDS_FOR)} (HumeConfig.encoder_init).")
        k = check_k(k)
        if k < 2:  # (the expected precision's chance correction divides by 1 - 1/k)
            raise HumeSSLError(f"k={k}: seeds need at least 2 classes.")
        if cfg.agreement_quantile > 0 and agreement is None:  # before: silently no floor
            raise HumeSSLError(f"agreement_quantile={cfg.agreement_quantile:g} needs HUME's "
                               "restart agreement: pass agreement=Hume.agreement_ to fit, or "
                               "set agreement_quantile=0 (off).")
        hume_labels = check_labels(hume_labels, k, "hume_labels")
        x1, x2 = check_features(x1, "phi1"), check_features(x2, "phi2")
        check_not_constant(x1, "phi1"), check_not_constant(x2, "phi2")
        n = len(hume_labels)
        if not len(x1) == len(x2) == n:
            raise HumeSSLError(f"phi1, phi2 and the HUME labels differ in rows ({len(x1)}, "
                               f"{len(x2)}, {n}).")
        if k >= n:  # as Hume: k-means of n rows needs fewer than n clusters to mean anything
            raise HumeSSLError(f"k={k} is not below the number of samples ({n}); lower k.")
        if agreement is not None:
            agreement = check_shares(agreement, n, "agreement")  # (N,) Hume.agreement_
        self._check_per_class(cfg.per_class, int(np.bincount(hume_labels, minlength=k).max()))
        if neighbours is None:
            neighbours = [space_neighbours(x, cfg.n_neighbors, center)[0] for x in (x1, x2)]
        nbrs = [b[:, :cfg.n_neighbors] for b in check_neighbours(neighbours, n, cfg.n_neighbors)]
        rows = (space_rows(x1, center), space_rows(x2, center))  # (N, d1), (N, d2) unit rows
        self.agreement_floor_ = agreement_floor(agreement, cfg.agreement_quantile, k)
        agreed = (np.ones(n, bool) if self.agreement_floor_ is None else
                  np.asarray(agreement) >= self.agreement_floor_)  # (N,)
        embedding = graph_embedding(nbrs, k) if cfg.graph_partition else None  # (N, k)
        kmeans, self.kmeans_ = kmeans_partitions(rows, k, cfg.kmeans_states, cfg.random_state,
                                                 progress, embedding)
        beside_hume = [(state, {name: p for name, p in km.items()
                                if name != STANDS_FOR[encoder_init]}) for state, km in kmeans]
        self.duplicate_of_ = duplicate_groups(x1, x2)  # (N,) seeds: one row of each
        learned = select(cfg, rows, nbrs, beside_hume, hume_labels, k, agreed,
                         self.duplicate_of_)
        self.without_hume_ = None
        with_hume = int((learned["candidates_"] > 0).sum())  # clusters with seeds, unfilled
        if with_hume < MIN_SEEDED:  # nothing to train on: the k-means partitions alone
            alone = select(cfg, rows, nbrs, kmeans, None, k, agreed, self.duplicate_of_)
            if (alone["candidates_"] > 0).sum() > with_hume:
                learned = alone
                self.without_hume_ = {"clusters_with_seeds_with_hume": with_hume}
        vars(self).update(learned)
        self.config_ = cfg
        return self

    def indices_by_class(self) -> dict[int, np.ndarray]:
        """{cluster: its seeds' indices, best first}."""
        if not hasattr(self, "indices_"):
            raise NotFittedError("ConsensusSelector is not fitted; call fit(...) first.")
        return {c: self.indices_[self.pseudo_labels_ == c] for c in range(len(self.per_class_))}

    def evidence(self) -> list[dict]:
        """What each cluster's seeds rest on, for seeds.json: {cluster, source, stability,
        size, core, support (its candidates before the min_support cut / its size), candidates,
        seeds, filled (its last seeds, topped up with shortage fill: not candidates), short
        (why_short: why it holds fewer than per_class seeds; None: it does not), agreeing
        partitions}."""
        if not hasattr(self, "clusters_"):
            raise NotFittedError("ConsensusSelector is not fitted; call fit(...) first.")
        return [{"cluster": c, "source": cl["source"], "source_id": cl["id"],
                 "stability": round(cl["stability"], 4), "size": int(len(cl["members"])),
                 "core": int(len(cl["core"])), "support": round(cl["support"], 4),
                 "candidates": cl["candidates"],
                 "seeds": int(self.per_class_[c]), "filled": cl["filled"],
                 "short": why_short(self.config_, cl, int(self.per_class_[c])),
                 "matches": cl["matches"]}
                for c, cl in enumerate(self.clusters_)]

    def expected_precision(self) -> dict:
        """The seeds' label-free expected precision (hume_ssl.seeds.calibration, what `seed`
        prints and stores): {"overall": {expected, low, high, chance_corrected} (its 90%
        interval holds values the precision can take; None without seeds), "clusters": [{expected,
        low, high, chance_corrected}] (a cluster's chance of its label being right, its seeds
        right or wrong together), "table", "note", "caveat" (None, or why it runs high)}."""
        clusters = self.evidence()
        return expected_precision([c["stability"] for c in clusters],
                                  [c["seeds"] for c in clusters], len(self.per_class_),
                                  random_state=self.config_.random_state,
                                  filled=[c["filled"] for c in clusters],
                                  per_class=self.config_.per_class)


ConsensusSelector._signature()


# moved in 0.2 (each still imports from here, with a warning, until 0.3)
__getattr__ = moved(__name__, {
    "DENSE_EIGH_ROWS": "hume_ssl.seeds.partitions",
    "SKLEARN_MAX_ROWS": "hume_ssl.seeds.partitions",
    "kmeans_inputs": "hume_ssl.seeds.partitions",
    "kmeans_labels": "hume_ssl.seeds.partitions",
    "normalised_knn_graph": "hume_ssl.seeds.partitions",
    "PARTITIONS": "hume_ssl.seeds.stability",
    "best_matches": "hume_ssl.seeds.stability",
    "stable_clusters": "hume_ssl.seeds.stability",
    "cut_by": "hume_ssl.seeds.cuts",
    "short_cause": "hume_ssl.seeds.cuts",
    "ranking_description": "hume_ssl.seeds.ranking",
})
