"""torchrun support: this process's rank, and the few collectives HUME needs (torch.distributed).

    torchrun --nproc_per_node 4 -m hume_ssl.cli label ...

`init()` joins the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR, ...) with
NCCL on GPUs and gloo on the CPU; without torchrun everything here is a no-op for one process.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

from hume_ssl.core.errors import HumeSSLError


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() \
        else int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() \
        else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device) -> bool:
    """Join torchrun's process group once (True when running with several processes)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kw = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kw)
    return True


def all_gather(obj: Any) -> list:
    """Every rank's `obj` (picklable), in rank order; [obj] for one process."""
    if world_size() == 1 or not dist.is_initialized():
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def sum_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The element-wise sum of each tensor over all ranks (one all-reduce of their flat
    concatenation); the tensors themselves for one process."""
    if world_size() == 1 or not dist.is_initialized():
        return tensors
    flat = torch.cat([t.reshape(-1).float() for t in tensors.values()])
    dist.all_reduce(flat)
    out, a = {}, 0
    for name, t in tensors.items():
        out[name] = flat[a : a + t.numel()].view(t.shape).to(t.dtype)
        a += t.numel()
    return out


def barrier() -> None:
    if world_size() > 1 and dist.is_initialized():
        dist.barrier()


def check_same(what: str, value: Any) -> None:
    """Stop every rank with one message when the ranks disagree on `value` (inputs, options)."""
    values = all_gather(value)
    if any(v != values[0] for v in values):
        odd = [r for r, v in enumerate(values) if v != values[0]]
        raise HumeSSLError(
            f"the {len(values)} processes disagree on {what} (ranks {odd} differ from rank 0: "
            f"{values[odd[0]]} vs {values[0]}); start every rank with the same files and options. "
            "Nothing was written."
        )
