"""seeds.json's fields (hume_ssl.seeds.artifact reads them): where the seeds come from, the
rule and its thresholds, and what the consensus seeds rest on cluster by cluster, with their
expected precision (hume_ssl.seeds.calibration)."""

from __future__ import annotations

import dataclasses

from hume_ssl.core.io import array_hash
from hume_ssl.core.versions import versions
from hume_ssl.hume.config import HumeConfig
from hume_ssl.seeds.config import RANKING_RULES, SeedConfig
from hume_ssl.seeds.consensus import ConsensusSelector
from hume_ssl.seeds.duplicates import n_duplicates
from hume_ssl.seeds.messages import agreement_note, partitions_note
from hume_ssl.seeds.ranking import ranking_description
from hume_ssl.seeds.selection import SeedSelector


def seeds_meta(ds, x1, x2, model, hume: HumeConfig, seeds: SeedConfig, sel: SeedSelector,
               backends: list[str], prov: dict) -> dict:
    """seeds.json's fields (hume_ssl.seeds.artifact): where the seeds come from and the rule."""
    n = x1.shape[0]
    return {
        "dataset": ds.name if ds is not None else None,
        "split": "train",
        "n_samples": n,
        "index_convention": "row i of the dataset's own order (hume_ssl.data.datasets), "
        "the row order of the feature matrices",
        "order_hash": ds.order_hash if ds is not None else array_hash(x1, x2),
        "order_hash_kind": "dataset" if ds is not None else "features",
        "features_hash": model.input_hash_,
        "k": hume.k,
        "label_kind": "cluster ids 0..k-1 (not dataset class ids)",
        "class_names": None,
        "per_class_requested": seeds.per_class,
        "per_class": sel.per_class_.tolist(),
        "candidates_per_class": sel.candidates_.tolist(),
        "short_classes": sel.short_classes_,
        "duplicate_rows": n_duplicates(sel.duplicate_of_),  # rows equal to an earlier row
        # each seed's own name in the data (an image folder's file path), in indices.npy's order
        "sample_ids": ([ds.sample_ids[int(i)] for i in sel.indices_]
                       if ds is not None and ds.sample_ids is not None else None),
        "rule": seeds.rule,
        **(consensus_meta(sel, seeds) if seeds.rule == "consensus" else
           hume_rule_meta(sel, seeds)),
        "knn": {"n_neighbors": seeds.n_neighbors, "backend": backends, "centred": hume.center,
                "space": "both" if seeds.rule == "consensus" else seeds.knn_space},
        "provenance": prov,
        "restarts": hume.n_restarts,
        "hume": hume.to_dict(),
        "selection": dataclasses.asdict(seeds),
        "versions": versions(),
    }


def hume_rule_meta(sel: SeedSelector, seeds: SeedConfig) -> dict:
    return {
        "thresholds": {
            "min_agreement": seeds.min_agreement,
            "min_knn": seeds.min_knn,
            "per_class_used": {str(c): t for c, t in sel.thresholds_.items()},
            "shortage": seeds.shortage,
        },
        "ranking": RANKING_RULES[seeds.ranking],
        "scores_columns": ["agreement", "knn_consistency", "margin"],
    }


def consensus_meta(sel: ConsensusSelector, seeds: SeedConfig) -> dict:
    """What the consensus seeds rest on, cluster by cluster (hume_ssl.seeds.consensus), and
    the expected precision (hume_ssl.seeds.calibration)."""
    ranking, key = ranking_description(seeds.mode_size, seeds.anchor_parts, seeds.bulk_of)
    clusters = sel.evidence()
    est = sel.expected_precision()
    for c, e in zip(clusters, est["clusters"]):
        c["expected_precision"] = e
    return {
        "evidence": f"clusters that {partitions_note(sel)} agree on (their cores); "
                    + agreement_note(sel, seeds) + "; see hume_ssl/seeds/consensus.py",
        "partitions": list(sel.partitions_),
        "without_hume": sel.without_hume_,
        "expected_precision": {k: v for k, v in est.items() if k != "clusters"},
        "clusters": clusters,
        "kmeans": sel.kmeans_,
        "kmeans_states": sel.states_,
        "thresholds": {"min_knn": seeds.min_knn, "max_overlap": seeds.max_overlap,
                       "min_stability": seeds.min_stability, "min_support": seeds.min_support,
                       "shortage": seeds.shortage,
                       "agreement_quantile": seeds.agreement_quantile,
                       "agreement_floor": sel.agreement_floor_},
        "ranking": ranking,
        "scores_columns": ["stability", "core_knn_share", key],
    }
