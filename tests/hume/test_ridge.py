import numpy as np
import pytest
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
    # soft labels that are an exact affine function of space 2: a ridge fit with a vanishing
    # penalty predicts the held-out rows exactly, while a shuffled labeling cannot be predicted
    x = _data(n=200, d=3, seed=1)
    y = torch.cat([x @ torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.1]], dtype=x.dtype)
                   + torch.tensor([0.2, -0.4], dtype=x.dtype), torch.ones(200, 1, dtype=x.dtype)],
                  1)  # (200, 3)
    inner = RidgeInner(Rows(x.numpy(), False, torch.device("cpu")), subset_size=200,
                       ridge=1e-9, n_fit=180)
    idx = torch.randperm(200, generator=torch.Generator().manual_seed(0))[None]
    h = inner.prepare(idx[:, :180], idx[:, 180:]).double()
    err_good = inner.error(h, y[idx[:, :180]], y[idx[:, 180:]], 1).item()
    y_rand = y[torch.randperm(200, generator=torch.Generator().manual_seed(1))]
    err_rand = inner.error(h, y_rand[idx[:, :180]], y_rand[idx[:, 180:]], 1).item()
    assert err_good < 1e-6 * err_rand and err_rand > 0.1


@pytest.mark.parametrize("n_rows", [300, 1797, 5000, 20000])
def test_ridge_penalty_is_relative_to_the_rows_each_split_fits(n_rows):
    # the penalty is `ridge` x the mean Gram eigenvalue of the n_tr rows a split fits, whatever
    # N is: with N below subset_size, scaling by subset_size made it 0.618 at N = 1,797
    from hume_ssl.hume.config import HumeConfig

    x = np.random.default_rng(0).standard_normal((n_rows, 8)).astype(np.float32)
    cfg = HumeConfig(ridge=0.1)
    inner = RidgeInner.from_config(Rows(x, True, torch.device("cpu")), cfg)
    n_tr = cfg.split_sizes(n_rows)[1]
    assert n_tr == round(0.9 * min(n_rows, cfg.subset_size))
    gram_eig = n_tr * 1.0 / 8  # normalised rows: mean squared norm 1, d = 8
    assert inner.lam / gram_eig == pytest.approx(0.1, rel=1e-6)
