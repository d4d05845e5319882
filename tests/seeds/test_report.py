"""hume_ssl.seeds.report: seed precision against ground truth, under both maps."""

import json

import numpy as np

from hume_ssl.seeds.report import cluster_anatomy, describe_wrong, seed_report, wrong_kind


def test_seeds_outvoted_in_their_cluster_are_right_under_their_own_map(tmp_path):
    # cluster 0: 60 airplanes (class 0) and 40 ships (class 1); cluster 1: 100 ships. The
    # whole partition maps 0 -> airplane, 1 -> ship. Seeds: 4 ships under label 0, 4 airplanes
    # (from cluster 0) under label 1: all wrong under the partition's map, all right under the
    # seeds' own (0 -> ship, 1 -> airplane), which is what a classifier trained on them learns.
    partition = np.repeat([0, 1], 100)
    truth = np.concatenate([np.zeros(60), np.ones(140)]).astype(int)
    ships0 = np.arange(60, 64)
    planes0 = np.arange(0, 4)
    idx = np.concatenate([ships0, planes0])
    pseudo = np.repeat([0, 1], 4)
    rep = seed_report(tmp_path, partition, truth, idx, pseudo, {0: ships0, 1: planes0})
    assert rep["seed_precision"] == 0.0
    assert rep["seed_precision_own_map"] == 1.0
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["seed_precision_own_map"] == 1.0
    # why: cluster 0's seeds are its second largest class (ships, 40%), cluster 1's a class
    # outside its members (airplanes: cluster 1 holds none)
    assert [(c["cluster"], c["wrong"], c["member_classes"]) for c in saved["clusters"]] == [
        (0, "second", [[0, 0.6], [1, 0.4]]), (1, "other", [[1, 1.0]])]
    assert saved["clusters"][0]["seed_classes"] == [1, 1, 1, 1]
    assert set(saved["wrong_kinds"]) == {"mixed", "largest", "second", "other"}
    none = seed_report(tmp_path, partition, truth, idx[:0], pseudo[:0], {})
    assert none["seed_precision_own_map"] is None


def test_wrong_seeds_are_told_apart_by_the_members_classes_and_the_map():
    members = [[0, 0.38], [8, 0.34]]
    assert wrong_kind([6, 6, 6, 6], 6, [[6, 0.6]]) is None
    assert wrong_kind([8, 8, 8, 0], 0, members) == "second"  # a merge named after its other
    assert wrong_kind([0, 0, 0, 0], 8, members) == "largest"  # a split: the map says 8
    assert wrong_kind([0, 0, 0, 8], 0, members) == "mixed"
    assert wrong_kind([2, 2, 2, 2], 0, members) == "other"
    assert wrong_kind([], 0, members) is None


def test_a_class_split_over_two_clusters_makes_one_cluster_s_majority_seeds_wrong():
    # the digits' 1s: cluster 0 is 52 ones and 45 eights, cluster 1 is 60 ones and 10 nines;
    # the one-to-one map gives "1" to cluster 1 (60 + 45 > 52 + 0) and "8" to cluster 0, whose
    # seeds, ones like most of its rows, are then all wrong
    truth = np.array([1] * 52 + [8] * 45 + [1] * 60 + [9] * 10)
    partition = np.repeat([0, 1], [97, 70])
    seeds = {0: np.arange(4), 1: np.arange(97, 101)}
    from hume_ssl.core.metrics import hungarian_map

    anat = cluster_anatomy(partition, truth, seeds, hungarian_map(partition, truth))
    assert [(a["mapped_class"], a["right"], a["wrong"]) for a in anat] == [
        (8, 0, "largest"), (1, 4, None)]
    assert anat[0]["member_classes"] == [[1, 0.536], [8, 0.464]]
    assert describe_wrong(anat[1]) is None and describe_wrong({"cluster": 0}) is None
    assert describe_wrong(anat[0]) == (
        "cluster 0: seeds [1, 1, 1, 1], mapped to 8; members 1 54%, 8 46%: the seeds' commonest "
        "class is the members' largest; the map names the cluster after another")
    # seeds of three classes (before: "the seeds are a class outside the members' two largest")
    assert describe_wrong({"cluster": 2, "seed_classes": [8, 1, 9, 9], "mapped_class": 3,
                           "member_classes": [[3, 0.5], [1, 0.2]], "wrong": "other"}).endswith(
        "the seeds' commonest class is outside the members' two largest")


def test_the_curve_ends_where_the_ranked_candidates_end(tmp_path):
    """Before: 4 candidates per cluster still gave marks and a curve up to 400 per class, the
    same precision repeated as if it were measured there."""
    partition = np.repeat([0, 1], 10)
    truth = partition.copy()
    ranked = {0: np.arange(4), 1: np.arange(10, 13)}
    rep = seed_report(tmp_path, partition, truth, np.arange(2), np.zeros(2, int), ranked)
    assert list(rep["precision_at_per_class"]) == ["1", "4"]
    assert rep["curve"]["per_class"] == [1, 2, 3, 4] and rep["curve"]["seeds"][-1] == 7
