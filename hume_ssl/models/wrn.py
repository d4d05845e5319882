"""Wide ResNet (Zagoruyko & Komodakis 2016) as used by FixMatch: WRN-28-2 / WRN-28-8 for 32 px.

FixMatch's variant: leaky ReLU (slope 0.1), BatchNorm momentum 0.001 by default (PyTorch
convention, i.e. TensorFlow's decay 0.999), pre-activation blocks, no dropout, global average
pooling.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_MOMENTUM = 0.001
LEAK = 0.1


class Block(nn.Module):
    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        activate_before_residual: bool = False,
        bn_momentum: float = BN_MOMENTUM,
    ):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, momentum=bn_momentum)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, momentum=bn_momentum)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)
        self.activate_before_residual = activate_before_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # as FixMatch's TensorFlow original: conv1 always sees the activated input; the shortcut
        # sees the raw input, except in the very first block (activate_before_residual)
        o = F.leaky_relu(self.bn1(x), LEAK)
        if self.activate_before_residual:
            x = o
        y = self.conv2(F.leaky_relu(self.bn2(self.conv1(o)), LEAK))
        return y + (x if self.shortcut is None else self.shortcut(x))


class WideResNet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        depth: int = 28,
        width: int = 2,
        in_channels: int = 3,
        bn_momentum: float = BN_MOMENTUM,
    ):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6  # blocks per group: 4 for depth 28
        ch = [16, 16 * width, 32 * width, 64 * width]
        self.conv = nn.Conv2d(in_channels, ch[0], 3, 1, 1, bias=False)
        layers = []
        for g, stride in enumerate((1, 2, 2)):
            for i in range(n):
                layers.append(
                    Block(
                        ch[g] if i == 0 else ch[g + 1],
                        ch[g + 1],
                        stride if i == 0 else 1,
                        activate_before_residual=(g == 0 and i == 0),
                        bn_momentum=bn_momentum,
                    )
                )
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(ch[3], momentum=bn_momentum)
        self.fc = nn.Linear(ch[3], num_classes)
        self.num_features = ch[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, num_classes)
        h = self.blocks(self.conv(x))
        h = F.leaky_relu(self.bn(h), LEAK)
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


ARCHS = {"wrn28_2": (28, 2), "wrn28_8": (28, 8), "wrn10_1": (10, 1)}  # wrn10_1: tests / smoke


def build_model(arch: str, num_classes: int, bn_momentum: float = BN_MOMENTUM) -> WideResNet:
    if arch not in ARCHS:
        from hume_ssl.core.errors import unknown_choice

        raise unknown_choice("--arch", arch, ARCHS)
    depth, width = ARCHS[arch]
    return WideResNet(num_classes, depth, width, bn_momentum=bn_momentum)
