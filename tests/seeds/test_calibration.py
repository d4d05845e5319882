"""The expected-precision tables `seed` prints its estimate from (hume_ssl.seeds.calibration).

BIN_COUNTS and FILL_COUNTS were counted on the seed benchmark (their comments give the command
and date; docs/seed_evidence.md). A new count changes every estimate `seed` prints, so it must
come with the table of its command: these tests fail on any change (before: every test of the
estimate was relational, and tables lowered by 20-30 right clusters per bin passed them)."""

import pytest

from hume_ssl.seeds.calibration import BIN_COUNTS, FILL_COUNTS, expected_precision


def test_the_tables_are_the_benchmarks_counts():
    assert BIN_COUNTS == ((68.25, 97), (123.75, 159), (145.75, 158), (81.5, 84))
    assert FILL_COUNTS == (84.5, 137)


def test_a_clusters_estimate_is_its_bins_share_of_right_clusters():
    """One cluster per stability bin (< 0.4, 0.4..0.6, 0.6..0.8, >= 0.8): each one's expected
    share of right seeds is the Beta(1 + right, 1 + wrong) mean of its bin's counts; a cluster
    whose seeds were all filled, FILL_COUNTS' (Monte Carlo: within 0.01)."""
    est = expected_precision([0.3, 0.5, 0.7, 0.9], [4] * 4, 10)
    assert [c["expected"] for c in est["clusters"]] == pytest.approx(
        [69.25 / 99, 124.75 / 161, 146.75 / 160, 82.5 / 86], abs=0.01)
    assert est["overall"]["expected"] == pytest.approx(0.845, abs=0.01)
    filled = expected_precision([0.9], [4], 10, filled=[4])["clusters"][0]
    assert filled["expected"] == pytest.approx(85.5 / 139, abs=0.01)


def test_more_seeds_per_cluster_than_the_table_counted_say_the_estimate_runs_high():
    """Before: --per-class 400 printed the same estimate as 4, "calibrated on the seed
    benchmark", though the table counts each cluster's top 4 seeds and deeper seeds were right
    less often there."""
    at4 = expected_precision([0.5, 0.9], [4, 4], 10, per_class=4)
    deep = expected_precision([0.5, 0.9], [25, 25], 10, per_class=25)
    assert at4["caveat"] is None and "at 4 seeds per cluster" in at4["note"]
    assert deep["caveat"].startswith("--per-class 25: the table counts the top 4 seeds")
    assert "upper estimate" in deep["caveat"]


def test_the_interval_carries_the_tables_own_uncertainty():
    """30 clusters in one bin of a small table (6 right of 10): the bin's chance is uncertain
    (Beta(7, 5), sd 0.14) and shared by all 30. Before, each cluster drew its own chance, which
    averages the uncertainty away: the interval was a binomial's at the mean, 0.43..0.73."""
    small = ((6, 10),) * 4
    est = expected_precision([0.5] * 30, [4] * 30, 10, counts=small)["overall"]
    assert est["expected"] == pytest.approx(7 / 12, abs=0.01)
    assert est["low"] < 0.35 and est["high"] > 0.8, est
    big = ((600, 1000),) * 4  # a table this large is nearly certain: about the binomial's
    est = expected_precision([0.5] * 30, [4] * 30, 10, counts=big)["overall"]
    assert est["low"] > 0.4 and est["high"] < 0.8, est
