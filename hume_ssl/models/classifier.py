"""The classifiers FixMatch trains: a WideResNet by name, or an encoder with a fresh linear head,
optionally initialised from a pretrained backbone: `--init ssl:RUN`, or any backbone spec of the
features registry (`dinov2_vits14`, `clip_vit_b16`, `timm:NAME[.TAG]`, `torchvision:NAME`, each
with `@FILE`); the encoder is the backbone as `features` runs it (its pooled features).

    model = build_classifier("wrn28_2", k=10)                       # random init
    model, init = init_classifier("ssl:runs/ssl", k=10)             # the pretrain run's encoder
    init = resolve_init("timm:tf_efficientnet_lite2@w.pth", input_size=96)
    init.arch, init.input_size, init.mean, init.std, init.family    # what the init fixes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from hume_ssl.core.errors import HumeSSLError, unknown_choice
from hume_ssl.models.backbones import (
    ALIASES,
    BackboneSpec,
    check_patch_multiple,
    is_plain_vit,
    load_backbone,
    resolve_backbone,
)
from hume_ssl.models.encoders import CIFAR_ARCHS, build_encoder, check_arch
from hume_ssl.models.ssl_backbone import read_backbone_meta
from hume_ssl.models.wrn import ARCHS as WRN_ARCHS
from hume_ssl.models.wrn import build_model


class EncoderClassifier(nn.Module):
    """encoder (B, 3, S, S) -> (B, d), times feature_scale, then a linear head (B, d) -> (B, k).

    feature_scale (a buffer, 1 unless set) brings pretrained features to unit norm on average:
    ImageNet CNNs' pooled features have norms ~100 (SqueezeNet: 146 at 64 px), at which a fresh
    head's SGD steps at lr 0.03 overshoot and diverge (fixmatch/recipes.py)."""

    def __init__(self, encoder: nn.Module, feat_dim: int, k: int):
        super().__init__()
        self.encoder, self.fc = encoder, nn.Linear(feat_dim, k)
        self.register_buffer("feature_scale", torch.ones(()))
        self.frozen_bn = False  # the encoder's BatchNorm keeps its running statistics

    def train(self, mode: bool = True) -> EncoderClassifier:
        """As nn.Module.train; with frozen_bn the encoder's BatchNorm layers stay in eval mode
        (normalise with the pretrained running statistics; their affine weights still train)."""
        super().train(mode)
        if mode and self.frozen_bn:
            for m in self.encoder.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.encoder(x) * self.feature_scale)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kw):
        # models exported before feature_scale existed ran at scale 1
        state_dict.setdefault(prefix + "feature_scale", torch.ones(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kw)


@dataclass
class Init:
    """What a pretrained initialisation fixes for training and for `predict`."""

    spec: str  # as given, e.g. "ssl:runs/ssl", "timm:tf_efficientnet_lite2@w.pth"
    arch: str  # the classifier architecture it implies, e.g. "resnet18_cifar"
    input_size: Optional[int]  # pixels the encoder runs at (images are resized to it)
    mean: tuple[float, float, float]  # input normalisation the encoder expects
    std: tuple[float, float, float]
    family: str = "cnn"  # "cnn" | "vit" | "ssl": picks the fine-tuning recipe (fixmatch/recipes.py)
    resizable: bool = False  # images of another size are resized on the device to input_size

    def to_dict(self) -> dict:
        return {"spec": self.spec, "arch": self.arch, "input_size": self.input_size,
                "mean": list(self.mean), "std": list(self.std), "family": self.family}


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = momentum


def classifier_archs() -> list[str]:
    return list(WRN_ARCHS) + list(CIFAR_ARCHS) + ["torchvision:NAME", "timm:NAME"]


def check_classifier_arch(arch) -> Optional[int]:
    """A clear error for an --arch build_classifier cannot build, before any data is read (a
    typo failed after it); returns the input side the arch needs when it has one (a timm ViT:
    its patch grid is fixed, so images are resized to it), else None."""
    if not isinstance(arch, str):
        raise unknown_choice("--arch", repr(arch), classifier_archs())
    if arch.startswith("timm:"):
        b = resolve_backbone(arch, random_init=True)
        return int(b.preprocessing.input_size) if _fixed_input_size(b) else None
    if arch.startswith("torchvision:") or arch in CIFAR_ARCHS:
        check_arch(arch)
    elif arch not in WRN_ARCHS:
        raise unknown_choice("--arch", arch, classifier_archs())
    return None


def build_classifier(arch: str, k: int, bn_momentum: float = 0.001,
                     input_size: Optional[int] = None) -> nn.Module:
    """A randomly initialised classifier: a WideResNet, or an encoder architecture plus head
    (timm:NAME: the backbone's network from random weights, at input_size for a ViT)."""
    if arch in WRN_ARCHS:
        return build_model(arch, k, bn_momentum=bn_momentum)
    if arch.startswith("timm:"):
        b = resolve_backbone(arch, random_init=True, input_size=input_size)
        encoder, dim = _trainable(load_backbone(b), input_size or b.preprocessing.input_size)
        model = EncoderClassifier(encoder, dim, k)
        set_bn_momentum(model, bn_momentum)
        return model
    if arch in CIFAR_ARCHS or arch.startswith("torchvision:"):
        encoder, dim = build_encoder(arch)
        model = EncoderClassifier(encoder, dim, k)
        set_bn_momentum(model, bn_momentum)
        return model
    raise unknown_choice("--arch", arch, classifier_archs())


def _fixed_input_size(b: BackboneSpec) -> bool:
    """A timm network that runs at its own input size only (its pretrained config says
    fixed_input_size: ViTs, Swin, ...); CNNs and the hybrids named *vit* (repvit, fastvit,
    mobilevit) run at any size."""
    try:
        import timm

        return bool(getattr(timm.models.get_pretrained_cfg(b.model_name), "fixed_input_size",
                            False))
    except Exception:  # no timm here, or a name timm has no config for: by the name
        return _is_vit(b)


def _is_vit(b: BackboneSpec) -> bool:
    return is_plain_vit(b.source, b.model_name)


def resolve_init(spec: str, input_size: Optional[int] = None, check_weights: bool = True) -> Init:
    """Parse an --init spec without loading weights (cheap: for checks before any work).

    Any backbone spec of the features registry (models/backbones.py) but its `:logits` form,
    or ssl:RUN. `input_size`: run the encoder at this side instead of its own (the images are
    resized to it on the device); a ViT's must be a multiple of its patch size.
    `check_weights=False`: a @FILE need not exist (`predict` loads trained weights instead)."""
    if spec.startswith("ssl:"):
        meta, _ = read_backbone_meta(spec.split(":", 1)[1])
        p = meta["preprocessing"]
        if input_size and int(input_size) != int(p["input_size"]):
            raise HumeSSLError(f"--init {spec} was pretrained at {p['input_size']} px; "
                               f"--input-size {input_size} does not apply to it (drop it).")
        return Init(spec, meta["arch"], int(p["input_size"]), tuple(p["mean"]), tuple(p["std"]),
                    "ssl")
    if spec.split("@", 1)[0].endswith(":logits"):
        raise HumeSSLError(f"--init {spec}: use the features spec (without :logits); a "
                           "fresh head for the k classes is added.")
    b = resolve_backbone(spec, random_init=not check_weights and _has_weights(spec))
    size = int(input_size or b.preprocessing.input_size)
    vit = _is_vit(b)  # a plain ViT (backbones.PLAIN_VIT_MODULES), not repvit & co.
    if vit:
        check_patch_multiple(f"--init {spec}", b.model_name, size)
    name = spec.split("@", 1)[0]
    arch = name if name in ALIASES else f"{b.source}:{b.model_name}"
    pre = b.preprocessing
    return Init(spec, arch, size, pre.mean, pre.std, "vit" if vit else "cnn", True)


def _has_weights(spec: str) -> bool:
    """Whether a features spec loads weights (`pixels` has none: nothing to load or skip)."""
    return spec.split(":", 1)[0] != "pixels"


def _backbone_of(init: Init, random_init: bool) -> BackboneSpec:
    return resolve_backbone(init.spec, random_init=random_init and _has_weights(init.spec),
                            input_size=init.input_size)


def _trainable(encoder: nn.Module, size: int) -> tuple[nn.Module, int]:
    """A frozen backbone made trainable, and its feature dimension (one forward at `size`)."""
    encoder.requires_grad_(True)
    with torch.no_grad():
        dim = int(encoder.eval()(torch.zeros(2, 3, size, size)).shape[1])
    return encoder.train(), dim


def init_classifier(spec: str | Init, k: int, bn_momentum: float = 0.001,
                    random_weights: bool = False) -> tuple[nn.Module, Init]:
    """The encoder of `spec` (an --init spec, or one already resolved by `resolve_init`) with
    its pretrained weights (random ones with `random_weights`: the same network from scratch,
    and what `predict` loads a trained model into), trainable, plus a fresh linear head."""
    init = spec if isinstance(spec, Init) else resolve_init(spec)
    spec = init.spec
    if spec.startswith("ssl:"):
        model = ssl_classifier(init.arch, k, bn_momentum)
        if not random_weights:
            _load_ssl_weights(model.encoder, spec)
        return model, init
    encoder, dim = _trainable(load_backbone(_backbone_of(init, random_weights)),
                              init.input_size or 64)
    model = EncoderClassifier(encoder, dim, k)
    set_bn_momentum(model, bn_momentum)
    return model, init


def ssl_classifier(arch: str, k: int, bn_momentum: float = 0.001) -> nn.Module:
    """The classifier `--init ssl:RUN` trains, with random weights: the pretrain run's encoder
    architecture (build_encoder; a WideResNet name too, as an encoder without its own head) plus
    a linear head, trainable. `predict` loads a model trained from ssl:RUN into it."""
    encoder, dim = build_encoder(arch)
    model = EncoderClassifier(encoder.train(), dim, k)
    set_bn_momentum(model, bn_momentum)
    return model


def _load_ssl_weights(encoder: nn.Module, spec: str) -> None:
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
