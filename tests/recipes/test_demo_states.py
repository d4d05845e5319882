"""recipes/demo_states.py runs the demo's pretrain and seed steps per random state (tiny)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
import demo_states  # noqa: E402


def test_one_row_per_state_and_epochs_and_finished_runs_reused(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--quick", "--states", "0,1", "--epochs", "1",
            "--device", "cpu"]
    rows = demo_states.main(args)
    assert [(r["epochs"], r["state"]) for r in rows] == [(1, 0), (1, 1)]
    assert all(0 <= r["precision"] <= 1 and r["n_seeds"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert "| epochs | state | kNN-200 |" in out and "precision >= 0.95 in" in out
    done = tmp_path / "e1_s0" / "pretrain" / "metrics.json"
    before = done.stat().st_mtime_ns
    again = demo_states.main(args)  # the finished runs are read back, not trained again
    assert done.stat().st_mtime_ns == before
    assert [r["precision"] for r in again] == [r["precision"] for r in rows]


def test_states_that_are_not_numbers_are_a_usage_error(tmp_path, capsys):
    for bad in ("0,x", ","):
        try:
            demo_states.main(["--out", str(tmp_path), "--quick", "--states", bad])
        except SystemExit as e:
            assert e.code == 2
        else:
            raise AssertionError(f"--states {bad!r} was accepted")
        assert "--states" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing started
