"""MoCo v2 (He et al. 2020; Chen et al. 2020): a query encoder trained by contrast against a
momentum-updated key encoder and a queue of past keys.

    q = normalize(head_q(enc_q(view_a)))                    (B, D)
    k = normalize(head_k(enc_k(view_b)))  (no grad)         (B, D)
    loss = CE([q.k, q.queue^T] / T, 0)                      positive in column 0
    symmetric: plus the same with the views swapped (summed, as MoCo's CIFAR-10 demo); both
               key sets enter the queue (view a's keys first).

The step follows MoCo's CIFAR-10 demo (facebookresearch/moco, colab/moco_cifar10_demo.ipynb)
structure for structure, and tests/pretrain/moco_demo_reference.py checks it equals a
re-implementation of the demo's step: each direction is one B-sized query forward and one
B-sized key forward; BatchNorm normalises groups of B / `bn_splits` images
(`SplitBatchNorm2d`, the demo's single-GPU stand-in for per-GPU BN); the key batch of each
direction is shuffled on its own before the key encoder and unshuffled after, so a query and
its positive key never share a BatchNorm group composition; every forward updates the BN
running statistics once (twice per step when symmetric).

Under torchrun (W ranks, rank r holding rows r, r + W, ... of the global batch) this is MoCo's
shuffle BN across GPUs: each rank normalises bn_splits / W groups of its share, the key images
are gathered from every rank, shuffled over the whole batch, each rank encodes its share of the
shuffled batch, and the keys are gathered back and unshuffled; every rank then holds the whole
batch's keys: its queries' positives, and the queue takes them all. Rank r's group l holds
exactly the images of one process's group r + l W, so the loss equals one process's with the
same bn_splits (tests/pretrain/test_pretrain_distributed.py).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from hume_ssl.core import distributed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.models.encoders import build_encoder, split_batchnorm
from hume_ssl.pretrain.methods.common import at_least_fp32, autocast_off, projection_head


def infonce_loss(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE of L2-normalised q (B, D) against positives k (B, D) and negatives queue (K, D).

    Returns (loss, accuracy of picking the positive among K+1), both scalars, float32. A pure
    function: MoCo's only loss.
    """
    q, k, queue = at_least_fp32(q), at_least_fp32(k), queue.to(at_least_fp32(q).dtype)
    pos = (q * k).sum(1, keepdim=True)  # (B, 1)
    with autocast_off(q):  # (before: bf16 negatives beside a float32 positive on CUDA)
        neg = q @ queue.T  # (B, K)
    logits = torch.cat([pos, neg], dim=1) / temperature  # (B, 1+K)
    target = torch.zeros(len(q), dtype=torch.long, device=q.device)
    acc = (logits.argmax(1) == 0).float().mean()
    return F.cross_entropy(logits, target), acc


contrastive_loss = infonce_loss  # the old name


