import numpy as np
import pytest

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.knn import faiss_available, knn_consistency, knn_search


def test_faiss_and_torch_agree_without_ties():
    if not faiss_available():
        pytest.skip("faiss not installed")
    x = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    a, name_a = knn_search(x, 10, backend="faiss")
    b, name_b = knn_search(x, 10, backend="torch")
    assert "faiss" in name_a and "torch" in name_b
    assert (a == b).all()
    assert not (a == np.arange(300)[:, None]).any()  # the sample itself is excluded


def test_ivf_index_finds_most_true_neighbours():
    if not faiss_available():
        pytest.skip("faiss not installed")
    x = np.random.default_rng(1).normal(size=(2000, 8)).astype(np.float32)
    exact, _ = knn_search(x, 5, backend="faiss", index="exact")
    ivf, name = knn_search(x, 5, backend="faiss", index="ivf")
    assert "IVF" in name
    recall = np.mean([len(set(e) & set(i)) / 5 for e, i in zip(exact, ivf)])
    assert recall > 0.9


def test_consistency_and_bad_k():
    labels = np.array([0, 0, 1, 1])
    nbrs = np.array([[1, 2], [0, 3], [3, 0], [2, 1]])
    assert knn_consistency(labels, nbrs).tolist() == [0.5, 0.5, 0.5, 0.5]
    with pytest.raises(HumeSSLError, match="knn"):
        knn_search(np.eye(4, dtype=np.float32), 4)


def test_rows_an_ivf_search_left_short_are_searched_again_exactly(monkeypatch):
    # faiss IVF pads a row with -1 when the probed lists hold fewer than n_neighbors + 1
    # vectors; two or more pads in one row used to be mapped to "self" twice and broke the
    # self-removal
    from hume_ssl.core import knn

    x = np.random.default_rng(3).standard_normal((300, 6)).astype(np.float32)
    exact, _ = knn_search(x, 10, backend="torch")

    def short_ivf(xn, n_neighbors, index, device):
        sims = xn @ xn.T
        ids = np.argsort(-sims, axis=1, kind="stable")[:, : n_neighbors + 1].copy()
        ids[::7, -3:] = -1  # every 7th row: three pads
        ids[1::7, -1] = -1  # every 7th row + 1: one pad
        return ids, "fake IVF"

    monkeypatch.setattr(knn, "faiss_available", lambda: True)
    monkeypatch.setattr(knn, "_faiss_search", short_ivf)
    ids, name = knn_search(x, 10, backend="faiss", index="ivf")
    assert name == "fake IVF" and ids.shape == (300, 10) and (ids >= 0).all()
    assert not (ids == np.arange(300)[:, None]).any()
    np.testing.assert_array_equal(ids, exact)
