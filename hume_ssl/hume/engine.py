"""HUME's bi-level loop, batched over restarts: R task encoders trained in single tensor ops.

Shapes: R restarts, S subsets per step, n rows per subset (n_tr train + n_te held out),
k classes, d1 = dim(space 1). Per outer step, for every restart r and subset s:
    Y = sparsemax(phi1 @ W_r^T / tau)             soft labels           (R, S, n, k)
    err = inner.error(H_s, Y_tr, Y_te)            held-out error of a linear fit on space 2
    loss_r = mean_s [ err - gamma * entropy(mean_n Y) ]
In memory the restarts of a lane sit side by side in columns: soft labels are (G, S, n, L*k) for
the G lanes of a chunk, so the inner fit is one batched matmul over (lane, subset) pairs of
fixed per-lane shapes; every lane shares the step's subset draw and the inner solver's
feature-only factors (computed once per step), and all lanes run in one graph (one forward,
one backward per step: few kernel launches however many restarts a chunk holds).
Each restart's loss depends on its own encoder only, so one backward of sum_r loss_r gives
every restart its own gradient; clipping is per restart, Adam is element-wise.

Results do not depend on chunking, exactly: restart r always runs in lane r // LANE together
with the same LANE restarts (a chunk that asks for part of a lane computes the whole lane and
keeps what it asked for), so every matmul a restart goes through has the same shapes, hence the
same rounding, whatever the chunk size or the number of restarts (batched products run the same
per-lane kernel for each lane; gradient norms are reduced lane by lane). The subset draws depend on
`random_state` only, and restart r's initial encoder on (random_state, r) (with
encoder_init="kmeans" also on a seeded pool of rows of space 1, the same for every chunk and
rank). The same holds across processes (torchrun): a rank that trains some lanes computes them
exactly as one process would.

The encoders' orthonormal rows are the Q factor of a QR decomposition (R with a positive
diagonal). For k >= CHOLESKY_K the Q factor is computed as A (chol(A^T A))^-T in float64
(Cholesky QR: the same Q, a few matmuls instead of a Householder sweep that is slow on GPUs at
k = 1,000); with more classes than dimensions (k > d1) rows cannot be orthonormal, so W has
orthonormal columns instead, scaled by sqrt(k / d1) so that its rows have unit norm on average.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch

from hume_ssl.hume.config import LANE, HumeConfig
from hume_ssl.hume.rows import Rows
from hume_ssl.hume.sparsemax import tempered


def restart_seed(random_state: int, restart: int) -> int:
    return int(np.random.SeedSequence([int(random_state), int(restart), 17]).generate_state(1)[0])


def init_encoders(restarts: np.ndarray, d1: int, k: int, random_state: int,
                  pool: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(R, d1, k) free parameters, one draw per restart id: Gaussian N(0, 1), or with `pool`
    (M, d1) (init_pool: unit rows of space 1) the centres of a short k-means of the pool
    (kmeans_centres), scaled to the Gaussian draw's column norm, sqrt(d1). The encoder is their
    Q factor (orthonormal_rows: Gram-Schmidt in the centres' k-means++ order), so its argmax is
    near the k-means assignment, not equal to it."""
    out = torch.empty(len(restarts), d1, k, dtype=torch.float64)
    for i, r in enumerate(restarts):
        g = torch.Generator().manual_seed(restart_seed(random_state, int(r)))
        out[i] = (torch.randn(d1, k, generator=g, dtype=torch.float64) if pool is None
                  else full_rank(kmeans_centres(pool, k, g).double().cpu(), g).T * math.sqrt(d1))
    return out.float()


