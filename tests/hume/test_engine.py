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


def test_results_do_not_depend_on_chunking_exactly(blobs):
    # 20 restarts span lanes 0, 1 and 2 (lane 2 half used); chunks that cut lanes anywhere must
    # give every restart bit-identical encoders and loss curves to one run of all 20
    phi1, phi2, _ = blobs
    cfg = HumeConfig(k=3, n_steps=20, n_subsets=2, subset_size=100, random_state=3)
    x1, inner = _prep(phi1, phi2, cfg)
    w_all, c_all = train_encoders(x1, inner, np.arange(20), cfg)
    for chunks in ([np.arange(8), np.arange(8, 16), np.arange(16, 20)],
                   [np.arange(3, 13), np.array([17]), np.array([0, 1, 2, 19])]):
        for ids in chunks:
            w, c = train_encoders(x1, inner, ids, cfg)
            assert torch.equal(w, w_all[torch.from_numpy(ids)]), ids
            np.testing.assert_array_equal(c, c_all[:, ids])
    # and the restarts are different from each other (the test is not vacuous)
    assert not torch.equal(w_all[0], w_all[8]) and not torch.equal(w_all[8], w_all[16])


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
