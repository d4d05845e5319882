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