def full_rank(centres: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """(k, d1) float64 centres, completed to rank min(k, d1) where they span fewer dimensions;
    returned as they are otherwise.

    The encoders are the Q factor of the centres (orthonormal_rows), and the QR's gradient needs
    a full-rank factor. Centres of rows that span fewer than min(k, d1) dimensions (constant or
    dead features: digits' border pixels, ReLU units that never fire; or k past the rows' rank)
    are not, and the first step's gradient is NaN. Each centre then gets a Gaussian draw from
    `g` (entries N(0, 1/d1)) with its part in the centres' span removed. Centres short of rank
    because the rows are span the rows' own space, so their dot products with every row, the
    start's assignment, do not change."""
    k, d1 = centres.shape
    sv = torch.linalg.svdvals(centres)  # (min(k, d1),) descending
    tol = float(sv[0]) * max(k, d1) * torch.finfo(torch.float32).eps  # the pool is float32
    rank = int((sv > tol).sum())
    if rank >= min(k, d1):
        return centres
    basis = torch.linalg.svd(centres, full_matrices=False)[2][:rank]  # (rank, d1) their span
    extra = torch.randn(k, d1, generator=g, dtype=torch.float64) / math.sqrt(d1)  # (k, d1)
    return centres + extra - (extra @ basis.T) @ basis


INIT_POOL_PER_CLASS = 20  # encoder_init="kmeans" clusters max(INIT_POOL_MIN, this x k) rows
INIT_POOL_MIN = 10_000
LLOYD_STEPS = 10  # k-means iterations after the seeding


def init_pool(phi1: Rows, k: int, random_state: int) -> torch.Tensor:
    """(M, d1) unit rows of space 1 that encoder_init="kmeans" clusters, the same for every
    restart: every row up to M = max(INIT_POOL_MIN, INIT_POOL_PER_CLASS x k), else a seeded
    sample of M rows (in row order)."""
    m = max(INIT_POOL_MIN, INIT_POOL_PER_CLASS * k)
    if phi1.n <= m:
        idx = np.arange(phi1.n)
    else:
        idx = np.sort(np.random.default_rng([int(random_state), 53]).choice(phi1.n, m,
                                                                           replace=False))
    rows = phi1.take(torch.from_numpy(idx).to(phi1.device))  # (M, d1)
    return rows if phi1.normalize else torch.nn.functional.normalize(rows, dim=1)


def kmeans_centres(pool: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """(k, d1) unit centres of pool (M, d1, unit rows): k-means++ seeding (Arthur and
    Vassilvitskii 2007; the first row uniform, each next one drawn with probability
    proportional to its squared distance to the nearest chosen so far), then LLOYD_STEPS
    spherical k-means steps (each row to its most similar centre, a centre the normalised mean
    of its rows; a centre with no rows stays). Draws come from g (a CPU generator)."""
    m = pool.shape[0]
    chosen = [int(torch.randint(m, (1,), generator=g))]
    dist = (2.0 - 2.0 * (pool @ pool[chosen[0]])).clamp_min(0).double()  # (M,) squared
    for _ in range(k - 1):
        total = dist.cumsum(0)  # (M,)
        u = float(torch.rand((), generator=g, dtype=torch.float64)) * float(total[-1])
        nxt = min(int(torch.searchsorted(total, torch.tensor([u], dtype=total.dtype,
                                                             device=total.device))), m - 1)
        chosen.append(nxt)
        dist = torch.minimum(dist, (2.0 - 2.0 * (pool @ pool[nxt])).clamp_min(0).double())
    centres = pool[chosen].clone()  # (k, d1)
    for _ in range(LLOYD_STEPS):
        near = (pool @ centres.T).argmax(1)  # (M,)
        sums = torch.zeros_like(centres).index_add_(0, near, pool)  # (k, d1)
        norm = sums.norm(dim=1, keepdim=True)
        centres = torch.where(norm > 0, sums / norm.clamp_min(1e-12), centres)
    return centres


CHOLESKY_K = 128  # from this many classes on, the Q factor comes from Cholesky QR


def q_factor(a: torch.Tensor) -> torch.Tensor:
    """(R, m, p) with m >= p -> Q (R, m, p) of a = QR with diag(R) > 0 (the unique such Q)."""
    p = a.shape[-1]
    if p >= CHOLESKY_K:
        a64 = a.double()
        chol, info = torch.linalg.cholesky_ex(a64.transpose(1, 2) @ a64)  # (R, p, p) lower
        if not bool(info.any()):
            q = torch.linalg.solve_triangular(chol, a64.transpose(1, 2), upper=False)
            return q.transpose(1, 2).to(a.dtype)  # a L^-T
    q, r = torch.linalg.qr(a)  # Householder (also the fallback for a singular Gram matrix)
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return q * sign[:, None, :]


def orthonormal_rows(v: torch.Tensor) -> torch.Tensor:
    """(R, d1, k) free parameters -> (R, k, d1) task encoders: orthonormal rows when k <= d1,
    else orthonormal columns scaled by sqrt(k / d1) (rows of unit norm on average)."""
    d1, k = v.shape[-2:]
    if k <= d1:
        return q_factor(v).transpose(1, 2)
    return q_factor(v.transpose(1, 2)) * math.sqrt(k / d1)


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) over the last dim; 0 log 0 = 0."""
    return torch.special.entr(p).sum(-1)


class SubsetSampler:
    """Draws S (train, held-out) splits of n rows per step from a seeded stream."""

    def __init__(self, n_rows: int, cfg: HumeConfig):
        self.n_rows = n_rows
        self.n, self.n_tr = cfg.split_sizes(n_rows)
        self.s = cfg.n_subsets
        self.rng = np.random.default_rng([int(cfg.random_state), 7919])

    def draw(self) -> np.ndarray:
        """(S, n) row indices; the first n_tr of each row are the train part."""
        if self.n == self.n_rows:
            return np.stack([self.rng.permutation(self.n_rows) for _ in range(self.s)])
        return np.stack(
            [self.rng.choice(self.n_rows, self.n, replace=False) for _ in range(self.s)]
        )


def lanes_for(restarts: np.ndarray) -> list[np.ndarray]:
    """The lanes (LANE restart ids each, lane r // LANE) that hold the requested restarts."""
    blocks = sorted({int(r) // LANE for r in restarts})
    return [np.arange(b * LANE, (b + 1) * LANE) for b in blocks]


def lanes_loss(x, v, idx, prep, inner, n_tr: int, cfg: HumeConfig, tau: float,
               full_rows: bool) -> torch.Tensor:
    """Per-restart loss (G, L) of G lanes' free parameters v (G, L, d1, k) on the step's subsets.

    x: every row (N, d1) when `full_rows`, else the step's rows (S, n, d1), normalised. Every
    product is batched over the lanes with the same per-lane shapes whatever G is.
    """
    g, r, d1, k = v.shape
    w = orthonormal_rows(v.reshape(g * r, d1, k))  # (G*L, k, d1)
    if w.requires_grad:  # the same gradient layout for any G (G = 1 would pass a strided view
        w.register_hook(torch.Tensor.contiguous)  # into the QR backward: other rounding)
    w_cols = w.reshape(g, r * k, d1).transpose(1, 2)  # (G, d1, L*k): restarts side by side
    if full_rows:  # label every row once, then gather the subsets
        logits = torch.bmm(x.expand(g, *x.shape), w_cols)  # (G, N, L*k)
        y = tempered(logits.view(g, x.shape[0], r, k), tau, cfg.normalize_phi1)  # (G, N, L, k)
        y = y.view(g, x.shape[0], r * k)[:, idx]  # (G, S, n, L*k)
    else:
        logits = torch.matmul(x, w_cols[:, None])  # (G, S, n, L*k)
        y = tempered(logits.view(g, *idx.shape, r, k), tau, cfg.normalize_phi1).view(
            g, *idx.shape, r * k)
    y_tr, y_te = y[:, :, :n_tr], y[:, :, n_tr:]
    err = inner.error(prep, y_tr, y_te, r)  # (G, S, L)
    ent = entropy(y.mean(2).view(g, idx.shape[0], r, k))  # (G, S, L)
    return (err - cfg.gamma * ent).mean(1)  # (G, L)


class Adam:
    """torch.optim.Adam's update (betas 0.9, 0.999; eps 1e-8; its single-tensor arithmetic),
    written out: element-wise, so every restart's update is its own. Constructing
    torch.optim.Adam imports torch._dynamo (seconds, once per process) even with foreach=False."""

    betas, eps = (0.9, 0.999), 1e-8

    def __init__(self, param: torch.Tensor, lr: float):
        self.param, self.lr, self.t = param, float(lr), 0
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        g = self.param.grad
        self.t += 1
        self.exp_avg.lerp_(g, 1 - b1)
        self.exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2)
        step_size = self.lr / (1 - b1**self.t)
        denom = (self.exp_avg_sq.sqrt() / (1 - b2**self.t) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)

    def state_dict(self) -> dict:
        """Per lane (the checkpoint's unit): moments as lists of (L, d1, k) tensors."""
        return {"lr": self.lr, "t": self.t, "exp_avg": [m.cpu() for m in self.exp_avg],
                "exp_avg_sq": [m.cpu() for m in self.exp_avg_sq]}

    def load_state_dict(self, st: dict) -> None:
        self.lr, self.t = float(st["lr"]), int(st["t"])
        self.exp_avg.copy_(torch.stack(st["exp_avg"]))
        self.exp_avg_sq.copy_(torch.stack(st["exp_avg_sq"]))


def clip_per_restart(v: torch.Tensor, max_norm: float) -> None:
    """Scale each restart's gradient of v (G, L, d1, k) to norm <= max_norm; norms are taken
    lane by lane, (L, d1*k) each, so their reduction never depends on G."""
    gnorm = torch.stack([gl.flatten(1).norm(dim=1) for gl in v.grad]).clamp_min(1e-12)  # (G, L)
    v.grad.mul_((max_norm / gnorm).clamp(max=1.0)[:, :, None, None])


def train_encoders(
    phi1: Rows,
    inner,
    restarts: np.ndarray,
    cfg: HumeConfig,
    on_step: Optional[Callable[[int, torch.Tensor], None]] = None,
    state: Optional[dict] = None,
    save_state: Optional[Callable[[dict], None]] = None,
    save_every: int = 0,
    batch_lanes: Optional[bool] = None,
) -> tuple[torch.Tensor, np.ndarray]:
    """Train the restarts `restarts` (in whole lanes). Returns their encoders (R, k, d1) and loss
    curves (steps, R), in the order asked.

    phi1: space 1 (hume_ssl.hume.rows.Rows, normalised rows on the compute device); `inner` has
    prepare(idx_tr, idx_te) -> the step's factors and
    error(factors, y_tr (G, S, n_tr, L*k), y_te, L) -> (G, S, L)
    (see hume_ssl.hume.ridge.RidgeInner).
    `state`: a dict `save_state` received earlier for the same restarts, to continue from;
    `save_state(state)` is called every `save_every` outer steps (0: never).
    `batch_lanes`: all lanes in one graph, or one lane's graph after another: the same results
    bit for bit. None: batched on a GPU (few kernel launches), one by one on the CPU (launches
    cost little there and a lane's tensors stay in cache: 0.61 vs 0.84 s per step on the
    10,000-row pair, `python recipes/bench_hume.py --sections inner-solve`).
    """
    n_rows, d1 = phi1.n, phi1.d
    dev = phi1.device
    lanes = lanes_for(restarts)
    ids = np.concatenate(lanes)  # every restart computed, lane by lane
    if state is None:  # a fresh start (a resumed chunk takes its parameters from `state`)
        pool = init_pool(phi1, cfg.k, cfg.random_state) if cfg.encoder_init == "kmeans" else None
        v = torch.stack([init_encoders(lane, d1, cfg.k, cfg.random_state, pool)
                         for lane in lanes])
    else:
        v = torch.stack(state["params"])
    v = v.to(dev).requires_grad_(True)  # (G, L, d1, k)
    opt = Adam(v, cfg.lr)
    sampler = SubsetSampler(n_rows, cfg)
    full_rows = sampler.s * sampler.n >= n_rows  # cheaper to label every row once
    x_all = phi1.all() if full_rows else None  # (N, d1): small N only
    curve = np.zeros((cfg.n_steps, len(ids)), dtype=np.float32)
    start, tau = 0, cfg.tau
    if state is not None:
        opt.load_state_dict(state["adam"])  # holds the annealed lr
        sampler.rng.bit_generator.state = state["sampler"]
        start = int(state["step"])
        curve[:start] = state["curve"][:start]
        tau *= cfg.anneal_factor ** sum(1 for s in cfg.anneal_steps if s < start)
    if batch_lanes is None:
        batch_lanes = dev.type == "cuda"
    groups = [slice(0, len(lanes))] if batch_lanes else [slice(i, i + 1)
                                                         for i in range(len(lanes))]
    for step in range(start, cfg.n_steps):
        if step in cfg.anneal_steps:
            tau *= cfg.anneal_factor
            opt.lr *= cfg.anneal_factor
        idx = torch.from_numpy(sampler.draw()).to(dev)  # (S, n)
        idx_tr, idx_te = idx[:, : sampler.n_tr], idx[:, sampler.n_tr :]
        with torch.no_grad():
            prep = inner.prepare(idx_tr, idx_te)  # shared by every lane
            x = x_all if full_rows else phi1.take(idx)  # (N, d1) or (S, n, d1)
        v.grad = None
        losses = []
        for grp in groups:  # one graph of every lane (or of one lane at a time)
            loss = lanes_loss(x, v[grp], idx, prep, inner, sampler.n_tr, cfg, tau, full_rows)
            loss.sum().backward()
            losses.append(loss.detach())
        clip_per_restart(v, cfg.grad_clip)
        opt.step()
        loss = torch.cat(losses).flatten()  # (len(ids),)
        curve[step] = loss.cpu().numpy()
        if on_step is not None:
            on_step(step, loss)
        if save_state is not None and save_every and (step + 1) % save_every == 0 \
                and step + 1 < cfg.n_steps:
            save_state({"step": step + 1, "params": [p.detach().cpu() for p in v],
                        "adam": opt.state_dict(), "sampler": sampler.rng.bit_generator.state,
                        "curve": curve[: step + 1].copy()})
    pos = {int(r): i for i, r in enumerate(ids)}
    keep = np.array([pos[int(r)] for r in restarts], dtype=np.int64)
    with torch.no_grad():
        w = torch.cat([orthonormal_rows(vl) for vl in v])  # (len(ids), k, d1), lane by lane
        return w[torch.from_numpy(keep).to(dev)].detach(), curve[:, keep]
