import numpy as np
import pytest

from hume_ssl.core.metrics import cluster_acc, clustering_metrics


def test_acc_is_permutation_invariant():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_acc(np.array([2, 2, 0, 0, 1, 1]), y) == 1.0
    m = clustering_metrics(np.array([2, 2, 0, 0, 1, 0]), y)
    assert abs(m["acc"] - 5 / 6) < 1e-9 and m["ari"] < 1 and m["nmi"] < 1


def test_label_accuracy_is_plain_for_class_ids_and_matched_for_cluster_ids():
    from hume_ssl.core.metrics import ACCURACY_KIND, label_accuracy

    truth = np.array([0, 0, 1, 1, 2, 2])
    swapped = np.array([1, 1, 0, 0, 2, 2])  # right up to renaming the clusters
    assert label_accuracy(swapped, truth, aligned=False) == 1.0
    assert label_accuracy(swapped, truth, aligned=True) == pytest.approx(1 / 3)
    assert label_accuracy(np.zeros(0), np.zeros(0), aligned=True) is None
    assert ACCURACY_KIND[True] == "accuracy"


def test_accuracy_interval_is_wilsons_and_stays_inside_0_1():
    """Test accuracies said how far to trust them (before: a bare figure on 30 or 10,000
    images alike). Reference values: Wilson's 95% interval of 50/100 is 0.4038..0.5962."""
    from hume_ssl.core.metrics import accuracy_interval

    low, high = accuracy_interval(0.5, 100)
    assert abs(low - 0.40383) < 1e-4 and abs(high - 0.59617) < 1e-4
    assert accuracy_interval(1.0, 30)[1] == 1.0 and 0.88 < accuracy_interval(1.0, 30)[0] < 0.89
    assert accuracy_interval(0.0, 10)[0] == 0.0 and 0.27 < accuracy_interval(0.0, 10)[1] < 0.28
    wide, narrow = accuracy_interval(0.8, 30), accuracy_interval(0.8, 10_000)
    assert wide[1] - wide[0] > 0.25 and narrow[1] - narrow[0] < 0.02
    assert accuracy_interval(None, 30) is None and accuracy_interval(0.9, 0) is None
