"""The training split on the device: one uint8 tensor, channels first (airbench's data path)."""

from __future__ import annotations

import numpy as np
import torch

from hume_ssl.core.errors import HumeSSLError

MAX_SHARE_OF_FREE = 0.5  # the split may take at most this share of the free GPU memory


def device_split(images: np.ndarray, device: torch.device, command: str) -> torch.Tensor:
    """(N, H, W, 3) uint8 on the host -> (N, 3, H, W) uint8 on `device`, with a memory check."""
    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
        if images.nbytes > MAX_SHARE_OF_FREE * free:
            raise HumeSSLError(
                f"the split is {images.nbytes / 2**30:.1f} GiB as uint8, more than half of the "
                f"free GPU memory ({free / 2**30:.1f} GiB); {command} keeps it on the GPU. Use "
                "smaller images (--image-size where the command has it) or a subset of the data."
            )
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)
