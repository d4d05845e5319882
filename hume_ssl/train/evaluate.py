"""Batched, mixed-precision forward passes over uint8 images (no augmentation)."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from hume_ssl.augment.pixels import normalize, resize, to_float


@torch.no_grad()
def batched_forward(
    fn: Callable[[torch.Tensor], torch.Tensor],
    images: np.ndarray | torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
    batch_size: int = 1024,
    bf16: bool = True,
    channels_last: bool = False,
    input_size: int | None = None,
    progress: Optional[Callable[[int], None]] = None,
) -> torch.Tensor:
    """fn over uint8 images in batches -> (N, d) float32 on the device.

    images: (N, H, W, 3) numpy on the host, or (N, 3, H, W) uint8 already on the device.
    Inputs are scaled to [0, 1], resized to input_size x input_size when given, and
    normalised with mean/std (3,); bf16 autocast on CUDA. `progress(images done)` is called
    after every batch.
    """
    mean, std = mean.to(device), std.to(device)
    amp = bf16 and device.type == "cuda"
    outs = []
    for i in range(0, len(images), batch_size):
        xb = images[i : i + batch_size]
        if not torch.is_tensor(xb):
            xb = torch.from_numpy(np.ascontiguousarray(xb.transpose(0, 3, 1, 2)))
        x = to_float(xb.to(device))
        if input_size:
            x = resize(x, input_size)
        x = normalize(x, mean, std)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            outs.append(fn(x).float())
        if progress is not None:
            progress(min(i + batch_size, len(images)))
    return torch.cat(outs) if outs else torch.zeros(0, 0, device=device)
