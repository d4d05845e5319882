"""Encoders for self-supervised pretraining, and the split BatchNorm that MoCo needs on one GPU.

    resnet18_cifar | resnet34_cifar | resnet50_cifar   torchvision ResNet with a 3x3 stride-1
                                                        stem and no max-pool (for 32-64 px)
    wrn28_2 | wrn28_8 | wrn10_1                         FixMatch's WideResNet without its head
                                                        (wrn10_1: 77k weights, for tiny images
                                                        on a CPU, e.g. the 8x8 digits demo)
    torchvision:NAME                                    any torchvision classifier, standard stem,
                                                        head removed (for larger images)

`strip_head(model, name)` turns a torchvision classifier into its penultimate (pooled) features.
`build_encoder(arch)` returns a module mapping (B, 3, S, S) -> (B, d) and d. Its state dict is
the plain torchvision one minus the head, so the exported backbone loads without hume-ssl's
training code. `SplitBatchNorm2d` normalises each of `splits` groups of the batch with its own
statistics (the single-GPU stand-in for MoCo's shuffled BN across GPUs); it stores ordinary
BatchNorm2d state and behaves as BatchNorm2d in eval mode. `sync_batchnorm` makes every
BatchNorm normalise the whole batch of all torchrun ranks (SimCLR's global BN): torch's
SyncBatchNorm on CUDA, `GlobalBatchNorm` (the same statistics through two differentiable
all-reduces, any backend) elsewhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hume_ssl.core import distributed
from hume_ssl.core.errors import HumeSSLError, unknown_choice
from hume_ssl.models.wrn import ARCHS as WRN_ARCHS
from hume_ssl.models.wrn import build_model

CIFAR_ARCHS = ("resnet18_cifar", "resnet34_cifar", "resnet50_cifar")


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over `splits` groups of the batch (sample b is in group b mod splits)."""

    def __init__(self, num_features: int, splits: int = 1, **kw):
        super().__init__(num_features, **kw)
        self.splits = splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        s = self.splits
        if not self.training or s == 1:
            return super().forward(x)
        B, C, H, W = x.shape
        if B % s:
            raise HumeSSLError(f"batch of {B} is not divisible by the {s} BatchNorm splits.")
        # (B, C, H, W) -> (B/s, s*C, H, W): channel j*C + c holds channel c of samples b = j mod s
        rm, rv = self.running_mean.repeat(s), self.running_var.repeat(s)
        y = F.batch_norm(
            x.reshape(B // s, s * C, H, W), rm, rv, self.weight.repeat(s), self.bias.repeat(s),
            True, self.momentum, self.eps,
        ).reshape(B, C, H, W)
        with torch.no_grad():  # the groups' running statistics, averaged
            self.running_mean.copy_(rm.view(s, C).mean(0))
            self.running_var.copy_(rv.view(s, C).mean(0))
            self.num_batches_tracked += 1
        return y


def split_batchnorm(module: nn.Module, splits: int) -> nn.Module:
    """Replace every BatchNorm2d in `module` by a SplitBatchNorm2d sharing its state (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, SplitBatchNorm2d):
            new = SplitBatchNorm2d(child.num_features, splits, eps=child.eps,
                                   momentum=child.momentum)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            split_batchnorm(child, splits)
    return module


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm (1d or 2d) whose training statistics are those of the whole batch over every
    torchrun rank, i.e. what one process holding the whole batch computes; plain BatchNorm in
    eval mode and for one process. Ranks hold equal shares of the batch."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected a (B, C, ...) input, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, C) or (b, C, H, W)
        if not self.training or distributed.world_size() == 1:
            return super().forward(x)
        dims, shape = [0, *range(2, x.dim())], (1, -1) + (1,) * (x.dim() - 2)
        n = x.numel() // x.shape[1] * distributed.world_size()  # values per channel, all ranks
        xf = x.float()
        mean = distributed.sum_over_ranks(xf.sum(dims)) / n  # (C,)
        xc = xf - mean.view(shape)
        var = distributed.sum_over_ranks((xc * xc).sum(dims)) / n  # (C,) biased, as BatchNorm
        y = xc * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else \
                    1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), m)
                self.running_var.lerp_((var * n / max(n - 1, 1)).to(self.running_var.dtype), m)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of `module` normalising the whole batch of all ranks: torch's
    SyncBatchNorm on CUDA, GlobalBatchNorm elsewhere (same state dict keys)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new.to(next(child.buffers(), torch.empty(0)).device))
        else:
            sync_batchnorm(child, device)
    return module


class GapFeatures(nn.Module):
    """`features` trunk then global average pooling: (B, C, H, W) -> (B, C)."""

    def __init__(self, trunk: nn.Module):
        super().__init__()
        self.trunk = trunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).mean(dim=(2, 3))


def strip_head(model: nn.Module, name: str) -> nn.Module:
    """Replace a torchvision classifier head by identity -> penultimate (pooled) features."""
    if name.startswith("squeezenet"):
        return GapFeatures(model.features)  # 512-d for squeezenet1_1
    for attr in ("fc", "classifier", "head", "heads"):
        head = getattr(model, attr, None)
        if isinstance(head, nn.Linear):
            setattr(model, attr, nn.Identity())
            return model
        if isinstance(head, nn.Sequential):
            idx = [i for i, m in enumerate(head) if isinstance(m, nn.Linear)]
            if idx:
                head[idx[-1]] = nn.Identity()
                return model
    raise HumeSSLError(f"torchvision:{name}: cannot find its classifier head to remove; use "
                       f"torchvision:{name}:logits or a timm model.")


def _cifar_resnet(arch: str) -> tuple[nn.Module, int]:
    import torchvision.models as tvm

    model = tvm.get_model(arch.removesuffix("_cifar"), weights=None)
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # 32 px: keep the resolution
    model.maxpool = nn.Identity()
    dim = model.fc.in_features
    model.fc = nn.Identity()
    return model, dim


FIXED_SIZE_TORCHVISION = ("vit_", "maxvit")  # torchvision models that take 224 px only
TV_LIST = 'python -c "import torchvision; print(torchvision.models.list_models())"'


def check_torchvision_name(name: str) -> None:
    """A clear error for a name torchvision's registry does not hold (--arch, --backbone)."""
    import torchvision.models as tvm

    valid = tvm.list_models()
    if name not in valid:
        raise unknown_choice("torchvision model", name, valid, how_to_list=TV_LIST)


def check_arch(arch) -> None:
    """A clear error for an --arch build_encoder cannot build (before any data is read)."""
    choices = [*CIFAR_ARCHS, *WRN_ARCHS, "torchvision:NAME (e.g. torchvision:resnet50 for "
               "images of 96 px and more)"]
    if not isinstance(arch, str):
        raise unknown_choice("--arch", repr(arch), choices)
    if arch.startswith("torchvision:"):
        name = arch.split(":", 1)[1]
        check_torchvision_name(name)
        if name.startswith(FIXED_SIZE_TORCHVISION):  # (they failed after the data was read)
            raise HumeSSLError(f"--arch {arch} runs at 224 px only; use a torchvision CNN, or "
                               "a ViT through timm (--arch timm:NAME, resized to its size).")
    elif arch not in CIFAR_ARCHS and arch not in WRN_ARCHS:
        raise unknown_choice("--arch", arch, choices)


def build_encoder(arch: str) -> tuple[nn.Module, int]:
    """(encoder: (B, 3, S, S) -> (B, d), d) with random weights."""
    check_arch(arch)  # one place says which archs build
    if arch in CIFAR_ARCHS:
        return _cifar_resnet(arch)
    if arch in WRN_ARCHS:
        model = build_model(arch, num_classes=1)
        model.fc = nn.Identity()  # (B, 64 * width) pooled features
        return model, model.num_features
    import torchvision.models as tvm  # the rest: torchvision:NAME, a known name (check_arch)

    name = arch.split(":", 1)[1]
    model = strip_head(tvm.get_model(name, weights=None), name)
    model.eval()
    with torch.no_grad():
        dim = int(model(torch.zeros(2, 3, 64, 64)).shape[1])
    return model.train(), dim
