"""Sparsemax (Martins & Astudillo, 2016): a softmax whose outputs can be exactly zero."""

from __future__ import annotations

import torch


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean projection of `z` onto the probability simplex along `dim`.

    Differentiable almost everywhere through autograd (sort + gather). Shapes are kept.
    """
    z = z.transpose(dim, -1)
    zs, _ = torch.sort(z, dim=-1, descending=True)  # (..., k)
    k = z.shape[-1]
    ar = torch.arange(1, k + 1, device=z.device, dtype=z.dtype)
    css = zs.cumsum(-1) - 1.0  # (..., k)
    support = ar * zs > css  # prefix of True values
    k_z = support.sum(-1, keepdim=True)  # (..., 1), >= 1
    tau = css.gather(-1, k_z - 1) / k_z.to(z.dtype)
    return torch.clamp(z - tau, min=0.0).transpose(dim, -1)


EXACT_LOGIT = 2.0**20  # float32 steps are 1/8 here; at 2**23, 1: the support test's "- 1" is lost


def tempered(logits: torch.Tensor, tau: float, bounded: bool = True) -> torch.Tensor:
    """sparsemax(logits / tau) over the last dim. `bounded`: the logits lie in [-1, 1] (cosines:
    normalised rows, the default); unbounded ones (HumeConfig normalize_phi1=False) can be any
    size. At a tiny tau (1 / tau past EXACT_LOGIT), or unbounded, the logits are first shifted
    to a largest of 0, the same projection: unshifted, float32's cumsum - 1 rounds to a large
    logit itself and no entry passes the support test (a fit at tau=1e-8 failed in the
    gather). Bounded at any other tau, nothing is added: the same bits and memory as
    sparsemax(logits / tau)."""
    if not bounded or 1.0 / tau > EXACT_LOGIT:
        logits = logits - logits.amax(-1, keepdim=True)
    return sparsemax(logits / tau)
