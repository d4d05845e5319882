"""The exponential moving average of a model's weights that FixMatch evaluates and exports."""

from __future__ import annotations

import copy

import torch


class EMA:
    """Exponential moving average of a model's parameters; buffers (BN stats) are copied.

    warmup: the decay at update k (0-based) is min(decay, (1+k)/(10+k)) (the rule of TensorFlow's
    ExponentialMovingAverage given num_updates; FixMatch's reference code keeps the decay
    constant), so that a short run does not evaluate a model that is still mostly its random
    initialisation (0.999^1000 = 0.37 of it after 1000 steps). It reaches 0.999 at k ~ 9,000.
    """

    def __init__(self, model: torch.nn.Module, decay: float, warmup: bool = True):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.warmup = decay, warmup

    def decay_at(self, k: int) -> float:
        return min(self.decay, (1.0 + k) / (10.0 + k)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: torch.nn.Module, k: int) -> None:
        ema_p, p = list(self.module.parameters()), list(model.parameters())
        torch._foreach_lerp_(ema_p, p, 1.0 - self.decay_at(k))
        for eb, b in zip(self.module.buffers(), model.buffers()):
            eb.copy_(b)
