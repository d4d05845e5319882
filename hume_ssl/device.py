"""One place that turns a `--device` string into a torch.device, with clear errors."""

from __future__ import annotations

import torch

from hume_ssl.errors import HumeSSLError


def resolve_device(device: str = "auto") -> torch.device:
    """`auto`: CUDA if available, else CPU; `cpu`, `cuda`, `cuda:N` are checked for availability."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise HumeSSLError(f"bad device {device!r}: use auto, cpu, cuda or cuda:N.") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise HumeSSLError(
            f"device {device!r} asked for, but CUDA is not available here; use --device cpu."
        )
    return dev
