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
    assert "0.96 (0.92..1.00)" in text and "chance right (90%)" in text
    # what the per-cluster interval is of (before: under "expected precision (90%)", read as
    # the cluster's seeds' precision, which is 0 or 1: they are right or wrong together)
    assert "chance right: of the cluster's label (its seeds right or wrong together)" in text
    assert "…" not in text and max(map(len, text.splitlines())) <= 80


def test_clusters_without_seeds_show_no_estimate_and_a_few_seeds_say_their_interval_is_odd():
    """Before: a cluster with 0 seeds showed "0.96 (0.92..0.99)", and one seed printed "expected
    seed precision 0.960 (90% interval 1.000..1.000": a mean outside its own interval, unsaid."""
    from hume_ssl.cli.tables import expected_line

    est = {"expected": 0.96, "low": 0.92, "high": 0.99}
    cl = {"cluster": 1, "seeds": 0, "size": 12, "source": "hume", "source_id": 1,
          "stability": 0.91, "core": 9, "candidates": 0, "expected_precision": est}
    res = {"n_seeds": 0, "seeds_dir": "s", "rule": "consensus", "short_classes": [1],
           "clusters": [cl]}
    console = Console(width=120, record=True)
    console.print(seed_table(res))
    text = console.export_text()
    assert "- (no seeds)" in text and "0.96" not in text
    one = expected_line({"expected": 0.96, "low": 1.0, "high": 1.0, "chance_corrected": 0.94},
                        4, 1)
    assert "1.000..1.000, of the few values 4 seed(s) in 1 cluster(s) can take: a cluster's " \
           "seeds are right or wrong together" in one
    many = expected_line({"expected": 0.9, "low": 0.8, "high": 1.0, "chance_corrected": 0.8},
                         40, 10)
    assert "(90% interval 0.800..1.000; chance-corrected 0.800)" in many
    assert "calibrated at 4 seeds per cluster on" in many and many.endswith("k 2 to 10)")
    deep = expected_line({"expected": 0.9, "low": 0.8, "high": 1.0, "chance_corrected": 0.8},
                         250, 10, "--per-class 25: the table counts the top 4")
    assert deep.endswith("; --per-class 25: the table counts the top 4")


def test_the_demo_and_label_tables_fold_their_paths_in_80_columns_never_cut_them():
    """Before: piped `demo` output cut its paths ("/tmp/dq/fixmatch/prediction…")."""
    from types import SimpleNamespace

    import numpy as np

    from hume_ssl.cli.tables import demo_table, label_table

    root = "/tmp/a/rather/long/folder/for/the/demo/run"
    paths = {"pretrain": f"{root}/pretrain", "seeds": f"{root}/seed/seeds",
             "seed": f"{root}/seed", "fixmatch": f"{root}/fixmatch",
             "predictions": f"{root}/fixmatch/predictions_test/predictions.csv",
             "summary": f"{root}/demo.json"}
    r = {"dataset": "digits", "seconds": {"total": 50, "pretrain": 34, "seed": 6, "fixmatch": 6},
         "paths": paths, "kmeans_test_acc": {"pixels": 0.682, "space 1": 0.542},
         "pretrain_knn_acc": 0.736, "n_seeds": 29,
         "seeds_per_class": [4, 4, 4, 4, 0, 4, 1, 4, 0, 4],
         "seed_precision": 0.931, "hume_ensemble_acc": 0.538, "verdict": "unreliable",
         "fixmatch_steps": 8, "test_acc": 0.348}
    console = Console(width=80, record=True, soft_wrap=True)
    console.print(demo_table(r))
    text = console.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    outputs = "".join(line.split("│")[3].strip() for line in text.splitlines()
                      if line.count("│") == 4)  # the outputs column, top to bottom
    for path in paths.values():
        assert path in outputs

    model = SimpleNamespace(best_restart_=12345, scores_=np.full(100000, 0.123456),
                            test_labels_=None)
    m = {"ensemble": {"acc": 0.81234, "ari": 0.71234, "nmi": 0.75123},
         "best_restart": {"acc": 0.80123, "ari": 0.70123, "nmi": 0.74123}}
    console = Console(width=40, record=True, soft_wrap=True)
    console.print(label_table(100000, 1234.5, model, m))
    assert "…" not in console.export_text()
