"""Nearest neighbours by cosine similarity: faiss when installed, an exact torch fallback.

    nbrs, backend = knn_search(x, n_neighbors=20)   # x (N, d); nbrs (N, n_neighbors) int64

Exact inner-product search (faiss IndexFlatIP) by default; an IVF index for large N
(`index="ivf"`, or "auto" above 200,000 rows); the GPU index when faiss-gpu and CUDA are
there. Without faiss, an exact chunked torch search (GPU if available) with a warning.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from hume_ssl.core.errors import HumeSSLError

IVF_AUTO_ROWS = 200_000


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _drop_self(ids: np.ndarray, n_neighbors: int) -> np.ndarray:
    """(N, n_neighbors + 1) neighbour lists -> (N, n_neighbors) without the query row itself
    (or the last extra)."""
    n = ids.shape[0]
    is_self = ids == np.arange(n)[:, None]
    # rows where self was not returned (exact ties): drop the last column instead
    missing = ~is_self.any(1)
    is_self[missing, -1] = True
    return ids[~is_self].reshape(n, n_neighbors)


def _fill_missing(ids: np.ndarray, x: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Rows where an approximate (IVF) search found fewer than n_neighbors + 1 neighbours
    (faiss pads them with -1) are searched again exactly, so every row gets n_neighbors + 1
    real neighbours."""
    bad = np.nonzero((ids < 0).any(1))[0]
    if len(bad):
        ids = ids.copy()
        ids[bad] = _torch_search(x, n_neighbors, "cpu", queries=bad)[0]
    return ids


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss_search(x: np.ndarray, n_neighbors: int, index: str, device: str,
                  ) -> tuple[np.ndarray, str]:
    import faiss

    n, d = x.shape
    use_ivf = index == "ivf" or (index == "auto" and n > IVF_AUTO_ROWS)
    if use_ivf:
        nlist = int(min(4 * math.sqrt(n), n // 39 or 1))
        quant = faiss.IndexFlatIP(d)
        idx = faiss.IndexIVFFlat(quant, d, max(nlist, 1), faiss.METRIC_INNER_PRODUCT)
        idx.nprobe = min(32, max(nlist, 1))
        name = f"faiss IVF{nlist},nprobe{idx.nprobe}"
    else:
        idx = faiss.IndexFlatIP(d)
        name = "faiss exact (FlatIP)"
    want_gpu = device != "cpu" and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
    if want_gpu:
        idx = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, idx)
        name += " on GPU"
    else:
        name += " on CPU"
    if use_ivf:
        idx.train(x)
    idx.add(x)
    _, ids = idx.search(x, n_neighbors + 1)  # the row itself is among them
    return ids.astype(np.int64), name


@torch.no_grad()
def _torch_search(x: np.ndarray, n_neighbors: int, device: str, chunk: int = 4096,
                  queries: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Exact search of the rows `queries` (default: all) among all rows of x (L2-normalised):
    (len(queries), n_neighbors + 1) ids, the row itself among them."""
    dev = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
    t = torch.from_numpy(x).to(dev)
    q = np.arange(x.shape[0]) if queries is None else np.asarray(queries)
    out = np.empty((len(q), n_neighbors + 1), dtype=np.int64)
    for a in range(0, len(q), chunk):
        sims = t[torch.from_numpy(q[a : a + chunk]).to(dev)] @ t.T  # (chunk, N)
        out[a : a + chunk] = sims.topk(n_neighbors + 1, dim=1).indices.cpu().numpy()
    return out, f"torch exact on {dev.type.upper()}"


def knn_search(
    x: np.ndarray,
    n_neighbors: int = 20,
    backend: str = "auto",
    index: str = "auto",
    device: str = "auto",
) -> tuple[np.ndarray, str]:
    """Cosine kNN of every row among all rows, itself excluded: (N, n_neighbors) int64 and the
    backend used.

    backend: "auto" (faiss if installed, else torch with a warning), "faiss" or "torch".
    index (faiss only): "auto", "exact" or "ivf".
    """
    n = x.shape[0]
    if not 1 <= n_neighbors < n:
        raise HumeSSLError(f"--knn {n_neighbors}: need 1 <= knn < number of samples ({n}).")
    x = l2_normalise(x)
    if backend == "auto":
        if faiss_available():
            backend = "faiss"
        else:
            warnings.warn(
                "faiss is not installed: using the slower exact torch kNN. Install "
                "'hume-ssl[cpu]' (faiss-cpu) or 'hume-ssl[gpu]' (faiss-gpu) for speed.",
                stacklevel=2,
            )
            backend = "torch"
    if backend == "faiss":
        if not faiss_available():
            raise HumeSSLError(
                "backend 'faiss' asked for but faiss is not installed; "
                "pip install 'hume-ssl[cpu]' or 'hume-ssl[gpu]'."
            )
        ids, name = _faiss_search(x, n_neighbors, index, device)
    elif backend == "torch":
        ids, name = _torch_search(x, n_neighbors, device)
    else:
        raise HumeSSLError(f"unknown kNN backend {backend!r}; use auto, faiss or torch.")
    ids = _fill_missing(ids, x, n_neighbors)
    return _drop_self(ids, n_neighbors), name


def knn_consistency(labels: np.ndarray, nbrs: np.ndarray) -> np.ndarray:
    """(N,) share of each sample's neighbours (N, n_neighbors) whose label equals its own."""
    return (labels[nbrs] == labels[:, None]).mean(1).astype(np.float32)


@torch.no_grad()
def knn_classify(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    n_neighbors: int = 200,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> torch.Tensor:
    """Weighted kNN classifier on L2-normalised features (the InstDisc / MoCo kNN monitor).

    train (N, d), train_labels (N,) int64 in 0..C-1, test (M, d), all on one device. Each test
    row votes with its n_neighbors most cosine-similar train rows, weighted exp(sim / temperature).
    Returns the predicted labels (M,) int64.
    """
    n_classes = int(train_labels.max()) + 1
    n_used = min(n_neighbors, len(train))
    preds = []
    for i in range(0, len(test), chunk):
        sim, idx = (test[i : i + chunk] @ train.T).topk(n_used, dim=1)  # (m, n_used)
        votes = torch.zeros(len(sim), n_classes, device=test.device)
        votes.scatter_add_(1, train_labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(1))
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)
