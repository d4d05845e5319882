"""Building blocks every pretrain method uses: float32 losses under autocast, projection heads."""

from __future__ import annotations

import torch
from torch import nn

from hume_ssl.core.errors import HumeSSLError


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 (autocast) -> float32; float32 and float64 stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def autocast_off(t: torch.Tensor):
    """A context with autocast off on t's device: a loss's matmuls in float32 (under bf16
    autocast `q @ queue.T` is bf16 whatever its inputs' dtype)."""
    return torch.autocast(t.device.type, enabled=False)


HEADS = ("mlp", "mlp_bn", "linear")  # projection heads: --head


def projection_head(kind: str, dim_in: int, dim_out: int) -> nn.Module:
    """"mlp": Linear-ReLU-Linear (MoCo v2, hidden = dim_in); "linear": one Linear (MoCo v1 and
    MoCo's CIFAR-10 demo); "mlp_bn": Linear-BN-ReLU-Linear (SimCLR's head in lightly)."""
    if kind == "linear":
        return nn.Linear(dim_in, dim_out)
    if kind == "mlp_bn":
        return nn.Sequential(nn.Linear(dim_in, dim_in), nn.BatchNorm1d(dim_in),
                             nn.ReLU(inplace=True), nn.Linear(dim_in, dim_out))
    if kind == "mlp":
        return nn.Sequential(nn.Linear(dim_in, dim_in), nn.ReLU(inplace=True),
                             nn.Linear(dim_in, dim_out))
    raise HumeSSLError(f"unknown projection head {kind!r}; choose {', '.join(HEADS)}.")
