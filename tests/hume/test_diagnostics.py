import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from hume_ssl import Hume
from hume_ssl.core.io import json_text
from hume_ssl.core.metrics import contingency
from hume_ssl.hume.diagnostics import RELIABLE_MAJORITY, ari_from_counts, diagnose, with_seeds


def test_ari_matches_scikit_learn():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    b[:200] = a[:200]
    assert abs(ari_from_counts(contingency(a, b, 5)) - adjusted_rand_score(a, b)) < 1e-12


def test_undefined_diagnostics_are_null_with_a_reason_never_nan():
    labels = np.array([0, 0, 1, 1, 1])  # cluster 2 has no member
    d = diagnose(labels, np.ones(5, np.float32), labels[None], np.array([0.5]), k=3)
    assert d["pairwise_ari"]["mean"] is None and "one restart" in d["pairwise_ari"]["reason"]
    assert d["verdict"] == "uncertain"
    empty = d["clusters"][2]
    assert empty["size"] == 0 and empty["mean_agreement"] is None and empty["reason"]
    assert d["empty_clusters"] == [2]
    text = json_text(with_seeds(d, np.array([2, 3, 0]), np.ones(5, np.float32), labels, 4))
    assert "NaN" not in text and "Infinity" not in text


def test_verdict_reliable_on_digits_and_warns_on_degraded_views(digits_views):
    phi1, phi2, _ = digits_views
    good = Hume(k=10, n_restarts=24, n_steps=150, random_state=0).fit(phi1, phi2)
    assert good.diagnostics_["agreement"]["majority"] >= RELIABLE_MAJORITY
    assert good.diagnostics_["verdict"] == "reliable"
    rng = np.random.default_rng(0)
    noisy = [x + 2.0 * x.std(0) * rng.standard_normal(x.shape).astype(np.float32)
             for x in (phi1, phi2)]
    bad = Hume(k=10, n_restarts=24, n_steps=150, random_state=0).fit(*noisy)
    assert bad.diagnostics_["verdict"] == "unreliable"
    assert "too weak for HUME" in bad.diagnostics_["message"]


def test_verdict_threshold_is_the_calibrated_share_of_samples_with_a_majority():
    # docs/seed_evidence.md "The verdict's threshold": reliable from 66% of samples with a
    # restart majority
    # (recipes/seed_benchmark.py's calibration on k-means-start fits); 65% warns, 67% passes
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 1000)
    labelings = np.stack([labels] * 4)
    for share, verdict in ((0.65, "unreliable"), (0.67, "reliable")):
        agreement = np.where(np.arange(1000) < share * 1000, 0.75, 0.5).astype(np.float32)
        d = diagnose(labels, agreement, labelings, np.full(4, 0.5), k=4)
        assert d["agreement"]["majority"] == pytest.approx(share)
        assert d["agreement"]["above_0.5"] == pytest.approx(share)  # k = 4: the same
        assert d["verdict"] == verdict, (share, d["message"])


def test_weak_clusters_are_named_as_humes_not_as_contact_sheets():
    """Before: "clusters [0, 5, 9] are weak: check their contact sheets": those were HUME's
    ids, while seed's contact sheets number the consensus clusters (and label writes none)."""
    labels = np.arange(1000) % 4
    d = diagnose(labels, np.full(1000, 0.75, np.float32), np.stack([labels] * 4),
                 np.full(4, 0.5), k=4)
    d = with_seeds(d, np.array([10, 10, 1, 10]), np.ones(1000, np.float32), labels, 4)
    assert d["verdict"] == "reliable"
    assert "HUME's clusters [2] (ids of its labels.npy) are weak" in d["message"]
    assert "contact sheet" not in d["message"]


def test_with_two_classes_restarts_of_random_labels_are_not_called_reliable():
    """Before: with k = 2 every sample has half the votes or more, so 100 restarts of random
    labels had "a majority" (> 0.5) on ~92% of samples and the verdict was "reliable". With two
    classes a majority is counted beyond chance: agreement above 0.75 (chance-corrected 0.5)."""
    rng = np.random.default_rng(0)
    n, r = 2000, 100
    noise = rng.integers(0, 2, (r, n))
    labels, agreement, aligned = _vote(noise, 2)
    d = diagnose(labels, agreement, aligned, np.full(r, 0.5), k=2)
    # what the verdict judged before: 0.927 here; 1 - P(50 of 100 votes) = 0.920 expected
    assert d["agreement"]["above_0.5"] == pytest.approx(0.92, abs=0.02)
    assert d["agreement"]["majority_level"] == 0.75 and d["agreement"]["majority"] < 0.05
    assert d["verdict"] == "unreliable"
    assert "a majority agrees beyond chance (agreement > 0.75) on 0%" in d["message"]
    shown = _printed(d)
    assert "majority agreement on 0.0% of samples (agreement > 0.75: with 2 classes half the " \
           "votes is chance)" in shown
    # restarts that agree (each flips 5% of one labeling) stay reliable
    truth = rng.integers(0, 2, n)
    agree = np.where(rng.random((r, n)) < 0.05, 1 - truth, truth)
    labels, agreement, aligned = _vote(agree, 2)
    d = diagnose(labels, agreement, aligned, np.full(r, 0.5), k=2)
    assert d["agreement"]["majority"] > 0.95 and d["verdict"] == "reliable"
    assert d["message"].startswith("a majority of restarts agree beyond chance (agreement > 0.75)")
    # k >= 3 keeps more than half the votes, and says nothing of chance
    d = diagnose(labels, agreement, aligned, np.full(r, 0.5), k=3)
    assert d["agreement"]["majority_level"] == 0.5 and "chance" not in d["message"]
    assert "chance" not in _printed(d)


def _printed(d):
    """What `label` and `seed` print of diagnostics d."""
    from rich.console import Console

    import hume_ssl.cli.tables as tables

    console, before = Console(width=400, record=True), tables.out_console
    tables.out_console = console
    try:
        tables.print_diagnostics(d)
    finally:
        tables.out_console = before
    return console.export_text()


def _vote(labelings, k):
    """HUME's ensemble of restarts' labelings (R, N): aligned to restart 0, then voted."""
    from hume_ssl.hume.ensemble import align, vote

    aligned, _ = align(labelings, 0, k)
    labels, agreement = vote(aligned, k, 0)
    return labels, agreement, aligned


def test_a_share_just_under_the_threshold_never_reads_as_the_threshold():
    """Before: a cluster at 0.6586 read "a restart majority on 66% of its samples (< 66%)", and
    the verdict "a majority agrees on 66%, reliable runs reach 66%" (a review, the demo's HUME)."""
    from hume_ssl.hume.diagnostics import percent_below, verdict

    assert percent_below(0.6586) == "65.9%" and percent_below(0.6599) == "65.99%"
    assert percent_below(0.5) == "50%" and percent_below(0.6549) == "65%"
    assert percent_below(0.6599995) == "65.999%"  # cut, not rounded up to "66.000%"
    diag = {"n_restarts": 10, "clusters": [],
            "agreement": {"majority": 0.6586, "majority_level": 0.5}}
    assert "agrees on 65.9%, reliable runs reach 66%" in verdict(diag)["message"]
    labels = np.repeat([1, 2, 0], [10, 10, 980])  # cluster 0: 646 of 980 rows (0.659) agree
    agreement = np.where(np.arange(1000) < 20 + 646, 0.9, 0.3)
    cluster = diagnose(labels, agreement, np.tile(labels, (4, 1)), np.zeros(4), 3)["clusters"][0]
    assert cluster["reason"] == "a restart majority on 65.9% of its samples (< 66%)"
