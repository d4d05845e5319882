"""The classifiers FixMatch trains: a WideResNet by name, or an encoder with a fresh linear head,
optionally initialised from a pretrained backbone (`--init ssl:RUN`, `--init torchvision:NAME`).

    model = build_classifier("wrn28_2", k=10)                       # random init
    model, init = init_classifier("ssl:runs/ssl", k=10)             # the pretrain run's encoder
    init.arch, init.input_size, init.mean, init.std                 # what the init fixes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.models.backbones import load_backbone, resolve_backbone
from hume_ssl.models.encoders import CIFAR_ARCHS, build_encoder
from hume_ssl.models.ssl_backbone import read_backbone_meta
from hume_ssl.models.wrn import ARCHS as WRN_ARCHS
from hume_ssl.models.wrn import build_model


class EncoderClassifier(nn.Module):
    """encoder (B, 3, S, S) -> (B, d), then a linear head (B, d) -> (B, k)."""

    def __init__(self, encoder: nn.Module, feat_dim: int, k: int):
        super().__init__()
        self.encoder, self.fc = encoder, nn.Linear(feat_dim, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.encoder(x))


@dataclass
class Init:
    """What a pretrained initialisation fixes for training and for `predict`."""

    spec: str  # as given, e.g. "ssl:runs/ssl"
    arch: str  # the classifier architecture it implies, e.g. "resnet18_cifar"
    input_size: Optional[int]  # pixels the encoder was trained at (None: any)
    mean: tuple[float, float, float]  # input normalisation the encoder expects
    std: tuple[float, float, float]


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def classifier_archs() -> list[str]:
    return list(WRN_ARCHS) + list(CIFAR_ARCHS) + ["torchvision:NAME"]


def build_classifier(arch: str, k: int, bn_momentum: float = 0.001) -> nn.Module:
    """A randomly initialised classifier: a WideResNet, or an encoder architecture plus head."""
    if arch in WRN_ARCHS:
        return build_model(arch, k, bn_momentum=bn_momentum)
    if arch in CIFAR_ARCHS or arch.startswith("torchvision:"):
        encoder, dim = build_encoder(arch)
        model = EncoderClassifier(encoder, dim, k)
        set_bn_momentum(model, bn_momentum)
        return model
    raise HumeSSLError(f"unknown --arch {arch!r}; choose one of {', '.join(classifier_archs())}.")


def resolve_init(spec: str) -> Init:
    """Parse an --init spec without loading weights (cheap: for checks before any work)."""
    if spec.startswith("ssl:"):
        meta, _ = read_backbone_meta(spec.split(":", 1)[1])
        p = meta["preprocessing"]
        return Init(spec, meta["arch"], int(p["input_size"]), tuple(p["mean"]), tuple(p["std"]))
    if spec.startswith("torchvision:"):
        b = resolve_backbone(spec)
        if b.output != "features":
            raise HumeSSLError(f"--init {spec}: use the features spec (without :logits); a "
                               "fresh head for the k classes is added.")
        pre = b.preprocessing
        return Init(spec, f"torchvision:{b.model_name}", None, pre.mean, pre.std)
    raise HumeSSLError(f"--init {spec!r}: give ssl:RUN (a `hume-ssl pretrain` run folder) or "
                       "torchvision:NAME@WEIGHTS_FILE.")


def init_classifier(spec: str | Init, k: int, bn_momentum: float = 0.001,
                    ) -> tuple[nn.Module, Init]:
    """The encoder of `spec` (an --init spec, or one already resolved by `resolve_init`) with
    its pretrained weights, trainable, plus a fresh linear head."""
    init = spec if isinstance(spec, Init) else resolve_init(spec)
    spec = init.spec
    if spec.startswith("ssl:"):
        encoder, dim = build_encoder(init.arch)
        _, weights = read_backbone_meta(spec.split(":", 1)[1])
        try:
            state = torch.load(Path(weights), map_location="cpu", weights_only=True)
            encoder.load_state_dict(state)
        except Exception as e:  # truncated, not a torch file, or another architecture
            raise HumeSSLError(
                f"--init {spec}: cannot load {weights} ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200] if str(e) else ''}); re-export it by re-running "
                "`hume-ssl pretrain ... --resume`, or pretrain again into a new --out."
            ) from e
    else:
        encoder = load_backbone(spec)  # frozen, eval mode: made trainable below
        encoder.requires_grad_(True)
        with torch.no_grad():
            dim = int(encoder(torch.zeros(2, 3, 64, 64)).shape[1])
    encoder.train()
    model = EncoderClassifier(encoder, dim, k)
    set_bn_momentum(model, bn_momentum)
    return model, init
