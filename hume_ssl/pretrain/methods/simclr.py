"""SimCLR (Chen et al. 2020): contrast each view against the other view of the same image and
all 2B - 2 other views of the batch, with no momentum encoder and no queue.

    z = normalize(head(enc(cat[view_a, view_b])))           (2B, D), one forward, batch BN
    loss = NT-Xent: CE over the 2B - 1 other rows of z z^T / T, positive = the other view

Defaults follow lightly's CIFAR-10 benchmark (benchmarks/cifar10_benchmark.py: ResNet-18,
SimCLRProjectionHead 512-512-128 with BatchNorm, NT-Xent temperature 0.5, SGD lr
0.06 * batch / 128, momentum 0.9, weight decay 5e-4, cosine schedule), which logs kNN-200
84.8% at 200 epochs and 87.9% at 800 with batch 512. On one device the batch statistics are
global, as SimCLR's paper asks of multi-device training (no BN splits). Under torchrun the
trainer makes BatchNorm global across ranks (`sync_bn`: models.encoders.sync_batchnorm), each
rank gathers every rank's embeddings (with their gradient) and takes the loss of its own rows
against the whole batch, so the loss and gradient equal one process's.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from hume_ssl.core import distributed
from hume_ssl.models.encoders import build_encoder
from hume_ssl.pretrain.methods.common import at_least_fp32, autocast_off, projection_head


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float,
                 rows: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """NT-Xent of L2-normalised views z1, z2 (B, D): (loss, accuracy of the positive among
    the 2B - 1 other rows), both float scalars. A pure function: SimCLR's only loss.
    `rows` (m,): the mean over these rows of cat[z1, z2] only (a torchrun rank's queries)."""
    z = torch.cat([at_least_fp32(z1), at_least_fp32(z2)])  # (2B, D)
    n = len(z1)
    target = torch.cat([torch.arange(n, 2 * n, device=z.device),
                        torch.arange(0, n, device=z.device)])  # (no host-to-device copy)
    with autocast_off(z):  # float32 logits under bf16 autocast too
        logits = (z if rows is None else z[rows]) @ z.T / temperature  # (2B or m, 2B)
    if rows is None:
        self_pair = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    else:
        self_pair = rows.view(-1, 1) == torch.arange(2 * n, device=z.device).view(1, -1)
        target = target[rows]
    logits = logits.masked_fill(self_pair, -torch.inf)
    acc = (logits.argmax(1) == target).float().mean()
    return F.cross_entropy(logits, target), acc


nt_xent = nt_xent_loss  # the old name


class SimCLR(nn.Module):
    n_shuffles = 0  # no key batch to shuffle
    sync_bn = True  # torchrun: BatchNorm statistics of the whole batch, over every rank
    train_passes = 6  # forward-equivalents per image and step: 2 views x (forward + backward)

    def __init__(self, arch: str = "resnet18_cifar", dim: int = 128, temperature: float = 0.5,
                 head: str = "mlp_bn"):
        super().__init__()
        self.encoder_q, self.feat_dim = build_encoder(arch)  # exported as the backbone
        self.head = projection_head(head, self.feat_dim, dim)
        self.temperature = temperature

    @classmethod
    def build(cls, cfg, world: int = 1) -> SimCLR:
        """From a PretrainConfig (validated: temperature and head resolved); the same model
        for any number of ranks (the trainer makes its BatchNorm global: `sync_bn`)."""
        return cls(cfg.arch, cfg.dim, cfg.temperature, cfg.head)

    def chance_loss(self, batch_size: int) -> float:
        """The loss of embeddings that tell nothing apart: ln(2B - 1)."""
        return math.log(2 * batch_size - 1)

    def query(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, D)
        return F.normalize(at_least_fp32(self.head(self.encoder_q(x))), dim=1)

    def forward(self, view_a: torch.Tensor, view_b: torch.Tensor,
                perms: Optional[torch.Tensor] = None) -> dict:
        b = len(view_a)
        z = self.query(torch.cat([view_a, view_b]))  # (2b, D): this rank's share
        if distributed.world_size() == 1:
            loss, acc = nt_xent_loss(z[:b], z[b:], self.temperature)
            return {"loss": loss, "acc": acc}
        z1, z2 = distributed.gather_rows(z[:b]), distributed.gather_rows(z[b:])  # (B, D) each
        mine = torch.arange(len(z1), device=z.device)[distributed.rows_of_rank(len(z1))]
        loss, acc = nt_xent_loss(z1, z2, self.temperature, torch.cat([mine, mine + len(z1)]))
        return {"loss": loss, "acc": acc}
