import numpy as np
import torch

from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.engine import orthonormal_rows, train_encoders
from hume_ssl.hume.ridge import RidgeInner
from hume_ssl.hume.rows import Rows


def _prep(phi1, phi2, cfg):
    cpu = torch.device("cpu")
    return Rows(phi1, True, cpu), RidgeInner.from_config(Rows(phi2, True, cpu), cfg)


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


def test_cholesky_q_factor_equals_householder_and_k_above_d1():
    from hume_ssl.hume.engine import CHOLESKY_K, q_factor

    v = torch.randn(3, 300, CHOLESKY_K + 20, generator=torch.Generator().manual_seed(0))
    q, r = torch.linalg.qr(v)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    assert torch.allclose(q_factor(v), q, atol=1e-5)  # the same Q, computed by Cholesky QR
    w = orthonormal_rows(torch.randn(2, 16, 40))  # k = 40 classes in d1 = 16 dims
    assert w.shape == (2, 40, 16)
    gram = w.transpose(1, 2) @ w  # orthonormal columns, scaled by sqrt(k / d1)
    assert torch.allclose(gram, (40 / 16) * torch.eye(16).expand(2, 16, 16), atol=1e-4)
    assert abs(float((w**2).sum(-1).mean()) - 1.0) < 1e-5  # rows of unit norm on average
