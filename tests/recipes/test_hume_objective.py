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
    s = {"best restart": 0.6, "k-means 2 in space 1": 0.7, "k-means 1": 0.5}
    assert hume_objective.limit({**s, "truth in space 1": 0.55}) == "objective"
    assert hume_objective.limit({**s, "truth in space 1": 0.65}) == "search, then objective"
    assert hume_objective.limit({**s, "truth in space 1": 0.75}) == "search"
    assert np.isclose(hume_objective.linear_in(np.eye(3), np.arange(3), 3, 0.1),
                      np.arange(3)).all()  # separable rows keep their labels
