"""Model-FLOPs utilisation (MFU): how much of the accelerator's peak a training step uses.

    flops = forward_flops(model.query, x1)   # FLOPs of one image's forward (2 x MACs)
    mfu(flops * multiplier * batch, steps_per_s, peak_flops(device))
The multiplier counts a step's forward and backward passes per image (e.g. MoCo symmetric:
2 directions x (query forward + backward = 3, key forward = 1) = 8). Peak: dense bf16 tensor
FLOP/s from the vendors' data sheets; unknown devices (and the CPU) give None.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

# dense bf16 tensor-core peak, FLOP/s (no sparsity), by a substring of the device name
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
             "A10": 125e12, "4090": 165e12, "V100": 125e12}


@torch.no_grad()
def forward_flops(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """FLOPs of fn(x) per sample of x (counted by torch's FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn(x)
    return counter.get_total_flops() / len(x)


def peak_flops(device: torch.device) -> Optional[float]:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def mfu(flops_per_step: float, steps_per_s: float, peak: Optional[float]) -> Optional[float]:
    """Share of the peak used, or None when the peak is unknown."""
    return None if not peak else flops_per_step * steps_per_s / peak
