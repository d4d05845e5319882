"""The seed rule on hand-made ensembles: thresholds, ranking ties, quotas, short classes."""

import numpy as np
import pytest

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.seeds.consensus import ConsensusSelector
from hume_ssl.seeds.selection import SeedSelector


def _case():
    #            0    1    2    3    4    5    6    7
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    agree = np.array([1.0, 0.9, 0.9, 0.5, 1.0, 0.8, 0.6, 0.55])
    knn = np.array([0.9, 0.8, 0.95, 1.0, 0.4, 0.9, 0.7, 0.6])
    margin = np.array([0.1, 0.3, 0.2, 0.9, 0.5, 0.1, 0.2, 0.3])
    return labels, agree, knn, margin


def test_thresholds_are_strict_majorities():
    labels, agree, knn, margin = _case()
    sel = SeedSelector(per_class=4).fit(labels, agree, knn, margin, k=2)
    # sample 3 fails agreement (0.5 is not > 0.5); sample 4 fails kNN (0.4)
    assert 3 not in sel.indices_ and 4 not in sel.indices_
    assert sel.candidates_.tolist() == [3, 3]


def test_ranking_agreement_then_knn_then_margin():
    labels, agree, knn, margin = _case()
    sel = SeedSelector(per_class=2, ranking="agreement").fit(labels, agree, knn, margin, k=2)
    # class 0: 0 (agree 1.0), then 1 vs 2 tie on agreement 0.9 -> kNN 0.95 wins (2)
    assert sel.indices_by_class()[0].tolist() == [0, 2]
    assert sel.indices_by_class()[1].tolist() == [5, 6]
    assert sel.scores_.shape == (4, 3) and sel.pseudo_labels_.tolist() == [0, 0, 1, 1]


def test_equal_scores_fall_back_to_margin_then_index():
    labels = np.zeros(4, int)
    ones = np.ones(4)
    sel = SeedSelector(per_class=3).fit(labels, ones, ones, np.array([0.1, 0.5, 0.5, 0.2]), k=1)
    assert sel.indices_.tolist() == [1, 2, 3]


def test_short_class_fewer_or_relax():
    labels, agree, knn, margin = _case()
    fewer = SeedSelector(per_class=4).fit(labels, agree, knn, margin, k=2)
    assert fewer.per_class_.tolist() == [3, 3] and fewer.short_classes_ == [0, 1]
    relax = SeedSelector(per_class=4, shortage="relax").fit(labels, agree, knn, margin, k=2)
    assert relax.per_class_.tolist() == [4, 4] and relax.short_classes_ == []
    a_min, k_min = relax.thresholds_[1]
    assert k_min < 0.4 and a_min < 0.5  # relaxed stepwise until sample 4 qualified


def test_quota_larger_than_any_class_is_an_error():
    """Both rules, one message that names the Python setting beside the flag."""
    labels, agree, knn, margin = _case()
    match = r"more than any predicted class.*lower --per-class \(Python: per_class\)"
    with pytest.raises(HumeSSLError, match=match):
        SeedSelector(per_class=5).fit(labels, agree, knn, margin, k=2)
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    with pytest.raises(HumeSSLError, match=match):
        ConsensusSelector(per_class=5).fit(x1, x2, labels, 2)


def test_empty_cluster_is_reported_short():
    labels, agree, knn, margin = _case()
    sel = SeedSelector(per_class=1).fit(labels, agree, knn, margin, k=3)
    assert sel.per_class_.tolist() == [1, 1, 0] and sel.short_classes_ == [2]


def _three_orders():
    # one cluster whose candidates are ordered differently by each ranking:
    #   agreement-first: 0 (0.95), 1 (0.9), 2 (0.6);  kNN-first: 2 (1.0), 1 (0.9), 0 (0.55);
    #   product: 1 (0.81), 2 (0.6), 0 (0.52)
    labels = np.zeros(3, int)
    agree = np.array([0.95, 0.9, 0.6])
    knn = np.array([0.55, 0.9, 1.0])
    return labels, agree, knn, np.zeros(3)


