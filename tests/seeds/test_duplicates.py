"""Exact duplicate rows: a cluster's seeds take one row of each group of identical rows."""

import numpy as np
import pytest

from hume_ssl.seeds.consensus import ConsensusSelector
from hume_ssl.seeds.duplicates import duplicate_groups, first_distinct, n_duplicates
from hume_ssl.seeds.selection import SeedSelector


def test_duplicate_groups_point_every_copy_at_its_first_row():
    x1 = np.array([[1, 2], [3, 4], [1, 2], [1, 2], [5, 6]], np.float32)
    x2 = np.array([[0, 0], [1, 1], [0, 0], [9, 9], [2, 2]], np.float32)
    groups = duplicate_groups(x1, x2)
    # row 3 equals row 0 in space 1 only: not a duplicate (both spaces must match)
    assert groups.tolist() == [0, 1, 0, 3, 4] and n_duplicates(groups) == 1
    assert first_distinct(np.array([2, 0, 1, 4]), groups, 3).tolist() == [0, 2, 3]
    assert first_distinct(np.array([2, 0, 1]), None, 2).tolist() == [0, 1]


def _tripled(blobs):
    phi1, phi2, y = blobs
    return np.repeat(phi1, 3, 0), np.repeat(phi2, 3, 0), np.repeat(y, 3)  # rows 3i..3i+2 equal


@pytest.mark.parametrize("rule", ["consensus", "hume"])
def test_seeds_are_distinct_images_when_every_row_is_there_three_times(blobs, rule):
    """Before: with each image three times, a cluster's 4 seeds were mostly copies of one image
    (copies are each other's nearest neighbours, so the kNN terms rank them first)."""
    x1, x2, y = _tripled(blobs)
    if rule == "consensus":
        sel = ConsensusSelector(per_class=4, n_neighbors=10, kmeans_states=2).fit(x1, x2, y, 3)
    else:
        n = len(y)
        sel = SeedSelector(per_class=4).fit(y, np.ones(n), np.ones(n), k=3,
                                            duplicate_of=duplicate_groups(x1, x2))
    assert len(sel.indices_) == 12
    images = sel.indices_ // 3  # the image each seed row is a copy of
    assert len(np.unique(images)) == 12, sel.indices_
    assert n_duplicates(sel.duplicate_of_) == 2 * len(blobs[2])


def test_data_without_duplicates_gets_the_same_seeds_as_without_the_groups(blobs):
    phi1, phi2, y = blobs
    assert n_duplicates(duplicate_groups(phi1, phi2)) == 0
    sel = ConsensusSelector(per_class=4, n_neighbors=10, kmeans_states=2)
    from hume_ssl.seeds import consensus

    before = consensus.first_distinct
    try:
        consensus.first_distinct = lambda ranked, groups, n: np.arange(min(n, len(ranked)))
        plain = sel.fit(phi1, phi2, y, 3).indices_.copy()
    finally:
        consensus.first_distinct = before
    assert np.array_equal(sel.fit(phi1, phi2, y, 3).indices_, plain)


def test_copies_count_once_when_the_hume_rule_relaxes_a_short_cluster():
    """Before (in review): copies were dropped after the relax loop had stopped, counting them
    as two candidates: cluster 0 came out short though a relaxed row was there."""
    labels = np.array([0, 0, 0, 1, 1, 1])
    agreement = np.array([1.0, 1.0, 0.3, 1.0, 1.0, 1.0])
    groups = np.array([0, 0, 2, 3, 4, 5])  # rows 0 and 1 are one image
    sel = SeedSelector(per_class=2, shortage="relax").fit(labels, agreement, np.ones(6), k=2,
                                                          duplicate_of=groups)
    assert sel.per_class_.tolist() == [2, 2] and sel.short_classes_ == []
    assert sorted(sel.indices_[sel.pseudo_labels_ == 0].tolist()) == [0, 2]
    assert sel.candidates_.tolist() == [1, 3]  # the copy is no second candidate
