"""What `seed` says in words (hume_ssl.seeds.messages): the advice on clusters small for --knn."""

import numpy as np

from hume_ssl.seeds.config import SeedConfig
from hume_ssl.seeds.messages import small_clusters_note


def test_the_knn_advice_is_given_only_where_a_lower_knn_can_help():
    """Before (in review): --knn 2 with a 3-row cluster was told "e.g. --knn 2", --knn 1 was
    told a higher one, 1-row clusters were promised seeds from a lower --knn, and the hume
    rule was told about a core it does not have."""
    consensus, hume = SeedConfig(n_neighbors=20), SeedConfig(rule="hume", n_neighbors=20)
    assert small_clusters_note(consensus, np.array([40, 100])) == ""  # large enough
    assert small_clusters_note(consensus, np.array([])) == ""
    note = small_clusters_note(consensus, np.array([12, 300]))
    assert "the smallest holds 12 rows" in note and note.endswith("(e.g. --knn 5).")
    assert "inside its cluster's core" in note
    assert "inside its cluster;" in small_clusters_note(hume, np.array([12]))
    assert "no --knn gives it seeds" in small_clusters_note(consensus, np.array([1, 50]))
    assert small_clusters_note(SeedConfig(n_neighbors=2), np.array([3])).endswith("--knn 1).")
    assert small_clusters_note(SeedConfig(n_neighbors=1), np.array([3])) == ""  # none lower