class MoCo(nn.Module):
    def __init__(
        self,
        arch: str = "resnet18_cifar",
        dim: int = 128,
        queue_size: int = 4096,
        momentum: float = 0.99,
        temperature: float = 0.1,
        bn_splits: int = 8,
        symmetric: bool = True,
        head: str = "mlp",
        world: int = 1,
    ):
        super().__init__()
        enc, feat_dim = build_encoder(arch)
        self.feat_dim, self.momentum, self.temperature = feat_dim, momentum, temperature
        self.symmetric, self.queue_size = symmetric, queue_size
        self.bn_splits = bn_splits  # groups of B / bn_splits images in every forward
        splits = bn_splits // world  # this rank's groups (torchrun: W ranks share the batch)
        self.encoder_q = split_batchnorm(enc, splits) if splits > 1 else enc
        self.head_q = projection_head(head, feat_dim, dim)
        self.encoder_k = copy.deepcopy(self.encoder_q).requires_grad_(False)
        self.head_k = copy.deepcopy(self.head_q).requires_grad_(False)
        g = torch.Generator().manual_seed(0)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim, generator=g), dim=1))
        self.ptr = 0  # next queue row to overwrite; a function of the step (checkpointed)

    @classmethod
    def build(cls, cfg, world: int = 1) -> MoCo:
        """From a PretrainConfig (validated: queue_size resolved), for `world` ranks."""
        if cfg.bn_splits % world:
            raise HumeSSLError(f"--bn-splits {cfg.bn_splits} is not divisible by {world} "
                               f"processes; pass --bn-splits {world * -(-cfg.bn_splits // world)}"
                               " (BatchNorm groups of the whole batch: at least one per rank).")
        return cls(cfg.arch, cfg.dim, cfg.queue_size, cfg.moco_momentum, cfg.temperature,
                   cfg.bn_splits, cfg.symmetric, cfg.head, world)

    def query(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, D)
        return F.normalize(at_least_fp32(self.head_q(self.encoder_q(x))), dim=1)

    @torch.no_grad()
    def key(self, x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:  # (b, 3, S, S) -> (B, D)
        """Keys computed on the batch shuffled by `perm` (B,), returned in the original order.
        Under torchrun x is this rank's share and the keys are the whole batch's (shuffle BN
        across ranks: gather, shuffle, encode this rank's share, gather, unshuffle)."""
        x = distributed.gather_rows(x)  # (B, 3, S, S), the whole batch in its order
        mine = x[perm][distributed.rows_of_rank(len(x))]  # this rank's share of the shuffle
        k = F.normalize(at_least_fp32(self.head_k(self.encoder_k(mine))), dim=1)
        return distributed.gather_rows(k)[torch.argsort(perm)]  # (B, D)

    @torch.no_grad()
    def momentum_update(self) -> None:
        for mk, mq in ((self.encoder_k, self.encoder_q), (self.head_k, self.head_q)):
            torch._foreach_lerp_(list(mk.parameters()), list(mq.parameters()),
                                 1.0 - self.momentum)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:  # keys (n, D), n <= queue_size
        n = len(keys)
        rows = (self.ptr + torch.arange(n, device=keys.device)) % self.queue_size
        self.queue[rows] = keys.to(self.queue.dtype)
        self.ptr = (self.ptr + n) % self.queue_size

    @property
    def n_shuffles(self) -> int:
        """Key-batch permutations a step needs: one per direction."""
        return 2 if self.symmetric else 1

    @property
    def train_passes(self) -> int:
        """Forward-equivalents per image and step: per direction, query forward + backward (3)
        and key forward (1)."""
        return 4 * self.n_shuffles

    def chance_loss(self, batch_size: int) -> float:
        """The loss of embeddings that tell nothing apart: ln(K + 1) per direction."""
        return self.n_shuffles * math.log(self.queue_size + 1)

    def queue_turnover_steps(self, batch_size: int) -> int:
        """Steps until every initial (random) queue row has been replaced by real keys; before
        that the random rows are easy negatives and pos_acc is inflated."""
        return math.ceil(self.queue_size / (self.n_shuffles * batch_size))

    def contrast(
        self, im_q: torch.Tensor, im_k: torch.Tensor, perm: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One direction: (loss, positive accuracy, keys (B, D)); perm shuffles the key batch.
        Under torchrun the queries are this rank's (b, D), the keys every rank's."""
        q = self.query(im_q)  # (b, D)
        k = self.key(im_k, perm)  # (B, D)
        loss, acc = infonce_loss(q, k[distributed.rows_of_rank(len(k))], self.queue,
                                 self.temperature)
        return loss, acc, k

    def forward(
        self, view_a: torch.Tensor, view_b: torch.Tensor, perms: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One training step's loss on two views (B, 3, S, S); perms (n_shuffles, B): one
        permutation of the key batch per direction.

        Updates the key encoder first; call `enqueue(out["keys"])` after the optimizer step.
        """
        self.momentum_update()
        if not self.symmetric:
            loss, acc, k = self.contrast(view_a, view_b, perms[0])
            return {"loss": loss, "acc": acc, "keys": k}
        loss_ab, acc_ab, k_b = self.contrast(view_a, view_b, perms[0])
        loss_ba, acc_ba, k_a = self.contrast(view_b, view_a, perms[1])
        return {"loss": loss_ab + loss_ba, "acc": (acc_ab + acc_ba) / 2,
                "keys": torch.cat([k_a, k_b])}  # (2B, D), the demo's order