@pytest.mark.parametrize("ranking, order", [("agreement", [0, 1, 2]), ("knn", [2, 1, 0]),
                                            ("product", [1, 2, 0])])
def test_each_ranking_orders_candidates_by_its_own_keys(ranking, order):
    labels, agree, knn, margin = _three_orders()
    sel = SeedSelector(per_class=3, ranking=ranking).fit(labels, agree, knn, margin, k=1)
    assert sel.indices_.tolist() == order


def test_the_hume_rules_defaults_are_the_ones_chosen_on_the_seed_benchmark():
    # the hume rule (seed's default before 0.2): kNN-first ranking, kNN consistency in both
    # spaces, strict majorities, N per class with fewer seeds (never relaxed thresholds) where a
    # cluster is short; the default rule is now the consensus rule, with 20 neighbours
    from hume_ssl.seeds.config import SeedConfig

    labels, agree, knn, margin = _three_orders()
    sel = SeedSelector(per_class=3).fit(labels, agree, knn, margin, k=1)  # default ranking
    assert sel.indices_.tolist() == [2, 1, 0]
    assert SeedConfig().ranking == "knn" and SeedConfig().shortage == "fewer"
    cfg = SeedConfig()
    assert (cfg.rule, cfg.ranking, cfg.n_neighbors, cfg.knn_space, cfg.shortage) == (
        "consensus", "knn", 20, "both", "fewer")
    assert (cfg.min_agreement, cfg.min_knn) == (0.5, 0.5)
    short = SeedSelector(per_class=3).fit(labels, np.array([0.95, 0.9, 0.4]), knn, margin, k=1)
    assert short.indices_.tolist() == [1, 0]  # sample 2 fails agreement: fewer, not relaxed


def test_selector_keeps_the_scikit_learn_contract():
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid

    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.seeds.config import SeedConfig

    sel = SeedSelector(per_class=2, ranking="knn")
    assert sel.get_params() == {"per_class": 2, "min_agreement": 0.5, "min_knn": 0.5,
                                "shortage": "fewer", "relax_step": 0.1, "ranking": "knn"}
    assert SeedSelector.from_config(SeedConfig(per_class=2, ranking="knn")).get_params() == \
        sel.get_params()
    labels, agree, knn, margin = _case()
    picks = {}
    for params in ParameterGrid({"ranking": ["agreement", "knn", "product"], "per_class": [1, 2]}):
        s = clone(sel).set_params(**params).fit(labels, agree, knn, margin, k=2)
        assert s.get_params()["ranking"] == params["ranking"]
        picks[(params["ranking"], params["per_class"])] = s.indices_.tolist()
    assert sel.get_params()["ranking"] == "knn" and not hasattr(sel, "indices_")
    assert picks[("agreement", 2)] == SeedSelector(per_class=2).set_params(
        ranking="agreement").fit(labels, agree, knn, margin, k=2).indices_.tolist()
    with pytest.raises(HumeSSLError, match=r"unknown seed selection option\(s\) \['per_clas'\]"):
        SeedSelector(per_clas=3)
    with pytest.raises(ValueError, match="valid: per_class"):
        sel.set_params(n_neighbors=3)  # a kNN setting of SeedConfig, not of the selector
    with pytest.raises(HumeSSLError, match="--ranking 'best'"):
        SeedSelector(ranking="best").fit(labels, agree, knn, margin, k=2)  # checked in fit


