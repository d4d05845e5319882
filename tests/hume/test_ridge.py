import numpy as np
import torch

from hume_ssl.hume.ridge import (
    RidgeInner,
    augment,
    hat_matrix,
    regulariser,
    smoothers_direct,
    smoothers_from_hat,
)
from hume_ssl.hume.rows import Rows


def _data(n=60, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


def test_direct_smoother_equals_explicit_ridge_fit():
    x = _data()
    y = torch.randn(60, 3, dtype=torch.float64)
    tr, te = torch.arange(50), torch.arange(50, 60)
    reg = regulariser(6, 0.7, x.device, x.dtype)
    h = smoothers_direct(augment(x)[tr][None], augment(x)[te][None], reg)[0]
    xa = augment(x)
    w = torch.linalg.solve(xa[tr].T @ xa[tr] + reg, xa[tr].T @ y[tr])  # ridge with free bias
    assert torch.allclose(h @ y[tr], xa[te] @ w, atol=1e-9)


def test_leave_set_out_identity_matches_direct():
    x = _data()
    xa = augment(x)
    reg = regulariser(6, 0.3, x.device, x.dtype)
    perm = torch.stack(
        [torch.randperm(60, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    )
    tr, te = perm[:, :54], perm[:, 54:]
    h1 = smoothers_from_hat(hat_matrix(xa, reg), tr, te)
    h2 = smoothers_direct(xa[tr], xa[te], reg)
    assert torch.allclose(h1, h2, atol=1e-8)


def test_error_is_zero_for_a_perfectly_predictable_labeling():
    x = _data(n=200, d=3).float()
    labels = (x[:, 0] > 0).long()
    y = torch.nn.functional.one_hot(labels, 2).float()
    inner = RidgeInner(Rows(x.numpy(), False, torch.device("cpu")), subset_size=200, ridge=1e-6)
    idx = torch.randperm(200)[None]
    h = inner.prepare(idx[:, :180], idx[:, 180:])
    err_good = inner.error(h, y[idx[:, :180]], y[idx[:, 180:]], 1)
    y_rand = y[torch.randperm(200)]
    err_rand = inner.error(h, y_rand[idx[:, :180]], y_rand[idx[:, 180:]], 1)
    assert err_good.item() < err_rand.item()
    assert np.isfinite(err_good.item())
