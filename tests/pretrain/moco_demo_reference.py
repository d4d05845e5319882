"""A re-implementation of one training step of MoCo's CIFAR-10 demo, for equivalence tests.

Written from the demo's description (facebookresearch/moco, branch colab-notebook,
colab/moco_cifar10_demo.ipynb), following its structure cell by cell, not its code:
- cell "Define base encoder": `SplitBatchNorm` normalises the batch as `num_splits` groups, each
  with its own batch statistics (sample b in group b mod num_splits, from the view
  (N, C, H, W) -> (N / s, s * C, H, W)), and stores the mean of the groups' updated running
  statistics. Here the groups are walked one by one, a different computation of the same rule.
  The ResNet-18 has a 3x3 stride-1 stem, no max-pool, and `fc` = the projection head.
- cell "Define MoCo wrapper": `_momentum_update_key_encoder` (k = m k + (1 - m) q, parameters
  only), `_batch_shuffle_single_gpu` / `_batch_unshuffle_single_gpu` (the key batch of each
  direction is shuffled by its own permutation, then restored), `contrastive_loss` (one B-sized
  query forward, one B-sized key forward, logits [q.k, q.queue] / T, cross-entropy with target
  0), `forward` (momentum update, then loss_12 + loss_21 when symmetric with
  k = cat([k1, k2]), and `_dequeue_and_enqueue(k)`: keys written at the pointer, which
  advances by their count modulo K).
- cell "Define train/test": one SGD step per batch on that loss.
The demo stores the queue as (dim, K) columns; here it is (K, dim) rows, as in hume_ssl.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class GroupLoopBatchNorm(nn.Module):
    """The demo's SplitBatchNorm rule, computed group by group (training mode only)."""

    def __init__(self, bn: nn.BatchNorm2d, splits: int):
        super().__init__()
        self.weight, self.bias = bn.weight, bn.bias
        self.register_buffer("running_mean", bn.running_mean.clone())
        self.register_buffer("running_var", bn.running_var.clone())
        self.momentum, self.eps, self.splits = bn.momentum, bn.eps, splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        means, variances = [], []
        for g in range(self.splits):
            xg = x[g :: self.splits]  # (B / s, C, H, W)
            mu = xg.mean(dim=(0, 2, 3))
            var = xg.var(dim=(0, 2, 3), unbiased=False)
            n = xg.numel() / xg.shape[1]
            out[g :: self.splits] = (
                (xg - mu[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + self.eps)
                * self.weight[None, :, None, None] + self.bias[None, :, None, None]
            )
            with torch.no_grad():
                means.append((1 - self.momentum) * self.running_mean + self.momentum * mu)
                unbiased = var * n / (n - 1)
                variances.append((1 - self.momentum) * self.running_var + self.momentum * unbiased)
        with torch.no_grad():
            self.running_mean.copy_(torch.stack(means).mean(0))
            self.running_var.copy_(torch.stack(variances).mean(0))
        return out


def with_group_loop_bn(module: nn.Module, splits: int) -> nn.Module:
    """A copy of `module` whose BatchNorm layers follow GroupLoopBatchNorm (same parameters)."""
    module = copy.deepcopy(module)

    def swap(m: nn.Module) -> None:
        for name, child in m.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(m, name, GroupLoopBatchNorm(child, splits))
            else:
                swap(child)

    swap(module)
    return module


class DemoMoCoStep:
    """The demo's MoCo with the encoders of a hume_ssl MoCo (copied, BN replaced)."""

    def __init__(self, ours, splits: int, symmetric: bool):
        self.enc_q = with_group_loop_bn(ours.encoder_q, splits)
        self.head_q = copy.deepcopy(ours.head_q)
        self.enc_k = with_group_loop_bn(ours.encoder_k, splits)
        self.head_k = copy.deepcopy(ours.head_k)
        for p in list(self.enc_k.parameters()) + list(self.head_k.parameters()):
            p.requires_grad_(False)
        self.queue = ours.queue.clone()  # (K, D)
        self.ptr, self.m, self.T = ours.ptr, ours.momentum, ours.temperature
        self.symmetric = symmetric

    def query_params(self) -> list[torch.Tensor]:
        return list(self.enc_q.parameters()) + list(self.head_q.parameters())

    def _momentum_update_key_encoder(self) -> None:
        with torch.no_grad():
            for pk, pq in zip(list(self.enc_k.parameters()) + list(self.head_k.parameters()),
                              self.query_params()):
                pk.mul_(self.m).add_(pq, alpha=1 - self.m)

    def contrastive_loss(self, im_q, im_k, idx_shuffle):
        q = F.normalize(self.head_q(self.enc_q(im_q)), dim=1)
        with torch.no_grad():
            idx_unshuffle = torch.argsort(idx_shuffle)
            k = F.normalize(self.head_k(self.enc_k(im_k[idx_shuffle])), dim=1)[idx_unshuffle]
        l_pos = (q * k).sum(1, keepdim=True)  # (B, 1)
        l_neg = q @ self.queue.clone().T  # (B, K)
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long))
        return loss, k

    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        n = len(keys)
        assert len(self.queue) % n == 0  # the demo's requirement
        self.queue[self.ptr : self.ptr + n] = keys
        self.ptr = (self.ptr + n) % len(self.queue)

    def step(self, im1, im2, shuffles) -> torch.Tensor:
        """Momentum update, loss (backward done here), enqueue. Returns the loss."""
        self._momentum_update_key_encoder()
        if self.symmetric:
            loss_12, k2 = self.contrastive_loss(im1, im2, shuffles[0])
            loss_21, k1 = self.contrastive_loss(im2, im1, shuffles[1])
            loss, k = loss_12 + loss_21, torch.cat([k1, k2], dim=0)
        else:
            loss, k = self.contrastive_loss(im1, im2, shuffles[0])
        loss.backward()
        self._dequeue_and_enqueue(k)
        return loss.detach()
