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


@pytest.mark.parametrize("form", ["smoother", "primal"])
def test_error_is_zero_for_a_perfectly_predictable_labeling(form):
    # soft labels that are an exact affine function of space 2: a ridge fit with a vanishing
    # penalty predicts the held-out rows exactly, while a shuffled labeling cannot be predicted
    x = _data(n=200, d=3, seed=1)
    y = torch.cat([x @ torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.1]], dtype=x.dtype)
                   + torch.tensor([0.2, -0.4], dtype=x.dtype), torch.ones(200, 1, dtype=x.dtype)],
                  1)  # (200, 3)
    inner = RidgeInner(Rows(x.numpy(), False, torch.device("cpu")), subset_size=200,
                       ridge=1e-9, n_fit=180, form=form)
    idx = torch.randperm(200, generator=torch.Generator().manual_seed(0))[None]
    prep = tuple(t.double() if torch.is_tensor(t) else t
                 for t in inner.prepare(idx[:, :180], idx[:, 180:]))
    err_good = inner.error(prep, y[idx[:, :180]][None], y[idx[:, 180:]][None], 1).item()
    y_rand = y[torch.randperm(200, generator=torch.Generator().manual_seed(1))]
    err_rand = inner.error(prep, y_rand[idx[:, :180]][None], y_rand[idx[:, 180:]][None], 1).item()
    assert err_good < 1e-6 * err_rand and err_rand > 0.1


@pytest.mark.parametrize("subset_size", [300, 120])  # the whole dataset (hat / Gram downdate), part
def test_primal_form_predicts_what_the_smoother_predicts(subset_size):
    # centred, normalised float32 rows as `fit` builds them; 2 subsets; 3 lanes of 4 columns.
    # The two forms are the same ridge fit (free bias, penalty lam on the rest): equal to float
    # tolerance, and equal to an explicit float64 ridge fit of the train rows
    rng = np.random.default_rng(0)
    raw = (rng.standard_normal((300, 6)) * 3 + 5).astype(np.float32)
    rows = Rows(raw, True, torch.device("cpu"), raw.mean(0))
    n_fit = 108 if subset_size == 120 else 270
    smoother = RidgeInner(rows, subset_size, 0.1, n_fit, form="smoother")
    primal = RidgeInner(rows, subset_size, 0.1, n_fit, form="primal")
    assert primal.z is None and (smoother.z is not None) == (subset_size >= 300)
    g = torch.Generator().manual_seed(1)
    idx = torch.stack([torch.randperm(300, generator=g)[:subset_size] for _ in range(2)])
    tr, te = idx[:, :n_fit], idx[:, n_fit:]
    y = torch.rand(3, 300, 4, generator=g)  # (G, N, C)
    y_tr, y_te = y[:, tr], y[:, te]  # (G, S, n, C)
    p_s = RidgeInner.predict(smoother.prepare(tr, te), y_tr)
    p_p = RidgeInner.predict(primal.prepare(tr, te), y_tr)
    assert p_p.shape == p_s.shape == (3, 2, subset_size - n_fit, 4)
    xa = augment(rows.all().double())
    reg = regulariser(7, primal.lam, xa.device, xa.dtype)
    for s in range(2):
        w = torch.linalg.solve(xa[tr[s]].T @ xa[tr[s]] + reg, xa[tr[s]].T @ y_tr[:, s].double())
        exact = xa[te[s]] @ w  # (G, n_te, C)
        assert torch.allclose(p_p[:, s].double(), exact, atol=2e-5)
        assert torch.allclose(p_s[:, s].double(), exact, atol=2e-4)
    e_s = smoother.error(smoother.prepare(tr, te), y_tr, y_te, 2)
    e_p = primal.error(primal.prepare(tr, te), y_tr, y_te, 2)
    assert e_p.shape == (3, 2, 2) and torch.allclose(e_p, e_s, rtol=1e-4, atol=1e-6)


def test_auto_picks_the_form_with_fewer_multiply_adds():
    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.hume.ridge import solve_cost, solve_form

    cfg = HumeConfig(k=10)
    # the pair: D = 129 < n_te = 1,000 -> primal, ~7x fewer multiply-adds per lane
    assert solve_form(10_000, 128, cfg) == "primal"
    assert solve_form(50_000, 512, cfg) == "primal"  # shared CIFAR-10 pair, subsets of 10,000
    # a space wider than the held-out part has rows: the smoother is cheaper
    assert solve_form(1_000, 4_096, cfg) == "smoother"
    assert solve_form(1_000, 4_096, cfg.replace(inner_solve="primal")) == "primal"
    ratio = (solve_cost("smoother", 10_000, 10_000, 9_000, 129, 80, 1, 300)
             / solve_cost("primal", 10_000, 10_000, 9_000, 129, 80, 1, 300))
    assert ratio > 7


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
