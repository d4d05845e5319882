"""What the commands print: tables stay whole in 80 columns (piped output)."""

from rich.console import Console

from hume_ssl.cli.tables import seed_table


def test_the_consensus_seed_table_keeps_its_expected_precision_whole_in_80_columns():
    """Before: piped `seed` output cut the interval ("0.96 (0.92..…") and its header."""
    cl = {"cluster": 0, "seeds": 4, "size": 1234, "source": "kmeans2", "source_id": 3,
          "stability": 0.8123, "core": 800, "candidates": 120,
          "expected_precision": {"expected": 0.96, "low": 0.92, "high": 1.0}}
    res = {"n_seeds": 4, "seeds_dir": "/tmp/some/rather/long/run/folder/seeds", "rule": "consensus",
           "short_classes": [0], "clusters": [cl]}
    console = Console(width=80, record=True, soft_wrap=True)
    console.print(seed_table(res))
    text = console.export_text()
    assert "0.96 (0.92..1.00)" in text and "expected precision (90%)" in text
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
