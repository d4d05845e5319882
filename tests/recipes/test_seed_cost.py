"""recipes/seed_cost.py times `seed`'s stages under each rule (a tiny run)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
import seed_cost  # noqa: E402


def test_tiny_run_times_every_rule(tmp_path, digits_views, capsys):
    phi1, phi2, _ = digits_views
    np.save(tmp_path / "a.npy", phi1), np.save(tmp_path / "b.npy", phi2)
    rows = seed_cost.main(["--phi1", str(tmp_path / "a.npy"), "--phi2", str(tmp_path / "b.npy"),
                           "--restarts", "3", "--steps", "10", "--device", "cpu"])
    assert [r["rule"] for r in rows] == ["hume rule", "consensus, 1 k-means state(s) (shipped)",
                                         "consensus, 3 k-means states",
                                         "consensus, anchor anywhere (--anchor-parts 1)",
                                         "consensus, bulk of the members (--bulk-of members)",
                                         "consensus, k-means partitions only "
                                         "(--no-graph-partition)"]
    assert all(r["select"][1] > 0 and r["seeds"] > 0 for r in rows)  # timed, and seeds
    assert "x the hume rule's" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="both --phi1 and --phi2"):
        seed_cost.main(["--phi1", str(tmp_path / "a.npy")])
