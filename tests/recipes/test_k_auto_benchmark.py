"""recipes/k_auto_benchmark.py runs end to end at a tiny size and reports what `seed --k auto`
chose (choose_k), from the table the scan saved."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))

import k_auto_benchmark  # noqa: E402


def test_k_auto_benchmark_reports_the_scan_and_reuses_it(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--sets", "digits", "--k-range", "2-4", "--restarts", "3",
            "--steps", "5"]
    (r,) = k_auto_benchmark.main(args)
    assert r["true_k"] == 10 and [row["k"] for row in r["rows"]] == [2, 3, 4]
    assert r["chosen"] == k_auto_benchmark.best_k(r["rows"], "restart_ari")  # what it ships
    out = capsys.readouterr().out
    assert "| digits | 10 | " in out and "--k auto chose the true k on 0 of 1 sets" in out
    (again,) = k_auto_benchmark.main(args)  # every row reused from OUT/digits/k_auto.json
    assert again["rows"] == r["rows"] and again["chosen"] == r["chosen"]
