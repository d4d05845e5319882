"""FixMatch's loss (Sohn et al., 2020) as pure functions: the labeled cross-entropy plus the
cross-entropy of strong views towards the confident weak views' argmax, and one step's forward of
the labeled, weak and strong images together."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fixmatch_loss(
    logits_x: torch.Tensor,
    y: torch.Tensor,
    logits_uw: torch.Tensor,
    logits_us: torch.Tensor,
    threshold: float,
    lambda_u: float,
) -> dict[str, torch.Tensor]:
    """FixMatch loss on logits of labeled (B,k), weak (uB,k) and strong (uB,k) views.

    Returns loss, loss_x, loss_u, mask (uB,) float, pseudo (uB,) long. The unlabeled loss is
    averaged over all unlabeled images (masked ones count as zero), as in the paper.
    """
    loss_x = F.cross_entropy(logits_x.float(), y)
    probs = torch.softmax(logits_uw.detach().float(), dim=-1)
    conf, pseudo = probs.max(dim=-1)
    mask = (conf >= threshold).float()
    loss_u = (F.cross_entropy(logits_us.float(), pseudo, reduction="none") * mask).mean()
    return {
        "loss": loss_x + lambda_u * loss_u,
        "loss_x": loss_x,
        "loss_u": loss_u,
        "mask": mask,
        "pseudo": pseudo,
    }


def fixmatch_step(
    net: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_labeled: int,
    n_unlabeled: int,
    threshold: float,
    lambda_u: float,
    bf16: bool = False,
) -> dict[str, torch.Tensor]:
    """One FixMatch forward and its loss: x (B + 2uB, 3, H, W) is the labeled images (B), then
    the weak (uB) and the strong (uB) views of the same unlabeled images, in one forward (so
    BatchNorm sees the whole mix); y (B,) the labels. Returns fixmatch_loss's dict; the caller
    runs backward and the optimizer."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = net(x)  # (B + 2uB, k)
    lx, luw, lus = (
        logits[:n_labeled],
        logits[n_labeled : n_labeled + n_unlabeled],
        logits[n_labeled + n_unlabeled :],
    )
    return fixmatch_loss(lx, y, luw, lus, threshold, lambda_u)
