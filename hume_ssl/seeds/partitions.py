"""The partitions the consensus rule compares (hume_ssl.seeds.consensus): k-means of each space's
unit rows (centred as HUME sees them) and of both side by side, and the spectral clustering of
both spaces' kNN graph; and the rows and neighbour lists they are made from.

    rows = (space_rows(x1, center), space_rows(x2, center))   # (N, d1), (N, d2) unit rows
    kmeans, impl = kmeans_partitions(rows, k, states, random_state, embedding=graph_embedding(
        nbrs, k))                                              # [(state, {name: (N,) labels})]
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.knn import knn_search, l2_normalise
from hume_ssl.hume.rows import column_mean
from hume_ssl.seeds.config import GRAPH_MAX_CELLS, KMEANS_RESTARTS

SKLEARN_MAX_ROWS = 200_000  # above: faiss k-means
DENSE_EIGH_ROWS = 2_000  # up to: a dense eigendecomposition (the sparse solver needs k << N)


def space_rows(x: np.ndarray, center: bool) -> np.ndarray:
    """(N, d) float32 rows as HUME and the kNN see them: centred (with `center`), unit length."""
    x = np.asarray(x, np.float32)
    return l2_normalise(x - column_mean(x) if center else x)


def space_neighbours(
    x: np.ndarray, n_neighbors: int, center: bool, backend: str = "auto", device: str = "auto"
) -> tuple[np.ndarray, str]:
    """(N, n_neighbors) cosine neighbours of every row of one space, itself excluded, and the
    backend used. With `center` (HUME's `center`, on by default) the rows are centred first, as
    HUME sees them: pooled ReLU features share one dominant direction that otherwise bends
    cosine neighbourhoods towards it."""
    if center:
        x = np.asarray(x, np.float32) - column_mean(x)  # (N, d) float32 copy
    return knn_search(x, n_neighbors, backend, device=device)


def kmeans_labels(x: np.ndarray, k: int, random_state: int) -> tuple[np.ndarray, str]:
    """(N,) int64 k-means labels of unit rows x (N, d) and the implementation used:
    scikit-learn (KMEANS_RESTARTS restarts, run to convergence, the lowest inertia kept) up to
    SKLEARN_MAX_ROWS rows, faiss above (as many restarts of 100 iterations; far faster at ImageNet
    size, and what the benchmark has not measured)."""
    if len(x) <= SKLEARN_MAX_ROWS:
        from sklearn.cluster import KMeans

        # (scikit-learn takes seeds below 2**32, faiss below 2**31: larger states wrap)
        km = KMeans(k, n_init=KMEANS_RESTARTS, random_state=random_state % 2**32).fit(x)
        return km.labels_.astype(np.int64), "scikit-learn"
    try:
        import faiss
    except ImportError:
        raise HumeSSLError(f"the consensus rule's k-means on {len(x)} rows needs faiss: pip "
                           "install faiss-cpu (or faiss-gpu), or pass --rule hume.") from None
    km = faiss.Kmeans(x.shape[1], k, niter=100, nredo=KMEANS_RESTARTS,
                      seed=(int(random_state) + 1) % 2**31, verbose=False)
    x = np.ascontiguousarray(x, np.float32)
    km.train(x)
    return km.index.search(x, 1)[1][:, 0].astype(np.int64), "faiss"


def normalised_knn_graph(nbrs):
    """(N, N) sparse S = D^-1/2 A D^-1/2 of A, the union of the neighbour lists nbrs ((N, m)
    each): an edge where either row is among the other's neighbours in any list (0/1,
    symmetric)."""
    from scipy import sparse

    cols = np.concatenate([np.asarray(b, np.int64) for b in nbrs], 1)  # (N, sum of m)
    n = len(cols)
    a = sparse.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(n), cols.shape[1]),
                                                cols.ravel())), shape=(n, n))
    a = ((a + a.T) > 0).astype(np.float64)  # (N, N) symmetric 0/1
    d = sparse.diags(1.0 / np.sqrt(np.asarray(a.sum(1)).ravel()))
    return (d @ a @ d).tocsr()


def graph_embedding(nbrs, k: int) -> Optional[np.ndarray]:
    """(N, k) float32 unit rows: the spectral embedding (Ng, Jordan & Weiss 2001) of the kNN
    graph of both spaces, nbrs their (N, n_neighbors) neighbour lists: an edge joins two rows
    when either is among the other's neighbours in either space (unweighted, symmetric); the
    rows of the top k eigenvectors of D^-1/2 A D^-1/2, each scaled to unit length. None when
    N x k > GRAPH_MAX_CELLS or k >= N (the graph partition is then left out)."""
    n = len(nbrs[0])
    if n * k > GRAPH_MAX_CELLS or k >= n:
        return None
    m = normalised_knn_graph(nbrs)  # (N, N), eigenvalues in [-1, 1]
    if n <= DENSE_EIGH_ROWS:
        from scipy.linalg import eigh

        vecs = eigh(m.toarray(), subset_by_index=[n - k, n - 1])[1]  # (N, k) the top k only
    else:
        from scipy.sparse.linalg import eigsh

        vecs = eigsh(m, k=k, which="LA", tol=1e-4, v0=np.ones(n))[1]  # (N, k)
    return l2_normalise(vecs.astype(np.float32))


def kmeans_inputs(rows) -> dict:
    """{kmeans1: r1 (N, d1), kmeans2: r2 (N, d2), joint: (N, d1 + d2)}: the unit rows each
    k-means partition clusters (both spaces side by side, still unit rows)."""
    r1, r2 = rows
    return {"kmeans1": r1, "kmeans2": r2, "joint": np.concatenate([r1, r2], 1) / np.sqrt(2.0)}


def kmeans_partitions(rows, k: int, states: int, random_state: int,
                      progress=None, embedding: Optional[np.ndarray] = None
                      ) -> tuple[list[tuple[int, dict]], str]:
    """[(random_state, {name: (N,) labels})] of the k-means partitions of PARTITIONS (each of
    kmeans_inputs' rows, and "graph": of the spectral `embedding` (N, k), graph_embedding,
    unless None) for each random state random_state x states + i, i < states, and the k-means
    implementation used; progress: called (states done, states) after each."""
    inputs = kmeans_inputs(rows)
    if embedding is not None:
        inputs["graph"] = embedding
    out = []
    for i in range(states):
        state = random_state * states + i
        parts = {}
        for name, x in inputs.items():
            parts[name], impl = kmeans_labels(x, k, state)
        out.append((state, parts))
        if progress is not None:
            progress(i + 1, states)
    return out, impl
