"""The chunk store (finished/partial chunk files) and the lane plan (which restarts a rank
trains), on their own."""

from __future__ import annotations

import numpy as np
import pytest

from hume_ssl import Hume
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.hume.chunks import ChunkStore, differences, lane_plan
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.engine import LANE


def test_lane_plan_deals_whole_lanes_once_over_the_ranks():
    finished = {0, 1, 2, 3, 4, 5, 6, 7, 9}  # lane 0 done, lane 1 partly
    plans = [lane_plan(30, finished, r, 2) for r in range(2)]
    assert sorted(np.concatenate(plans).tolist()) == sorted(set(range(30)) - finished)
    lanes = [{int(r) // LANE for r in p} for p in plans]
    assert lanes == [{1, 3}, {2}] and not lanes[0] & lanes[1]
    assert lane_plan(30, finished, 0, 1).tolist() == sorted(set(range(30)) - finished)
    assert lane_plan(8, set(range(8)), 0, 1).tolist() == []


def test_chunk_store_round_trip_partial_and_refusal(tmp_path):
    store = ChunkStore(tmp_path, "fp1")
    ids = np.arange(8, 16)
    enc, curves = np.random.default_rng(0).normal(size=(8, 3, 5)), np.ones((4, 8))
    assert store.finished() == {} and store.partial(ids) is None
    store.save_partial(ids, {"step": 3})
    assert store.partial(ids) == {"step": 3}
    assert store.partial(ids + 1) is None  # another chunk of the same fit: quietly not it
    with pytest.warns(UserWarning, match="unfinished chunk of other inputs or settings; its "
                                         "restarts start over"):
        assert ChunkStore(tmp_path, "fp2").partial(ids) is None
    store.save_finished(ids, enc, curves)
    assert not (tmp_path / "chunks" / "partial.pt").exists()  # the finished chunk replaces it
    done = store.finished()
    assert sorted(done) == ids.tolist() and np.array_equal(done[9][0], enc[1])
    (tmp_path / "chunks" / "restarts_00000-00007.npz").write_bytes(b"half a file")
    assert sorted(store.finished()) == ids.tolist()  # the unreadable chunk is dropped
    assert not (tmp_path / "chunks" / "restarts_00000-00007.npz").exists()
    with pytest.raises(HumeSSLError, match="other inputs or settings"):
        ChunkStore(tmp_path, "fp2").finished()


def test_a_chunk_of_another_fit_says_what_differs(tmp_path):
    """Before (a user walkthrough): "made from other inputs or settings" named neither, and an
    unfinished chunk of another fit was dropped without a word."""
    ids = np.arange(8)
    ours = {"cfg": {"k": 4, "n_steps": 30, "lr": 0.03}, "inputs": "a"}
    theirs = {"cfg": {"k": 4, "n_steps": 40, "lr": 0.03}, "inputs": "b"}
    ChunkStore(tmp_path, "fp1", ours).save_partial(ids, {"step": 3})
    with pytest.warns(UserWarning, match=r"other inputs or settings \(n_steps 30 -> 40, the "
                                         r"input features\); its restarts start over"):
        assert ChunkStore(tmp_path, "fp2", theirs).partial(ids) is None
    ChunkStore(tmp_path, "fp1", ours).save_finished(ids, np.zeros((8, 2, 2)), np.zeros((3, 8)))
    with pytest.raises(HumeSSLError, match=r"other inputs or settings than this run \(n_steps "
                                           r"30 -> 40, the input features\); use another --out"):
        ChunkStore(tmp_path, "fp2", theirs).finished()
    # through Hume: a setting left out of the fingerprint at its older value (_ADDED) is in
    # the identity, so the message names both values (in review: "encoder_init None -> ...")
    what = differences(Hume(k=3, encoder_init="gaussian")._identity("x"), Hume(k=3)._identity("x"))
    assert what == "encoder_init 'gaussian' -> 'kmeans'"


def test_fingerprints_are_those_older_chunks_carry():
    """The fingerprints of 42d74de (before the identity was saved beside them): a change to
    how they are computed would make every earlier run's finished restarts refused."""
    assert Hume(k=3)._fingerprint("x") == "03c7a7e6afd5d0fd"
    assert Hume(k=5, encoder_init="gaussian", anneal_steps=(5,))._fingerprint("x") == \
        "061f678a51cc73b2"
    assert Hume(k=4, n_steps=40, extra={"a": 1})._fingerprint("x") == "9aec4d6a6d8e84b9"


def test_without_a_folder_nothing_is_kept(tmp_path):
    store = ChunkStore(None, "fp")
    store.save_finished(np.arange(8), np.zeros((8, 2, 2)), np.zeros((3, 8)))
    assert not store.enabled and store.finished() == {} and store.partial(np.arange(8)) is None


def test_a_setting_added_later_keeps_older_checkpoints_resumable():
    # encoder_init came after checkpoints existed: at the value those runs had ("gaussian") it
    # is left out of the fingerprint, so they resume with --encoder-init gaussian; the default
    # (kmeans) is a different run and starts afresh
    from hume_ssl.core.io import config_hash
    from hume_ssl.hume.estimator import _RESULT_NEUTRAL

    older = {k: v for k, v in HumeConfig(k=3).to_dict().items()
             if k not in _RESULT_NEUTRAL and k != "encoder_init"}
    gaussian = Hume(k=3, encoder_init="gaussian")._fingerprint("h")
    assert gaussian == config_hash({"cfg": older, "inputs": "h"})
    assert Hume(k=3)._fingerprint("h") != gaussian
