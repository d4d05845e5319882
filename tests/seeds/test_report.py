"""hume_ssl.seeds.report: seed precision against ground truth, under both maps."""

import json

import numpy as np

from hume_ssl.seeds.report import seed_report


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
    assert json.loads((tmp_path / "report.json").read_text())["seed_precision_own_map"] == 1.0
    none = seed_report(tmp_path, partition, truth, idx[:0], pseudo[:0], {})
    assert none["seed_precision_own_map"] is None
