"""`SeedSelector`: the hume seed rule (hume_ssl.seeds.config; the default before 0.2) as a
scikit-learn-shaped estimator: majority agreement + kNN label consistency, then N per class.
The default rule is the consensus rule (hume_ssl.seeds.consensus)."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError, NotFittedError
from hume_ssl.core.io import check_labels, check_shares
from hume_ssl.core.params import warn_renamed
from hume_ssl.seeds.config import RANKINGS, RuleSelector, SeedConfig
from hume_ssl.seeds.duplicates import first_distinct

__all__ = ["RANKINGS", "SeedSelector", "rank_order"]


def __getattr__(name: str):
    if name == "SelectionConfig":  # merged into SeedConfig; the old name for one release
        warn_renamed("SelectionConfig", "hume_ssl.seeds.config.SeedConfig")
        return SeedConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def rank_order(agreement, knn_share, margins, ranking: str) -> np.ndarray:
    """Sample indices, best first, under `ranking` (ties: lower index first)."""
    idx = np.arange(len(agreement))
    if ranking == "agreement":
        keys = (idx, -margins, -knn_share, -agreement)
    elif ranking == "knn":
        keys = (idx, -margins, -agreement, -knn_share)
    elif ranking == "product":
        keys = (idx, -margins, -(agreement.astype(np.float64) * knn_share))
    else:
        raise HumeSSLError(f"seed ranking {ranking!r}: use {', '.join(RANKINGS)}.")
    return np.lexsort(keys)


class SeedSelector(RuleSelector):
    """Estimator-shaped selector. `fit(labels, agreement, knn_share, margins)` returns self.

    Parameters: the selection fields of `SeedConfig` (per_class, min_agreement, min_knn,
    shortage, relax_step, ranking) as keywords, or `SeedSelector.from_config(cfg)`; the
    scikit-learn contract holds (`get_params`/`set_params`/`clone`, unknown names rejected).
    Learned: indices_ (n,) int64 in dataset order, pseudo_labels_ (n,), scores_ (n, 3) float32
    columns [agreement, knn_share, margin], per_class_ (k,) counts, candidates_ (k,) counts
    at the base thresholds, thresholds_ {class: (min_agreement, min_knn)}, short_classes_,
    duplicate_of_ (the fit's duplicate_of, or None).
    """

    serves = {"rule": "hume"}  # SeedConfig.rule
    param_names = ("per_class", "min_agreement", "min_knn", "shortage", "relax_step", "ranking")

    def __init__(self, config: Optional[SeedConfig] = None, /, **params):
        self._store(config, params)

    def fit(self, labels, agreement, knn_share, margins=None, k: int | None = None,
            duplicate_of=None):
        """duplicate_of (N,): seeds.duplicates.duplicate_groups of the rows, so that a
        cluster's seeds are one row of each group of identical rows (None: no duplicates)."""
        cfg = dataclasses.replace(self.config, rule="hume")  # this estimator is the hume rule
        labels = check_labels(labels, k, "labels")
        n = len(labels)
        agreement = check_shares(agreement, n, "agreement")  # (N,) float32
        knn_share = check_shares(knn_share, n, "knn_share")  # (N,)
        margins = (np.zeros(n, np.float32) if margins is None
                   else check_shares(margins, n, "margins", bounded=False))  # (N,)
        groups = None if duplicate_of is None else np.asarray(duplicate_of, np.int64)
        if groups is not None and groups.shape != (n,):
            raise HumeSSLError(f"duplicate_of must be one group id per row, shape ({n},); got "
                               f"shape {groups.shape}.")
        cfg.validate()
        k = int(k if k is not None else labels.max() + 1)
        sizes = np.bincount(labels, minlength=k)
        self._check_per_class(cfg.per_class, int(sizes.max()))
        order = rank_order(agreement, knn_share, margins, cfg.ranking)
        chosen, self.thresholds_, self.candidates_ = [], {}, np.zeros(k, np.int64)
        for c in range(k):
            in_c = order[labels[order] == c]
            in_c = in_c[first_distinct(in_c, groups, len(in_c))]  # one row of each copy group
            a_min, k_min = cfg.min_agreement, cfg.min_knn
            ok = in_c[(agreement[in_c] > a_min) & (knn_share[in_c] > k_min)]
            self.candidates_[c] = len(ok)
            while (
                cfg.shortage == "relax"
                and len(ok) < cfg.per_class
                and (a_min > 0 or k_min > 0)
                and len(in_c) > len(ok)
            ):
                a_min, k_min = max(a_min - cfg.relax_step, 0.0), max(k_min - cfg.relax_step, 0.0)
                floor_a = -1.0 if a_min == 0 else a_min  # at 0, accept everything
                floor_k = -1.0 if k_min == 0 else k_min
                ok = in_c[(agreement[in_c] > floor_a) & (knn_share[in_c] > floor_k)]
            self.thresholds_[c] = (round(a_min, 6), round(k_min, 6))
            chosen.append(ok[: cfg.per_class])
        self.duplicate_of_ = groups
        self.indices_ = np.concatenate(chosen).astype(np.int64)
        self.pseudo_labels_ = labels[self.indices_]
        self.scores_ = np.stack(
            [agreement[self.indices_], knn_share[self.indices_], margins[self.indices_]], 1
        ).astype(np.float32)
        self.per_class_ = np.bincount(self.pseudo_labels_, minlength=k)
        self.short_classes_ = [c for c in range(k) if self.per_class_[c] < cfg.per_class]
        return self

    def indices_by_class(self) -> dict[int, np.ndarray]:
        """{cluster: its seeds' indices, best first} (was `ranking()`, now the parameter)."""
        if not hasattr(self, "indices_"):
            raise NotFittedError("SeedSelector is not fitted; call fit(...) first.")
        return {c: self.indices_[self.pseudo_labels_ == c] for c in range(len(self.per_class_))}


SeedSelector._signature()
