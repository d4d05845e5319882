"""What `seed` says in words: the partitions the consensus clusters came from, the seeds
--shortage fill added, whether HUME's agreement was used, why clusters are short of seeds and
what to try, and why there are no seeds at all."""

from __future__ import annotations

import numpy as np

from hume_ssl.seeds.config import SeedConfig
from hume_ssl.seeds.consensus import ConsensusSelector
from hume_ssl.seeds.cuts import short_cause


def partitions_note(sel: ConsensusSelector) -> str:
    """The partitions the consensus clusters came from, in words."""
    graph = (" and the spectral clustering of both spaces' kNN graph"
             if "graph" in sel.partitions_ else "")
    if sel.without_hume_ is None and "kmeans1" not in sel.partitions_:
        return ("HUME (started from k-means of space 1, standing for it) and k-means of space 2 "
                "and of both" + graph)
    if sel.without_hume_ is None:
        return "HUME and k-means of each space and of both" + graph
    return (f"k-means of each space and of both{graph}, HUME's partition left out (with it "
            f"{sel.without_hume_['clusters_with_seeds_with_hume']} cluster(s) held candidate "
            "seeds: nothing to train on)")


def filled_note(sel: ConsensusSelector) -> str:
    """How many seeds --shortage fill topped clusters up with, in words ("" for none)."""
    filled = [(c, cl["filled"]) for c, cl in enumerate(sel.clusters_) if cl["filled"]]
    if not filled:
        return ""
    return (f" ({sum(f for _, f in filled)} of them topped up from the cores of clusters "
            f"{[c for c, _ in filled]}: --shortage fill, not candidates)")


def agreement_note(sel: ConsensusSelector, seeds: SeedConfig) -> str:
    """Whether the consensus candidates needed HUME's restart agreement, in words."""
    if seeds.agreement_quantile <= 0:
        return "HUME's agreement not used (--agreement-quantile 0)"
    if sel.agreement_floor_ is None:
        return "HUME is unreliable: its restart agreement not used"
    return (f"HUME is reliable: candidates also need restart agreement >= "
            f"{sel.agreement_floor_:.2f} (its {seeds.agreement_quantile:g} quantile)")


def short_note(sel, cfg: SeedConfig) -> str:
    """Why each short cluster is short (the consensus rule: cuts.short_cause, what its
    terms mean), then what to try (shortage_hint)."""
    if cfg.rule != "consensus":
        return shortage_hint(cfg)
    clusters = sel.clusters_
    causes = [short_cause(cfg, clusters[c] if c < len(clusters) else None,
                          int(sel.per_class_[c])) for c in sel.short_classes_]
    kinds = {kind for kind, _ in causes}
    terms = []
    if kinds & {"candidates", "filled"}:
        terms.append(f"candidates: core members more than {cfg.min_knn:g} of whose neighbours "
                     "are core members, in each space")
    if "filled" in kinds:
        terms.append("filled: rows --shortage fill topped it up with (its own, past the "
                     "agreement floor, no other cluster's seeds)")
    if "stability" in kinds:
        terms.append("stability: the cluster's mean best overlap (Jaccard) with the clusters "
                     "of the other partitions; clusters under --min-stability give no seeds")
    if "support" in kinds:
        terms.append("support: candidates / members; clusters under --min-support give no "
                     "seeds, theirs were right about half the time on the seed benchmark "
                     "(docs/seed_evidence.md, \"A cluster's support\"; --min-support 0 "
                     "turns the cut off, --shortage fill then tops them up; fill alone does "
                     "not)")
    why = [words for _, words in causes]
    listed = ", ".join(f"{c} ({w})" for c, w in zip(sel.short_classes_, why))
    return f": {listed}" + "".join(f"; {t}" for t in terms) + shortage_hint(cfg)


def shortage_hint(cfg: SeedConfig) -> str:
    """What to try for clusters short of seeds ("." when nothing is left to try); with the
    consensus rule, after why each is short (short_note)."""
    if cfg.rule == "consensus" and cfg.shortage == "fill":
        return ("; lower --per-class or the cut a cluster fell under, or try --rule hume "
                "--shortage relax (seeds HUME alone backs, less often right).")
    if cfg.rule == "consensus":
        return ("; a cluster without seeds is a class never learned: --shortage fill tops up "
                "those short of candidates from their cores (right less often: "
                "docs/seed_evidence.md, \"What the seeds teach\"), or try --rule hume "
                "--shortage relax (seeds HUME alone backs).")
    if cfg.shortage != "relax":
        return "; use --shortage relax to lower the thresholds stepwise for them."
    return "."


def empty_reason(cfg: SeedConfig, candidates: np.ndarray) -> str:
    """Why no sample became a seed, and what to try: for the warning and seeds.json."""
    if cfg.rule == "consensus":
        return ("no cluster gave candidates: none has a core (the members HUME and k-means of "
                "both spaces, or the k-means partitions alone, agree on) whose members keep "
                f"more than {cfg.min_knn} of their {cfg.n_neighbors} nearest neighbours in it "
                f"in each space, with stability >= {cfg.min_stability} and candidates >= "
                f"{cfg.min_support:g} of its members; try a stronger backbone pair (or "
                "`hume-ssl pretrain`), fewer classes (--k), or --rule hume --shortage relax "
                "(seeds HUME alone backs, less often right).")
    why = (
        f"no sample has both restart agreement > {cfg.min_agreement} and kNN consistency > "
        f"{cfg.min_knn} ({int(np.sum(candidates))} candidates in all)"
    )
    tries = ["more HUME restarts and steps", "a stronger backbone pair (or `hume-ssl pretrain`)"]
    if cfg.shortage != "relax":
        tries.insert(0, "--shortage relax (lowers the thresholds until clusters fill)")
    return f"{why}; try {', or '.join(tries)}."


def kept_csv_note(csv, state: str) -> str:
    """Why a re-run kept SEEDS/export-csv/seeds.csv (remove_exports: "edited" or "unchecked")."""
    why = ("it was edited since `export` wrote it, and holds those edits of the earlier seeds, "
           "not these" if state == "edited" else "the earlier seeds could not be read to "
           "check it was not edited, so it is kept as it is")
    return (f"kept {csv}: {why}; `export --format csv` refuses to write over it: move it out "
            "of the seeds folder to export these seeds there")


def small_clusters_note(cfg: SeedConfig, sizes: np.ndarray) -> str:
    """When the clusters short of seeds (their `sizes`, rows) are small for --knn ("" when
    not): a candidate needs more than min_knn of its n_neighbors nearest neighbours inside its
    cluster (the consensus rule: its core), which a cluster under about 2 x n_neighbors rows
    rarely gives, however clean it is."""
    if not len(sizes) or int(np.min(sizes)) >= 2 * cfg.n_neighbors:
        return ""
    small = int(np.min(sizes))
    if small < 3:
        return (f" A cluster short of seeds holds {small} row(s): no --knn gives it seeds; "
                "fewer classes (--k) might.")
    fit = max(1, small // 2 - 1)
    if fit >= cfg.n_neighbors:
        return ""
    inside = "its cluster's core" if cfg.rule == "consensus" else "its cluster"
    return (f" Clusters short of seeds are small for --knn {cfg.n_neighbors}: the smallest holds "
            f"{small} rows, and a candidate needs more than {cfg.min_knn:g} x "
            f"{cfg.n_neighbors} of its nearest neighbours inside {inside}; try a lower --knn "
            f"(e.g. --knn {fit}).")
