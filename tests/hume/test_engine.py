import numpy as np
import torch

from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.engine import orthonormal_rows, train_encoders
from hume_ssl.hume.ridge import RidgeInner


def _prep(phi1, phi2, cfg):
    x1 = torch.tensor(phi1) / torch.tensor(phi1).norm(dim=1, keepdim=True)
    x2 = torch.tensor(phi2) / torch.tensor(phi2).norm(dim=1, keepdim=True)
    return x1, RidgeInner(x2, cfg.subset_size, cfg.ridge)


def test_encoders_have_orthonormal_rows():
    w = orthonormal_rows(torch.randn(4, 20, 5))
    eye = torch.eye(5).expand(4, 5, 5)
    assert torch.allclose(w @ w.transpose(1, 2), eye, atol=1e-5)


def test_objective_falls_over_outer_steps(blobs):
    phi1, phi2, _ = blobs
    cfg = HumeConfig(k=3, n_steps=60, random_state=0)
    x1, inner = _prep(phi1, phi2, cfg)
    _, curve = train_encoders(x1, inner, np.arange(6), cfg)  # (steps, R)
    assert curve[-10:].mean() < curve[:10].mean() - 0.05


def test_results_do_not_depend_on_chunking(blobs):
    phi1, phi2, _ = blobs
    cfg = HumeConfig(k=3, n_steps=20, n_subsets=2, subset_size=100, random_state=3)
    x1, inner = _prep(phi1, phi2, cfg)
    w_all, _ = train_encoders(x1, inner, np.arange(4), cfg)
    w_a, _ = train_encoders(x1, inner, np.arange(2), cfg)
    w_b, _ = train_encoders(x1, inner, np.arange(2, 4), cfg)
    assert torch.allclose(w_all, torch.cat([w_a, w_b]), atol=1e-4)
