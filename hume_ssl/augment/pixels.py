"""Pixel-level building blocks shared by the augmentations and the trainers.

Images are float tensors (B, 3, H, W) in [0, 1]; per-sample factors are (B,) tensors. Blends
clamp to [0, 1] as torchvision's do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_float(x_u8: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) uint8 -> float32 in [0, 1]."""
    return x_u8.float().div_(255.0)


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B,3,H,W) float -> (B,3,size,size), bilinear (antialiased when shrinking): CIFAR-size
    images to a pretrained encoder's input size, batched on the device."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    shrink = size < min(x.shape[-2:])
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=shrink)


def per_sample(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(x.dtype).view(-1, 1, 1, 1)


def blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = per_sample(factor, a)
    return (a * f + b * (1.0 - f)).clamp(0.0, 1.0)


def gray(x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W), ITU-R 601-2 luma as torchvision
    return (0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend(x, torch.zeros_like(x), factor)


def color(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend(x, gray(x).expand_as(x), factor)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = gray(x).mean(dim=(-3, -2, -1), keepdim=True)
    return blend(x, mean.expand_as(x), factor)


def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def uniform(n: int, g: torch.Generator, device) -> torch.Tensor:
    """(n,) uniform [0, 1) draws from the generator `g` on `device`."""
    return torch.rand(n, generator=g, device=device)