def test_labels_and_shares_outside_their_range_are_refused():
    """Before: labels >= k were silently dropped (a class lost), fractional labels truncated,
    and agreement given in percent accepted."""
    lab, ones = np.arange(60) % 3, np.ones(60)
    with pytest.raises(HumeSSLError, match=r"span 0\.\.2, outside 0\.\.1 \(k=2\)"):
        SeedSelector().fit(lab, ones, ones, k=2)
    with pytest.raises(HumeSSLError, match="whole numbers"):
        SeedSelector().fit(lab + 0.5, ones, ones)
    with pytest.raises(HumeSSLError, match=r"agreement must be shares in \[0, 1\]"):
        SeedSelector().fit(lab, 100 * ones, ones)
    with pytest.raises(HumeSSLError, match="outside 0 and up"):
        SeedSelector().fit(lab - 1, ones, ones)


def test_an_option_of_the_other_rule_names_its_estimator_for_python_users():
    """Before: SeedSelector(shortage="fill") said only "pass --rule consensus", which a Python
    user cannot do."""
    lab, ones = np.arange(30) % 3, np.ones(30)
    with pytest.raises(HumeSSLError, match=r"\(Python: ConsensusSelector\)"):
        SeedSelector(shortage="fill").fit(lab, ones, ones)


def test_the_old_config_name_warns_at_the_callers_line():
    """Before: `hume_ssl.SelectionConfig` warned at hume_ssl/__init__.py, not the user's line."""
    import hume_ssl
    from hume_ssl.seeds.config import SeedConfig

    with pytest.warns(FutureWarning, match="SelectionConfig is deprecated") as rec:
        old = hume_ssl.SelectionConfig
    assert old is SeedConfig and rec[0].filename == __file__


def test_from_config_refuses_what_the_estimator_would_drop():
    """Before: ConsensusSelector.from_config(SeedConfig(rule="hume", min_agreement=0.9))
    dropped both silently and built the consensus rule."""
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.seeds.config import SeedConfig
    from hume_ssl.seeds.consensus import ConsensusSelector

    with pytest.raises(HumeSSLError, match=r"sets rule='hume', but ConsensusSelector is the "
                       r"estimator of rule='consensus'"):
        ConsensusSelector.from_config(SeedConfig(rule="hume", min_agreement=0.9))
    assert SeedSelector.from_config(SeedConfig(rule="hume", min_agreement=0.9)).min_agreement \
        == 0.9
    assert ConsensusSelector.from_config(SeedConfig(per_class=3)).per_class == 3


def test_margins_and_shapes_are_checked_and_from_config_keeps_to_its_rule():
    """Before: NaN margins went into scores_, an (N, 1) agreement failed inside np.lexsort, and
    SeedSelector.from_config(SeedConfig(rule="hume", min_stability=0.5)) dropped
    min_stability."""
    from hume_ssl.seeds.config import SeedConfig

    lab, ones = np.arange(60) % 3, np.ones(60)
    with pytest.raises(HumeSSLError, match="margins holds NaN in 1 rows"):
        SeedSelector().fit(lab, ones, ones, np.r_[np.nan, np.ones(59)])
    top = SeedSelector(per_class=1).fit(lab, ones, ones, np.r_[np.inf, np.ones(59)], k=3.0)
    assert top.indices_[0] == 0  # an infinite margin is a sort key like any other; k 3.0 is 3
    with pytest.raises(HumeSSLError, match=r"agreement must be one value per row, shape "
                       r"\(60,\); got shape \(60, 1\)"):
        SeedSelector().fit(lab, ones[:, None], ones)
    with pytest.raises(HumeSSLError, match="sets min_stability, settings of the consensus rule"):
        SeedSelector.from_config(SeedConfig(rule="hume", min_stability=0.5))
    with pytest.raises(HumeSSLError, match=r"SeedSelector\(config\): the config sets min_stab"), \
            pytest.warns(FutureWarning):
        SeedSelector(SeedConfig(rule="hume", min_stability=0.5))  # the deprecated form too
    with pytest.raises(HumeSSLError, match=r"--per-class '4': must be a whole number"):
        SeedSelector(per_class="4").fit(lab, ones, ones)
