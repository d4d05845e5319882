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
