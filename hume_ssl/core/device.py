"""One place that turns a `--device` string into an indexed torch.device, with clear errors.

CUDA devices always come back with an index (`cuda` -> `cuda:LOCAL_RANK`, 0 outside torchrun),
so `torch.cuda.set_device`, DDP's `device_ids` and memory queries work on every result.
"""

from __future__ import annotations

import os
from typing import Optional

import torch

from hume_ssl.core.errors import HumeSSLError

DEVICE_HELP = ("auto (CUDA when available, else the CPU), cpu, cuda, cuda:N (torchrun: "
               "cuda:LOCAL_RANK per process).")  # every --device's help


def local_rank() -> int:
    """This process's rank on its machine under torchrun (LOCAL_RANK), else 0."""
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise HumeSSLError(
            f"LOCAL_RANK={os.environ['LOCAL_RANK']!r} is not an integer; launch with torchrun."
        ) from None


def resolve_device(device: str = "auto", rank: Optional[int] = None) -> torch.device:
    """`auto`: CUDA if available, else CPU; `cpu`, `cuda`, `cuda:N` are checked.

    An index-less `cuda` (or `auto` on a GPU machine) resolves to `cuda:rank`, where `rank`
    defaults to LOCAL_RANK (one GPU per torchrun process) and is 0 outside torchrun.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise HumeSSLError(f"bad device {device!r}: use auto, cpu, cuda or cuda:N.") from e
    if dev.type not in ("cpu", "cuda", "mps"):  # meta, xla, ...: no path of this toolkit
        raise HumeSSLError(f"bad device {device!r}: use auto, cpu, cuda or cuda:N.")  # runs
    if dev.type != "cuda":  # (mps: as before, untested here)
        return dev
    if not torch.cuda.is_available():
        raise HumeSSLError(
            f"device {device!r} asked for, but CUDA is not available here; use --device cpu."
        )
    index = dev.index if dev.index is not None else (local_rank() if rank is None else rank)
    count = torch.cuda.device_count()
    if index >= count:
        raise HumeSSLError(
            f"device cuda:{index} asked for, but this machine has {count} GPU(s) "
            f"(cuda:0..cuda:{count - 1}); pass another --device or fewer torchrun processes."
        )
    return torch.device("cuda", index)


def torch_seed(value: int) -> int:
    """A seed torch's generators take (below 2**64): larger random states wrap; smaller ones are
    unchanged (before: random_state=2**64, inside its declared range, failed in manual_seed)."""
    return int(value) % 2**64
