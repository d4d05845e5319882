"""HUME's bi-level loop, batched over restarts: R task encoders trained in single tensor ops.

Shapes: R restarts, S subsets per step, n rows per subset (n_tr train + n_te held out),
k classes, d1 = dim(space 1). Per outer step, for every restart r and subset s:
    Y = sparsemax(phi1 @ W_r^T / tau)             soft labels           (R, S, n, k)
    err = inner.error(H_s, Y_tr, Y_te)            held-out error of a linear fit on space 2
    loss_r = mean_s [ err - gamma * entropy(mean_n Y) ]
In memory the restarts sit side by side in columns: soft labels are (S, n, R*k), so the
inner fit of every restart is one (n_te x n_tr) @ (n_tr x R*k) matmul per subset.
Each restart's loss depends on its own encoder only, so one backward of sum_r loss_r gives
every restart its own gradient; clipping is per restart, Adam is element-wise.
The subset draws depend on `random_state` only (shared by restarts, identical in every chunk)
and restart r's initial encoder on (random_state, r), so results do not depend on chunking.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.sparsemax import sparsemax


def restart_seed(random_state: int, restart: int) -> int:
    return int(np.random.SeedSequence([int(random_state), int(restart), 17]).generate_state(1)[0])


def init_encoders(restarts: np.ndarray, d1: int, k: int, random_state: int) -> torch.Tensor:
    """(R, d1, k) free parameters, one Gaussian draw per restart id."""
    out = torch.empty(len(restarts), d1, k, dtype=torch.float64)
    for i, r in enumerate(restarts):
        g = torch.Generator().manual_seed(restart_seed(random_state, int(r)))
        out[i] = torch.randn(d1, k, generator=g, dtype=torch.float64)
    return out.float()


def orthonormal_rows(v: torch.Tensor) -> torch.Tensor:
    """(R, d1, k) free parameters -> (R, k, d1) task encoders with orthonormal rows (QR)."""
    q, r = torch.linalg.qr(v)  # q (R, d1, k)
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return (q * sign[:, None, :]).transpose(1, 2)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) over the last dim; 0 log 0 = 0."""
    return torch.special.entr(p).sum(-1)


class SubsetSampler:
    """Draws S (train, held-out) splits of n rows per step from a seeded stream."""

    def __init__(self, n_rows: int, cfg: HumeConfig):
        self.n_rows = n_rows
        self.n = min(n_rows, cfg.subset_size)
        self.n_tr = min(max(int(round(self.n * cfg.train_fraction)), 2), self.n - 1)
        self.s = cfg.n_subsets
        self.rng = np.random.default_rng([int(cfg.random_state), 7919])

    def draw(self) -> np.ndarray:
        """(S, n) row indices; the first n_tr of each row are the train part."""
        if self.n == self.n_rows:
            return np.stack([self.rng.permutation(self.n_rows) for _ in range(self.s)])
        return np.stack(
            [self.rng.choice(self.n_rows, self.n, replace=False) for _ in range(self.s)]
        )


def train_encoders(
    phi1: torch.Tensor,
    inner,
    restarts: np.ndarray,
    cfg: HumeConfig,
    on_step: Optional[Callable[[int, torch.Tensor], None]] = None,
) -> tuple[torch.Tensor, np.ndarray]:
    """Train one chunk of restarts. Returns encoders (R, k, d1) and the loss curve (steps, R).

    phi1: (N, d1) on the compute device. `inner` has prepare(idx_tr, idx_te) -> H and
    error(H, y_tr, y_te, R) -> (S, R) (see hume_ssl.ridge.RidgeInner).
    """
    n_rows, d1 = phi1.shape
    r = len(restarts)
    dev = phi1.device
    v = init_encoders(restarts, d1, cfg.k, cfg.random_state).to(dev).requires_grad_(True)
    opt = torch.optim.Adam([v], lr=cfg.lr)
    sampler = SubsetSampler(n_rows, cfg)
    tau = cfg.tau
    full_rows = sampler.s * sampler.n >= n_rows  # cheaper to label every row once
    curve = np.zeros((cfg.n_steps, len(restarts)), dtype=np.float32)
    for step in range(cfg.n_steps):
        if step in cfg.anneal_steps:
            tau *= cfg.anneal_factor
            for g in opt.param_groups:
                g["lr"] *= cfg.anneal_factor
        idx = torch.from_numpy(sampler.draw()).to(dev)  # (S, n)
        idx_tr, idx_te = idx[:, : sampler.n_tr], idx[:, sampler.n_tr :]
        with torch.no_grad():
            h = inner.prepare(idx_tr, idx_te)  # (S, n_te, n_tr), shared by restarts
        w = orthonormal_rows(v)  # (R, k, d1)
        w_cols = w.reshape(r * cfg.k, d1).T  # (d1, R*k): restarts side by side in columns
        if full_rows:  # label every row once, then gather the subsets
            y = sparsemax((phi1 @ w_cols).view(n_rows, r, cfg.k) / tau)  # (N, R, k)
            y = y.view(n_rows, r * cfg.k)[idx]  # (S, n, R*k)
        else:
            y = sparsemax((phi1[idx] @ w_cols).view(*idx.shape, r, cfg.k) / tau)
            y = y.view(*idx.shape, r * cfg.k)  # (S, n, R*k)
        y_tr, y_te = y[:, : sampler.n_tr], y[:, sampler.n_tr :]
        err = inner.error(h, y_tr, y_te, r)  # (S, R)
        ent = entropy(y.mean(1).view(sampler.s, r, cfg.k))  # (S, R)
        loss = (err - cfg.gamma * ent).mean(0)  # (R,)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        with torch.no_grad():
            gnorm = v.grad.flatten(1).norm(dim=1).clamp_min(1e-12)  # (R,)
            v.grad.mul_((cfg.grad_clip / gnorm).clamp(max=1.0)[:, None, None])
        opt.step()
        curve[step] = loss.detach().cpu().numpy()
        if on_step is not None:
            on_step(step, loss.detach())
    with torch.no_grad():
        return orthonormal_rows(v).detach(), curve
