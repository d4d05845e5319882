"""recipes/hume_objective.py runs end to end at a tiny size: it recomputes HUME's own restart
score, and judges what limits HUME from the scores."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

import hume_objective  # noqa: E402


def test_hume_objective_recomputes_the_fits_score_and_prints_the_table(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--sets", "digits", "--restarts", "3", "--steps", "5"]
    (r,) = hume_objective.main(args)
    assert (tmp_path / "digits.npz").exists()  # the fit, saved as seed_benchmark.py saves it
    # the best restart's score is HUME's own (Hume.scores_), recomputed from its labels
    assert abs(r["score"]["best restart"] - r["fit_best_score"]) < 1e-6
    assert r["acc"]["truth"] == 1.0 and r["acc"]["truth in space 1"] > 0.9  # digits: near
    assert r["limit"] == hume_objective.limit(r["score"])
    out = capsys.readouterr().out
    assert "| digits (1797, 10, 3, kmeans) | " in out and f"| {r['limit']} |" in out
    saved = (tmp_path / "digits.npz").stat().st_mtime_ns
    (again,) = hume_objective.main(args)  # the saved fit is reused, not fitted again
    assert again["score"] == r["score"] and (tmp_path / "digits.npz").stat().st_mtime_ns == saved


def test_what_limits_hume_follows_the_truths_labeling_in_space_1():
    s = {"best restart": 0.6, "k-means 2 in space 1": 0.7, "k-means 1": 0.9}  # k-means 1: unused
    assert hume_objective.limit({**s, "truth in space 1": 0.55}) == "objective"
    assert hume_objective.limit({**s, "truth in space 1": 0.605}) == "level"  # within LEVEL
    assert hume_objective.limit({**s, "truth in space 1": 0.65}) == "search, then objective"
    assert hume_objective.limit({**s, "truth in space 1": 0.705}) == "search, then objective"
    assert hume_objective.limit({**s, "truth in space 1": 0.75}) == "search"


def test_the_encoder_fit_recovers_a_labeling_an_encoder_outputs():
    # labels made by a HUME encoder (orthonormal rows, no bias) on random unit rows, permuted
    # class ids: the fit of that form gets them all back (the least-squares start alone not)
    import torch

    from hume_ssl.hume.engine import orthonormal_rows

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(600, 8))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    w = orthonormal_rows(torch.from_numpy(rng.normal(size=(1, 8, 4))))[0].numpy()  # (4, 8)
    labels = np.array([2, 0, 3, 1])[(rows @ w.T).argmax(1)]
    fitted = hume_objective.linear_in(rows, labels, 4)
    assert (fitted == labels).mean() > 0.98
    start = hume_objective.linear_in(rows, labels, 4, steps=0)
    assert (start == labels).mean() < (fitted == labels).mean()
