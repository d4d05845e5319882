"""The reliable-seed rule's one configuration: the rule, kNN consistency, candidate thresholds,
ranking, N per class. Its fields carry their defaults (chosen on the seed benchmark:
docs/seed_evidence.md), units and help; the selectors and the `seed` command take them from here.

rule "consensus" (the default; hume_ssl.seeds.consensus, `ConsensusSelector`): seeds from the
clusters HUME and k-means of each space agree on. rule "hume" (`SeedSelector`, the rule before
0.2): HUME's clusters, a sample is a *candidate* when
    agreement  > min_agreement   (share of aligned restarts voting for its ensemble label)
    knn_share  > min_knn         (share of its n_neighbors nearest neighbours with the same label)
Within each predicted class, candidates are ranked by `ranking` (RANKING_RULES; ties: lower
index first) and the top `per_class` are taken. A class short of candidates follows `shortage`:
    "fewer": take what there is and report it (either rule);
    "relax": (hume rule) lower both thresholds by `relax_step` until the class is full (or both
             reach 0), recording the thresholds used for that class;
    "fill":  (consensus rule) top each accepted cluster up from its core, most central first,
             then from its other members (hume_ssl.seeds.consensus).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hume_ssl.core.errors import HumeSSLError, raise_first_failed
from hume_ssl.core.params import ConfigParams, check_bounds, flag_of, setting
from hume_ssl.hume.diagnostics import RELIABLE_MAJORITY

# the one description of each ranking: the module docstring, --help and seeds.json show it
RANKING_RULES = {
    "product": "agreement x kNN consistency desc, then margin desc, then index",
    "agreement": "agreement desc, then kNN consistency, margin, index",
    "knn": "kNN consistency desc, then agreement, margin, index",
}
RANKINGS = tuple(RANKING_RULES)
RULES = ("consensus", "hume")
HUME_ONLY = ("knn_space", "ranking", "min_agreement", "relax_step")
CONSENSUS_ONLY = ("max_overlap", "min_stability", "min_support", "kmeans_states",
                  "agreement_quantile", "mode_size", "anchor_parts", "bulk_of",
                  "graph_partition")
SHORTAGES = ("fewer", "relax", "fill")
BULK_OF = ("core", "members")  # the consensus rule's rows split into anchor_parts parts
KMEANS_RESTARTS = 3  # restarts of each k-means of the consensus rule (seeds.partitions)
GRAPH_MAX_CELLS = 20_000_000  # N x k past which the graph partition is left out: its spectral
# embedding is (N, k) and the eigensolver's work grows with both (CIFAR-100's 50,000 x 100: in)
RULE_SHORTAGES = {"hume": ("fewer", "relax"), "consensus": ("fewer", "fill")}
ESTIMATORS = {"hume": "SeedSelector", "consensus": "ConsensusSelector"}  # each rule's estimator
KNN_SPACES = ("phi1", "phi2", "both")
KNN_BACKENDS = ("auto", "faiss", "torch")


@dataclass
class SeedConfig:
    """The seed rules' settings (the consensus rule and the hume rule; `hume-ssl seed --help`
    shows them); `validate()` checks them before any work."""

    per_class: int = setting(4, "Seeds per cluster: the best of each cluster HUME or the "
                             "consensus rule finds (a cluster stands for one class; fewer where "
                             "a cluster has too few reliable members, see --shortage).",
                             unit="seeds", bounds="[1, inf)")
    # rule: chosen on recipes/seed_benchmark.py's sets (docs/seed_evidence.md;
    # 2026-12-02); n_neighbors 20: the consensus rule's, not varied
    rule: str = setting("consensus", "consensus (the cores of the clusters that HUME, k-means of "
                        "space 2, k-means of both spaces and the kNN-graph partition agree on: "
                        "docs/consensus_rule.md) or hume (HUME's clusters, restart agreement and "
                        "kNN thresholds: the rule before 0.2).")
    n_neighbors: int = setting(20, "Neighbours for the kNN consistency (the sample itself "
                               "excluded).", unit="neighbours", flag="--knn", bounds="[1, inf)")
    max_overlap: float = setting(0.2, "consensus rule: a cluster overlapping an accepted one "
                                 "by more than this is skipped.", unit="Jaccard", flag=None,
                                 bounds="[0, 1)")
    # knn_space and ranking: the variant chosen on recipes/seed_benchmark.py's 10 sets, leaving
    # one set out (docs/seed_evidence.md; 2026-12-02)
    knn_space: str = setting("both", "hume rule: the space(s) of the kNN consistency: phi2 "
                             "(space 2), phi1, or both (a majority in each).")
    ranking: str = setting("knn", "hume rule: order of candidates within a cluster: "
                           + "; ".join(f"{k} ({v})" for k, v in RANKING_RULES.items()) + ".")
    knn_backend: str = setting("auto", "auto (faiss, else torch), faiss or torch.", flag=None)
    min_agreement: float = setting(0.5, "hume rule: candidates need restart agreement "
                                   "above this (0.5: a majority).",
                                   unit="share of restarts", bounds="[0, 1]")
    min_knn: float = setting(0.5, "Candidates need kNN consistency above this: "
                             "the share of their --knn neighbours in their cluster (consensus "
                             "rule: its core, in each space).",
                             unit="share of neighbours", bounds="[0, 1]")
    # shortage fewer for the consensus rule: fill (docs/seed_evidence.md "What the seeds teach";
    # 2026-12-03) teaches more on the sets with clusters short of candidates and lowers precision
    # at N; the default stays the rule the precision figures were measured with
    shortage: str = setting("fewer", "Clusters short of candidates: fewer (take what there "
                            "is), relax (hume rule: lower both thresholds stepwise) or fill "
                            "(consensus rule: top them up from the cluster's core, most "
                            "central first, then its other members; those seeds are right "
                            "less often, and a cluster without seeds is a class never "
                            "learned).")
    relax_step: float = setting(0.1, "Threshold decrement per relaxation round (--shortage "
                                "relax).", flag=None, bounds="(0, 1]")
    min_stability: float = setting(0.0, "consensus rule: clusters less stable than this "
                                   "give no seeds.", unit="mean best Jaccard", bounds="[0, 1]")
    # min_support 0.02: chosen on recipes/seed_benchmark.py --states 5 (docs/seed_evidence.md "A
    # cluster's support"; 2026-12-04): over the 12 sets x 5 k-means states, clusters whose
    # candidates are under 2% of their members gave seeds right at 4 in 41% of cases (28 clusters),
    # those at 2-5% in 69%, at 10% and more in 90%; 0.02 is the highest bin edge below which seeds
    # are more often wrong than right, the same leaving out 10 of the 12 sets (0.01 without
    # cifar-10 or without fashion). Out of sample (a second HUME fit, random state 1;
    # docs/seed_evidence.md "A cluster's support"): clusters under 0.02 right in 55% of cases, over
    # both fits 49.6% (the recipe's cut 0.01 there, its [0.01, 0.02) bin even); per set the cut
    # still raised precision at 4 on 5 of 12 sets and lowered it on 2 (mean 0.843 -> 0.860). Pinned
    # by tests/seeds/test_consensus.py::test_a_cluster_with_almost_no_candidates_gives_no_seeds
    min_support: float = setting(
        0.02, "consensus rule: clusters whose candidates are fewer than this share of their "
        "members give no seeds (their seeds were right about half the time on the "
        "benchmark; a class without seeds is never learned); 0: off.",
        unit="share of the cluster's members", bounds="[0, 1]")
    # kmeans_states 1: chosen on recipes/seed_benchmark.py --states 5 (docs/seed_evidence.md;
    # 2026-12-02): 3 states gave the same mean precision at 4 over 12 sets (0.880 vs 0.878), fewer
    # N at or above the best baseline (71 vs 80 of 120), at 3x the k-means time
    kmeans_states: int = setting(1, "consensus rule: k-means random states tried "
                                 f"({KMEANS_RESTARTS} restarts each); the partitions that agree "
                                 "most (mean stability of the accepted clusters) are kept. "
                                 "Time: this many times one k-means pass.", unit="states",
                                 bounds="[1, inf)")
    # agreement_quantile 0 (off): chosen on evidence (docs/seed_evidence.md;
    # 2026-12-02). 0.8 (picked leaving one of the 4 reliable benchmark sets out) lifts seed
    # precision at 4 there (digits 0.851 -> 0.967 over 5 k-means states) by leaving 3-4 of 10
    # clusters without seeds, and the demo's FixMatch test ACC falls from 0.740 to 0.586
    # (`hume-ssl demo --seed-rule consensus`): a class without seeds is never learned
    agreement_quantile: float = setting(
        0.0, "consensus rule, where HUME is reliable (its verdict: a restart majority on >= "
        f"{RELIABLE_MAJORITY:.0%} of samples): candidates also need HUME restart agreement at "
        "or above this quantile of all samples' agreement (0.8: the top fifth; 0: off). Fewer "
        "clusters get seeds: precision up, classes without seeds. Unreliable runs: not used.",
        unit="quantile", bounds="[0, 1]")
    # mode_size 20: chosen on recipes/seed_benchmark.py --states 5 (docs/seed_evidence.md;
    # 2026-12-02) among 0 (the ranking before), 10, 20 and 50: precision at 4 up on 7 of 12 sets
    # (effnet-squeeze 0.822 -> 0.927, cifar10-swap 0.954 -> 1.000), down on 3 (cifar-5 0.950 ->
    # 0.850); under the seeds' own map up by more than 0.01 on 5 (cifar-10 0.804 -> 0.943), down on
    # 1 (cifar-5)
    mode_size: int = setting(
        20, "consensus rule: seeds are taken around one mode of each cluster: ranked by "
        "closeness to the mean of the --mode-size candidates nearest an anchor (the candidate "
        "with the highest kNN share, then centrality, in the cluster's bulk: --anchor-parts); "
        "0: ranked by kNN share, then centrality (a cluster holding two classes then mixes "
        "them).", unit="candidates", bounds="[0, inf)")
    # anchor_parts 2: against 1 (the anchor anywhere, the rule before) on recipes/
    # seed_benchmark.py --states 5, HUME fitted afresh (docs/seed_evidence.md;
    # 2026-12-03): precision at 4 up on 5 of 12 sets (fashion 0.862 -> 0.902, effnet-moco
    # 0.883 -> 0.908, cifar10-swap 0.869 -> 0.890, digits 0.856 -> 0.866, digits-r5 0.873 ->
    # 0.884), down by one cluster in one state on 2 (cifar-5 0.860 -> 0.850, effnet-squeeze
    # 0.778 -> 0.770), the same on 5;
    # pinned by tests/seeds/test_consensus.py::test_the_anchor_comes_from_the_bulk_of_its_cluster
    anchor_parts: int = setting(
        2, "consensus rule: the top candidate that starts a cluster's mode is taken from the "
        "largest of this many k-means parts of the cluster's core (or members: --bulk-of; its "
        "bulk, whose class names the cluster); 1: from anywhere in the cluster.", unit="parts",
        bounds="[1, inf)")
    # bulk_of core: against members (the rule before) on recipes/seed_benchmark.py --reuse-only
    # --states 5 (docs/seed_evidence.md "The bulk from the core"; 2026-12-05): precision at 4 up on
    # 4 of 12 sets (cifar-5 0.700 -> 0.880, effnet-squeeze 0.849 -> 0.939), down on 4 (cifar10-swap
    # 0.681 -> 0.658, digits, digits-r5, fashion by 0.004-0.010), mean 0.876 -> 0.897; on a second
    # HUME fit (--seed 1) up on 6, down on 4 (cifar10-swap 0.749 -> 0.713), mean 0.860 -> 0.882;
    # pinned by tests/seeds/test_consensus.py::
    # test_the_bulk_is_found_in_the_core_not_among_the_border_members
    bulk_of: str = setting(
        "core", "consensus rule: the rows --anchor-parts splits into parts to find a cluster's "
        "bulk: core (the members every partition puts in it) or members (all of them, the rule "
        "before: rows at its border, which other partitions give to a neighbouring "
        "cluster, can tip a near-even split).")
    graph_partition: bool = setting(
        True, "consensus rule: one more partition beside k-means: the spectral clustering of "
        "the two spaces' kNN graph (--knn neighbours in each; left out past "
        f"{GRAPH_MAX_CELLS:,} rows x clusters).", flags=("--graph-partition/--no-graph-partition",))
    random_state: int = setting(0, "Seed of the consensus rule's k-means: states random_state "
                                "x kmeans_states .. + kmeans_states - 1.", flag=None,
                                bounds="[0, inf)")
    contact_sheets: bool = setting(True, "Write a contact sheet of each cluster's seeds.",
                                   flag=None)

    def validate(self) -> SeedConfig:
        """Check every option (changes nothing), before any work (features, HUME) is done: each
        number's declared range (`bounds`; nan and inf too), each choice, and the settings of
        the rule not in use."""
        check_bounds(self)
        owner = "hume" if self.shortage == "relax" else "consensus"  # the rule a shortage is for
        other, foreign = self.foreign_settings()
        fields = {f.name: f for f in dataclasses.fields(self)}
        changed = [flag_of(fields[name]) for name in foreign]
        raise_first_failed([
            *[(getattr(self, name) in valid, f"{flag} {getattr(self, name)!r}: use "
               f"{', '.join(valid)}") for name, flag, valid in (
                ("rule", "--rule", RULES), ("knn_space", "--knn-space", KNN_SPACES),
                ("knn_backend", "kNN backend", KNN_BACKENDS),
                ("ranking", "--ranking", RANKINGS), ("bulk_of", "--bulk-of", BULK_OF))],
            (not changed, f"{', '.join(changed)}: "
             f"{'options' if len(changed) > 1 else 'an option'} of the {other} rule, not of "
             f"--rule {self.rule}: pass --rule {other} with "
             f"{'them' if len(changed) > 1 else 'it'} (Python: {ESTIMATORS[other]})"),
            (self.shortage in SHORTAGES,
             f"--shortage {self.shortage!r}: use fewer, relax (--rule hume) or fill (--rule "
             "consensus)"),
            (self.shortage not in SHORTAGES
             or self.shortage in RULE_SHORTAGES.get(self.rule, SHORTAGES),
             f"--shortage {self.shortage} is for the {owner} rule: pass --rule {owner} with "
             f"it (Python: {ESTIMATORS[owner]}), or use --shortage "
             f"{' or '.join(RULE_SHORTAGES.get(self.rule, SHORTAGES))}"),
        ])
        return self

    def foreign_settings(self) -> tuple[str, list[str]]:
        """(the other rule, the names of its settings changed from their defaults): settings of
        a rule not in use are refused, never silently ignored."""
        other = "hume" if self.rule == "consensus" else "consensus"
        names = HUME_ONLY if other == "hume" else CONSENSUS_ONLY
        defaults = SeedConfig(rule=self.rule)
        return other, [n for n in names if getattr(self, n) != getattr(defaults, n)]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_rule_settings(config: SeedConfig, rule: str, estimator: str,
                        how: str = ".from_config") -> None:
    """Refuse a config for `estimator` (the estimator of `rule`; `how`: through
    ".from_config" or "(config)") that sets the other rule's settings: they would be dropped
    silently."""
    other, foreign = dataclasses.replace(config, rule=rule).foreign_settings()
    if foreign:
        raise HumeSSLError(f"{estimator}{how}: the config sets {', '.join(foreign)}, "
                           f"settings of the {other} rule, which {estimator} (the {rule} rule) "
                           f"does not take; use {ESTIMATORS[other]}, or leave them at their "
                           "defaults.")


class RuleSelector(ConfigParams):
    """The estimator of one seed rule (its `serves`: {"rule": ...}) over SeedConfig's fields; a
    config that sets the other rule's settings is refused (`from_config` and the deprecated
    positional config), not dropped."""

    config_class = SeedConfig
    owner = "seed selection"

    @classmethod
    def _check_config(cls, config: SeedConfig, how: str) -> None:
        check_rule_settings(config, cls.serves["rule"], cls.__name__, how)

    @staticmethod
    def _check_per_class(per_class: int, largest: int) -> None:
        """`per_class` seeds can be taken from the largest predicted class (`largest` rows)."""
        if per_class > largest:
            raise HumeSSLError(
                f"--per-class {per_class} is more than any predicted class holds (largest: "
                f"{largest} samples); lower --per-class (Python: per_class).")
