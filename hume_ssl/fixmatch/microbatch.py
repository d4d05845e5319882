"""One FixMatch step in micro-batches: the batch split into parts, each part forwarded and
backpropagated alone, the gradients accumulated. The loss (and so the gradient) is the whole
batch's: part j's labeled loss is weighted by its share of the B labeled images, its unlabeled
loss by its share of the uB unlabeled ones. Memory is that of one part's activations, which is
what lets a ViT-S/14 at 224 px train at the default batch (64 + 2 x 448 images) on one 80 GB
GPU (docs/reference.md "Memory"). BatchNorm sees each part alone: exact for LayerNorm models
(ViTs), an approximation for CNNs (parts of >= 32 images keep it close).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import torch

from hume_ssl.core.errors import HumeSSLError

StepFn = Callable[[torch.Tensor, torch.Tensor, int, int], dict]


def part_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """[start, end) of `parts` nearly equal slices of range(n)."""
    edges = [round(n * j / parts) for j in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


def accumulate_step(step: StepFn, x: torch.Tensor, y: torch.Tensor, n_labeled: int,
                    n_unlabeled: int, parts: int = 1, net: torch.nn.Module | None = None) -> dict:
    """Forward and backward of the batch x (B + 2uB, 3, S, S) = labeled, weak, strong views, in
    `parts` parts. `step(x_part, y_part, b, u)` returns fixmatch_loss's dict for a part of b
    labeled and u unlabeled images. Returns the whole batch's loss_x, loss_u (detached), mask
    (uB,) and pseudo (uB,); the gradients are in the parameters. `net`: a DDP module syncs
    gradients at the last part only."""
    if parts == 1:
        out = step(x, y, n_labeled, n_unlabeled)
        out["loss"].backward()
        return out
    B, U = n_labeled, n_unlabeled
    if parts > B:
        raise HumeSSLError(f"--micro-batches {parts} is more than the {B} labeled images per "
                           "step and process; pass at most that.")
    lab, unl = part_bounds(B, parts), part_bounds(U, parts)
    loss_x = loss_u = torch.zeros((), device=x.device)
    masks, pseudos = [], []
    for j, ((l0, l1), (u0, u1)) in enumerate(zip(lab, unl)):
        xj = torch.cat([x[l0:l1], x[B + u0 : B + u1], x[B + U + u0 : B + U + u1]])
        last = j == parts - 1
        sync = nullcontext() if last or not hasattr(net, "no_sync") else net.no_sync()
        with sync:
            out = step(xj, y[l0:l1], l1 - l0, u1 - u0)
            wx, wu = (l1 - l0) / B, (u1 - u0) / U
            (wx * out["loss_x"] + wu * (out["loss"] - out["loss_x"])).backward()
        loss_x = loss_x + wx * out["loss_x"].detach()
        loss_u = loss_u + wu * out["loss_u"].detach()
        masks.append(out["mask"])
        pseudos.append(out["pseudo"])
    return {"loss_x": loss_x, "loss_u": loss_u, "mask": torch.cat(masks),
            "pseudo": torch.cat(pseudos)}
