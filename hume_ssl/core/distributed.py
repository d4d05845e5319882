"""torchrun support: this process's rank, and the few collectives the stages need.

    torchrun --nproc_per_node 4 -m hume_ssl label|seed|features|pretrain|train-fixmatch ...

(`demo`, `predict` and `export` refuse several processes: `one_process`.)

`init()` joins the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR, ...) with
NCCL on GPUs and gloo on the CPU; without torchrun everything here is a no-op for one process.

A global batch of B rows is split over W ranks *interleaved*: rank r holds rows r, r + W,
r + 2W, ... (`rows_of_rank`); `gather_rows` puts every rank's rows back in the global order,
with or without a gradient (the backward sums each row's gradient over the ranks, as DDP's
averaged parameter gradients of the per-rank losses need).
"""

from __future__ import annotations

import atexit
import os
from typing import Any, Optional

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


def one_process(command: str, why: str) -> None:
    """Refuse `command` under torchrun with several processes, before any work: each would do
    all of it and write the same files (`why`: what to do instead)."""
    if world_size() > 1:
        raise HumeSSLError(f"`{command}` runs in one process: start it without torchrun ({why}).")


def init(device: torch.device) -> bool:
    """Join torchrun's process group once (True when running with several processes)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if device.type == "cuda":  # NCCL's object collectives use the current device
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kw = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kw)
        atexit.register(_leave)
    return True


def _leave() -> None:
    """Tear the process group down before the interpreter does: left to the interpreter's exit,
    gloo's threads once aborted a rank that had finished its work (SIGABRT, "terminate called
    without an active exception", in a CI run under load); PyTorch asks for it at exit."""
    if dist.is_initialized():
        dist.destroy_process_group()


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


def broadcast(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s `obj` (picklable) on every rank; `obj` itself for one process."""
    if world_size() == 1 or not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def check_same(what: str, value: Any) -> None:
    """Stop every rank with one message when the ranks disagree on `value` (inputs, options).
    For a dict `value` the message names the keys that differ."""
    values = all_gather(value)
    if any(v != values[0] for v in values):
        odd = [r for r, v in enumerate(values) if v != values[0]]
        a, b = values[odd[0]], values[0]
        if isinstance(a, dict) and isinstance(b, dict):
            keys = [k for k in {**b, **a} if a.get(k) != b.get(k)]
            a, b = ({k: d.get(k) for k in keys} for d in (a, b))
        raise HumeSSLError(
            f"the {len(values)} processes disagree on {what} (ranks {odd} differ from rank 0: "
            f"{a} vs {b}); start every rank with the same files and options. "
            "Nothing was written."
        )


# ------------------------------------------------------------------ a global batch over ranks
def rows_of_rank(n: int, r: Optional[int] = None, w: Optional[int] = None) -> slice:
    """This rank's rows of a global batch of n rows: r, r + W, r + 2W, ... (a slice)."""
    r = rank() if r is None else r
    w = world_size() if w is None else w
    return slice(r, n, w)


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # (b, ...) -> (W * b, ...)
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        # (W, b, ...) -> (b, W, ...) -> (W * b, ...): row j * W + r is rank r's row j
        return torch.stack(parts, 1).flatten(0, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # (W * b, ...) -> (b, ...)
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every rank's loss reaches every row
        return grad[rows_of_rank(len(grad))]


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows x (b, ...) in the global batch order (W * b, ...) (see the module
    docstring); differentiable: the gradient of this rank's rows is summed over all ranks.
    x itself for one process."""
    if world_size() == 1 or not dist.is_initialized():
        return x
    return _GatherRows.apply(x)


class _SumOverRanks(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # every rank's loss depends on this rank's share of the sum
        return grad


def sum_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of x over the ranks, differentiable (the backward sums the
    gradients too); x itself for one process."""
    if world_size() == 1 or not dist.is_initialized():
        return x
    return _SumOverRanks.apply(x)


def average_buffers(module: torch.nn.Module, names: tuple[str, ...] = ("running_mean",
                                                                      "running_var")) -> None:
    """Average the named floating-point buffers (BatchNorm running statistics) over the ranks,
    in place: per-rank statistics of equal-size shares average to the whole batch's."""
    if world_size() == 1 or not dist.is_initialized():
        return
    bufs = [b for n, b in module.named_buffers() if n.rsplit(".", 1)[-1] in names]
    if not bufs:
        return
    flat = torch.cat([b.reshape(-1).float() for b in bufs])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    a = 0
    for b in bufs:
        b.copy_(flat[a : a + b.numel()].view(b.shape))
        a += b.numel()
