"""The consensus seed rule: seeds from the clusters that HUME and k-means in each space agree on.

Five partitions of the same N rows (cluster ids 0..k-1) are the evidence:
    hume      HUME's ensemble labels
    kmeans1   k-means of space 1 (centred, L2-normalised rows: what HUME and the kNN see)
    kmeans2   k-means of space 2
    joint     k-means of both spaces side by side
    graph     k-means of the spectral embedding of both spaces' kNN graph (graph_embedding;
              with `graph_partition`, the default, and up to GRAPH_MAX_CELLS rows x clusters)
When HUME's restarts started from k-means of space 1 (its `encoder_init` "kmeans", the default),
HUME's partition refines that one and stands for it: kmeans1 is left out while HUME's partition is
in (four partitions). A cluster's *stability* is its mean best Jaccard overlap with the clusters
of the other partitions (1.0: each of them holds exactly this cluster). k-means is
run from `kmeans_states` random states (3 restarts each, the lowest inertia kept); the state whose
accepted clusters are the most stable on average is kept: a k-means solution that splits a class or
merges two rarely agrees with the other space and with HUME. Clusters are accepted most stable
first, skipping one that overlaps an accepted cluster by more than `max_overlap` (Jaccard), up to
k. An accepted cluster's *core* is its members that every other partition puts in its best match. A
cluster less stable than `min_stability` gives no seeds; in the others a core member is a
*candidate* when more than `min_knn` of its `n_neighbors` nearest neighbours are core members too,
in each space, and (with `agreement_quantile` > 0; 0, off, is the default), where HUME is reliable
(its verdict's rule: a restart majority on at least RELIABLE_MAJORITY of the samples), its HUME
restart agreement is at least that quantile of all samples' agreement. A cluster whose candidates
are fewer than `min_support` (0.02) of its members (its *support*) gives no seeds either.
Candidates are ranked around one mode of the cluster (`mode_size` > 0, the default 20): the
*anchor* is the candidate with the highest share (the lower of the two spaces), then centrality
(cosine to the cluster's mean, summed over the spaces), then lowest index, among the candidates in
the cluster's *bulk* (with `anchor_parts` > 1, the default 2: the largest of that many k-means
parts of the cluster's core, both spaces side by side, or of all its members with `bulk_of`
"members"; all candidates when none lies there); the
*mode* is the `mode_size` candidates nearest the anchor (cosine summed over the spaces; the anchor
itself first); candidates are ranked by closeness (cosine, summed over the spaces) to the mode's
mean, then by index. With `mode_size` 0 they are ranked by share, then centrality, then index (the
ranking before the mode). The top `per_class` are the seeds. A cluster with fewer candidates gives
what it has (`shortage` fewer, the default) or is topped up (`shortage` fill) from its core members
that are not candidates, most central first, then from its other members the same way (`filled` in
its evidence; those seeds come last); clusters past the accepted ones give none. When fewer than
MIN_SEEDED (2) clusters hold candidate seeds, nothing a classifier can learn from, the rule runs
again on the k-means and graph partitions alone (HUME's left out; the same partitions, not run
again), and that is kept when more clusters hold candidate seeds there (`without_hume_` says so).

Why: a split or merged class rarely looks the same to two backbones and to HUME, so requiring
agreement drops the clusters whose seeds would carry a wrong label, and the core drops the members
at a cluster's border. Agreement counts only between independent partitions: HUME started from
k-means of space 1 mostly repeats it, so counting both let space 1 outvote space 2 (on the 12
benchmark sets, HUME started from k-means: mean precision at 4 per cluster 0.832 with all four,
0.856 with HUME standing for k-means of space 1; docs/seed_evidence.md "HUME standing for k-means
of space 1"). A cluster that still holds two classes has its mean between them: its most central
members are a mix, while the members around one dense mode share one label, so the seeds are taken
around a mode. The densest mode can be a minority of the cluster (a Fashion-MNIST cluster of 872
bags and 372 ankle boots whose core is mostly ankle boots): the cluster is then named after the
class of its bulk while its seeds are another, so the anchor is taken from the bulk. The bulk is
found in the core: a cluster's members include rows at its border that other partitions give to a
neighbouring cluster, and they can tip a near-even split of two classes towards the minority (on
the benchmark, mean precision at 4 over 12 sets 0.876 with the members' bulk, 0.897 with the
core's; docs/seed_evidence.md "The bulk from the core").
k-means cuts the space with straight borders between centres; the graph partition's clusters follow
the neighbour lists instead, so a class that is one connected sheet of neighbours but not a round
blob can be held whole, and it is a fifth, differently made view for the agreement (on CIFAR-10's
50,000-row pair, first HUME fit: a cluster of airplanes is accepted beside the ships + airplanes
one, which the map then names after its ships, its seeds' class; precision at 4 0.886 -> 1.000;
docs/seed_evidence.md "The graph partition").
Where HUME is reliable, its restarts disagree on the cores of split or merged classes that all four
partitions share (a class of digits cut in two): the agreement floor leaves such clusters without
seeds, and where it is not, agreement is noise and is not used. The floor is off by default: it
raises precision by leaving classes without seeds, and a class without seeds is never learned
downstream (docs/seed_evidence.md, recipes/seed_benchmark.py). A cluster whose core holds almost no
member whose neighbours stay in it is one the partitions overlap on by chance: on the benchmark,
seeds of clusters with support under 2% were right in 41% of cases (55% on a second HUME fit),
those at 10% and more in 90% (docs/seed_evidence.md "A cluster's support"). A HUME fit can be so
poor that no core holds a candidate while the spaces' k-means still agree on clusters
(digits-noise2 with a HUME fit of ACC 0.29: no seeds at all): the seeds then rest on those.
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
from hume_ssl.core.knn import knn_search, l2_normalise
from hume_ssl.core.params import ConfigParams, clean_fit
from hume_ssl.hume.diagnostics import RELIABLE_MAJORITY, restart_majority
from hume_ssl.hume.rows import column_mean
from hume_ssl.seeds.config import GRAPH_MAX_CELLS, SeedConfig, check_rule_settings
from hume_ssl.seeds.duplicates import duplicate_groups, first_distinct

PARTITIONS = ("hume", "kmeans1", "kmeans2", "joint", "graph")
STANDS_FOR = {"gaussian": None, "kmeans": "kmeans1"}  # by HUME's encoder_init: the k-means
# partition its own stands for (left out while HUME's partition is in), None: none
SKLEARN_MAX_ROWS = 200_000  # above: faiss k-means
DENSE_EIGH_ROWS = 2_000  # up to: a dense eigendecomposition (the sparse solver needs k << N)
MIN_SEEDED = 2  # clusters holding seeds below which HUME's partition is left out (a classifier
# needs two classes: fewer is nothing to train on)


def space_rows(x: np.ndarray, center: bool) -> np.ndarray:
    """(N, d) float32 rows as HUME and the kNN see them: centred (with `center`), unit length."""
    x = np.asarray(x, np.float32)
    return l2_normalise(x - column_mean(x) if center else x)


def space_neighbours(
    x: np.ndarray, n_neighbors: int, center: bool, backend: str = "auto", device: str = "auto"
) -> tuple[np.ndarray, str]:
    """(N, n_neighbors) cosine neighbours of every row of one space, itself excluded, and the
    backend used. With `center` (HUME's `center`, on by default) the rows are centred first, as
    HUME sees them: pooled ReLU features share one dominant direction that otherwise bends
    cosine neighbourhoods towards it."""
    if center:
        x = np.asarray(x, np.float32) - column_mean(x)  # (N, d) float32 copy
    return knn_search(x, n_neighbors, backend, device=device)


def kmeans_labels(x: np.ndarray, k: int, random_state: int) -> tuple[np.ndarray, str]:
    """(N,) int64 k-means labels of unit rows x (N, d) and the implementation used:
    scikit-learn (3 restarts, run to convergence, the lowest inertia kept) up to
    SKLEARN_MAX_ROWS rows, faiss above (3 restarts of 100 iterations; far faster at ImageNet
    size, and what the benchmark has not measured)."""
    if len(x) <= SKLEARN_MAX_ROWS:
        from sklearn.cluster import KMeans

        km = KMeans(k, n_init=3, random_state=random_state).fit(x)
        return km.labels_.astype(np.int64), "scikit-learn"
    try:
        import faiss
    except ImportError:
        raise HumeSSLError(f"the consensus rule's k-means on {len(x)} rows needs faiss: pip "
                           "install faiss-cpu (or faiss-gpu), or pass --rule hume.") from None
    km = faiss.Kmeans(x.shape[1], k, niter=100, nredo=3, seed=int(random_state) + 1,
                      verbose=False)
    x = np.ascontiguousarray(x, np.float32)
    km.train(x)
    return km.index.search(x, 1)[1][:, 0].astype(np.int64), "faiss"


def normalised_knn_graph(nbrs):
    """(N, N) sparse S = D^-1/2 A D^-1/2 of A, the union of the neighbour lists nbrs ((N, m)
    each): an edge where either row is among the other's neighbours in any list (0/1,
    symmetric)."""
    from scipy import sparse

    cols = np.concatenate([np.asarray(b, np.int64) for b in nbrs], 1)  # (N, sum of m)
    n = len(cols)
    a = sparse.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(n), cols.shape[1]),
                                                cols.ravel())), shape=(n, n))
    a = ((a + a.T) > 0).astype(np.float64)  # (N, N) symmetric 0/1
    d = sparse.diags(1.0 / np.sqrt(np.asarray(a.sum(1)).ravel()))
    return (d @ a @ d).tocsr()


def graph_embedding(nbrs, k: int) -> Optional[np.ndarray]:
    """(N, k) float32 unit rows: the spectral embedding (Ng, Jordan & Weiss 2001) of the kNN
    graph of both spaces, nbrs their (N, n_neighbors) neighbour lists: an edge joins two rows
    when either is among the other's neighbours in either space (unweighted, symmetric); the
    rows of the top k eigenvectors of D^-1/2 A D^-1/2, each scaled to unit length. None when
    N x k > GRAPH_MAX_CELLS or k >= N (the graph partition is then left out)."""
    n = len(nbrs[0])
    if n * k > GRAPH_MAX_CELLS or k >= n:
        return None
    m = normalised_knn_graph(nbrs)  # (N, N), eigenvalues in [-1, 1]
    if n <= DENSE_EIGH_ROWS:
        from scipy.linalg import eigh

        vecs = eigh(m.toarray(), subset_by_index=[n - k, n - 1])[1]  # (N, k) the top k only
    else:
        from scipy.sparse.linalg import eigsh

        vecs = eigsh(m, k=k, which="LA", tol=1e-4, v0=np.ones(n))[1]  # (N, k)
    return l2_normalise(vecs.astype(np.float32))


def kmeans_inputs(rows) -> dict:
    """{kmeans1: r1 (N, d1), kmeans2: r2 (N, d2), joint: (N, d1 + d2)}: the unit rows each
    k-means partition clusters (both spaces side by side, still unit rows)."""
    r1, r2 = rows
    return {"kmeans1": r1, "kmeans2": r2, "joint": np.concatenate([r1, r2], 1) / np.sqrt(2.0)}


def kmeans_partitions(rows, k: int, states: int, random_state: int,
                      progress=None, embedding: Optional[np.ndarray] = None
                      ) -> tuple[list[tuple[int, dict]], str]:
    """[(random_state, {name: (N,) labels})] of the k-means partitions of PARTITIONS (each of
    kmeans_inputs' rows, and "graph": of the spectral `embedding` (N, k), graph_embedding,
    unless None) for each random state random_state x states + i, i < states, and the k-means
    implementation used; progress: called (states done, states) after each."""
    inputs = kmeans_inputs(rows)
    if embedding is not None:
        inputs["graph"] = embedding
    out = []
    for i in range(states):
        state = random_state * states + i
        parts = {}
        for name, x in inputs.items():
            parts[name], impl = kmeans_labels(x, k, state)
        out.append((state, parts))
        if progress is not None:
            progress(i + 1, states)
    return out, impl


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


def agreement_floor(agreement: Optional[np.ndarray], quantile: float) -> Optional[float]:
    """The HUME restart agreement (N,) a candidate needs: the `quantile` quantile of all rows'
    agreement where HUME is reliable (a restart majority on >= RELIABLE_MAJORITY of rows, the
    verdict's rule), else None (no floor; also without agreement or at quantile 0)."""
    if agreement is None or quantile <= 0:
        return None
    if restart_majority(agreement) < RELIABLE_MAJORITY:
        return None
    return float(np.quantile(np.asarray(agreement, np.float64), quantile))


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


def cut_by(cfg: SeedConfig, cluster: dict) -> Optional[tuple[str, str]]:
    """The cut that bars an accepted cluster from seeds, candidates and fill alike, as (kind,
    words) (None: none): kind "stability", less stable than min_stability, or "support", with
    less support (its candidates / its members) than min_support (such clusters' seeds were
    right about half the time on the benchmark)."""
    if cluster["stability"] < cfg.min_stability:
        return ("stability", f"stability {cluster['stability']:.4f} < --min-stability "
                f"{cfg.min_stability:g}")
    if cluster["support"] < cfg.min_support:
        return ("support", f"support {cluster['support']:.4f} < --min-support "
                f"{cfg.min_support:g}")
    return None


def gives_no_seeds(cfg: SeedConfig, cluster: dict) -> bool:
    """Whether an accepted cluster falls under a cut (cut_by)."""
    return cut_by(cfg, cluster) is not None


def short_cause(cfg: SeedConfig, cluster: Optional[dict], seeds: int
                ) -> Optional[tuple[str, str]]:
    """Why a class holds fewer than per_class seeds, as (kind, words) (None: it does not):
    "no cluster" (cluster None: no accepted cluster), the cut it fell under ("stability" or
    "support": cut_by), "filled" (shortage fill: too few candidates and no more of its own
    rows to top it up) or "candidates" (too few candidates)."""
    if seeds >= cfg.per_class:
        return None
    if cluster is None:
        return ("no cluster", "no cluster: every other one overlapped an accepted one by more "
                f"than {cfg.max_overlap:g} (Jaccard)")
    cut = cut_by(cfg, cluster)
    if cut is not None:
        return cut
    if cfg.shortage == "fill":
        return ("filled", f"{cluster['candidates']} candidates + {cluster['filled']} filled: "
                "no more rows")
    return ("candidates", f"{cluster['candidates']} candidates")


def why_short(cfg: SeedConfig, cluster: Optional[dict], seeds: int) -> Optional[str]:
    """short_cause's words, for the warning and seeds.json (None: not short)."""
    cause = short_cause(cfg, cluster, seeds)
    return None if cause is None else cause[1]


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


def core_share(core: np.ndarray, n: int, nbrs: np.ndarray,
               of: Optional[np.ndarray] = None) -> np.ndarray:
    """(R,) share of the neighbours (N, n_neighbors) of each row of `of` (default: the core
    rows themselves) that are core rows."""
    inside = np.zeros(n, bool)
    inside[core] = True
    return inside[nbrs[core if of is None else of]].mean(1).astype(np.float32)


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
    if not isinstance(neighbours, (list, tuple)) or len(neighbours) != 2:
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


class ConsensusSelector(ConfigParams):
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

    config_class = SeedConfig
    serves = {"rule": "consensus"}  # SeedConfig.rule
    param_names = ("per_class", "n_neighbors", "min_knn", "max_overlap", "min_stability",
                   "min_support", "kmeans_states", "agreement_quantile", "mode_size",
                   "anchor_parts", "bulk_of", "graph_partition", "shortage", "random_state")
    owner = "seed selection"

    def __init__(self, config: Optional[SeedConfig] = None, /, **params):
        self._store(config, params)

    @classmethod
    def from_config(cls, config: SeedConfig, **extra) -> ConsensusSelector:
        """The estimator of `config`'s consensus rule settings; a config that sets the other rule's
        is refused (check_rule_settings), not dropped."""
        estimator = super().from_config(config, **extra)
        check_rule_settings(config, "consensus", cls.__name__)
        return estimator

    @clean_fit
    def fit(self, x1, x2, hume_labels, k: int, neighbours=None, center: bool = True,
            progress=None, agreement=None, encoder_init: str = "kmeans"):
        """x1 (N, d1), x2 (N, d2): the two spaces; hume_labels (N,); neighbours: the (N, >=
        n_neighbors) lists of each space (space_neighbours), computed when None; progress:
        called (states done, states) after each k-means state; agreement (N,): HUME's restart
        agreement (Hume.agreement_), for the agreement floor (none when None); encoder_init:
        where the HUME fit's restarts started (HumeConfig.encoder_init): from k-means of space 1
        ("kmeans"), HUME's partition stands for that one, which is left out while HUME's is in
        (STANDS_FOR)."""
        cfg = self.config.validate()
        if encoder_init not in STANDS_FOR:
            raise HumeSSLError(f"encoder_init={encoder_init!r}: use "
                               f"{' or '.join(STANDS_FOR)} (HumeConfig.encoder_init).")
        k = check_k(k)
        hume_labels = check_labels(hume_labels, k, "hume_labels")
        x1, x2 = check_features(x1, "phi1"), check_features(x2, "phi2")
        check_not_constant(x1, "phi1"), check_not_constant(x2, "phi2")
        n = len(hume_labels)
        if not len(x1) == len(x2) == n:
            raise HumeSSLError(f"phi1, phi2 and the HUME labels differ in rows ({len(x1)}, "
                               f"{len(x2)}, {n}).")
        if agreement is not None:
            agreement = check_shares(agreement, n, "agreement")  # (N,) Hume.agreement_
        largest = int(np.bincount(hume_labels, minlength=k).max())
        if cfg.per_class > largest:
            raise HumeSSLError(
                f"--per-class {cfg.per_class} is more than any predicted class holds (largest: "
                f"{largest} samples); lower --per-class.")
        if neighbours is None:
            neighbours = [space_neighbours(x, cfg.n_neighbors, center)[0] for x in (x1, x2)]
        nbrs = [b[:, :cfg.n_neighbors] for b in check_neighbours(neighbours, n, cfg.n_neighbors)]
        rows = (space_rows(x1, center), space_rows(x2, center))  # (N, d1), (N, d2) unit rows
        self.agreement_floor_ = agreement_floor(agreement, cfg.agreement_quantile)
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
                 "short": why_short(self.config, cl, int(self.per_class_[c])),
                 "matches": cl["matches"]}
                for c, cl in enumerate(self.clusters_)]


ConsensusSelector._signature()
