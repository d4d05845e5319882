"""Fine-tuning recipes per backbone family: the optimizer, its learning rates and the warm-up.

    scratch  no --init: the FixMatch paper (SGD + Nesterov, lr 0.03, no warm-up)
    cnn      an ImageNet CNN (--init torchvision:, timm: CNNs): SGD at lr 0.03, the
             encoder at lr x encoder_lr_scale (0.1: docs/fixmatch_evidence.md "From a pretrained
             encoder"), a linear warm-up over the first 5% of the steps, the global gradient
             norm clipped at 1 (the SqueezeNet init's loss_x went 4.6 -> 177 in 5 steps without
             it; a warm-up cannot help a 10-step run), the encoder's BatchNorm frozen at its
             pretrained statistics (batches of 8 + 32 resized CIFAR images are not ImageNet:
             in training mode the EfficientNet-Lite2 run fell from its probe's 0.328 to 0.178)
             and the head started from the linear probe on the seeds (LP-FT, Kumar et al. 2022);
             the features scaled to unit mean norm (theirs are ~100: SqueezeNet 146 at 64 px)
    ssl      an encoder `hume-ssl pretrain` learned on the user's own images (--init ssl:): SGD
             at lr 0.03, the encoder at lr x 0.1, no warm-up, a fresh head, BatchNorm in
             training mode, no clipping, the features as the encoder gives them. Its features
             already have the scale of a fresh network's (norm ~ sqrt(d): 23.2 for a 512-d
             resnet18_cifar) and its BatchNorm statistics come from the same images, so the cnn
             recipe's guards for ImageNet CNNs only slowed it: on recipes/fixmatch_encoder_lr.py's
             setup (120 steps, random init 0.189) 0.242 with the cnn recipe, 0.298 with this one,
             and a margin of only 0.022 with this one under the unit feature scale (docs/
             fixmatch_evidence.md "From a pretrained encoder"; CLAIMS F9-F11)
    vit      a pretrained ViT (dinov2_*, clip_*, timm ViTs): USB's fine-tuning setting (Wang et
             al. 2022, usb_cv configs): AdamW at lr 5e-4, weight decay 5e-4, layer-wise lr decay
             0.5 (block i of L at lr x 0.5^(L + 1 - i)), warm-up over the first 2.5% of the
             steps (5,120 of 204,800), head from the probe, features scaled to unit mean norm

`resolve_recipe(cfg, init)` fills the config fields left None (lr, encoder_lr_scale, warmup,
layer_decay) from the recipe; `build_optimizer(model, cfg)` builds it from the resolved config.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import asdict, dataclass
from typing import Optional

import torch
from torch import nn

from hume_ssl.core.errors import HumeSSLError, unknown_choice
from hume_ssl.models.classifier import EncoderClassifier
from hume_ssl.train.budget import schedule_fraction


@dataclass(frozen=True)
class Recipe:
    optimizer: str  # "sgd" (Nesterov) | "adamw"
    lr: float  # at the end of the warm-up (head; the encoder: x encoder_lr_scale)
    encoder_lr_scale: float  # multiplier of lr for the pretrained encoder
    warmup: float  # fraction of the run's steps with a linear lr warm-up
    layer_decay: float  # ViT block i of L: lr x layer_decay^(L + 1 - i); 1: none
    head: str  # "random" | "probe": the head starts from the linear probe's weights
    clip_grad: float  # largest global gradient norm per step (0: no clipping)
    frozen_bn: bool  # the encoder's BatchNorm normalises with its pretrained statistics
    unit_features: bool  # the features are scaled to unit mean norm (ImageNet CNNs: ~100)

    def to_dict(self) -> dict:
        return asdict(self)


CNN_CLIP = 1.0  # both 1 and 5 kept the SqueezeNet run finite (docs/fixmatch_evidence.md); 1: safer
RECIPES = {
    "scratch": Recipe("sgd", 0.03, 1.0, 0.0, 1.0, "random", 0.0, False, False),
    "cnn": Recipe("sgd", 0.03, 0.1, 0.05, 1.0, "probe", CNN_CLIP, True, True),
    "ssl": Recipe("sgd", 0.03, 0.1, 0.0, 1.0, "random", 0.0, False, False),
    "vit": Recipe("adamw", 5e-4, 1.0, 0.025, 0.5, "probe", 0.0, False, True),
}
FILLED = ("lr", "encoder_lr_scale", "warmup", "layer_decay")  # None in a config: the recipe's


def recipe_name(cfg, init) -> str:
    """The recipe a config asks for: its `recipe`, or by the init's family ("auto")."""
    if cfg.recipe == "auto":
        return "scratch" if init is None else init.family
    if cfg.recipe not in RECIPES:
        raise unknown_choice("--recipe", cfg.recipe, ["auto", *RECIPES])
    if cfg.recipe != "scratch" and init is None:
        raise HumeSSLError(f"--recipe {cfg.recipe} fine-tunes a pretrained encoder; give --init, "
                           "or use --recipe scratch (the default without --init).")
    if cfg.recipe == "ssl" and init is not None and init.family != "ssl":
        # the one pairing seen to diverge (an ImageNet CNN at once); `--recipe cnn` with an
        # ssl: init is how older runs resume, and stays quiet
        warnings.warn(f"--recipe ssl with --init {cfg.init}, a {init.family} encoder: the ssl "
                      "recipe (no gradient clipping, BatchNorm in training mode, a fresh head) "
                      "diverged at once on an ImageNet CNN; this init's own is --recipe "
                      f"{init.family} (what auto picks).", stacklevel=4)
    return cfg.recipe


def resolve_recipe(cfg, init) -> dict:
    """The values of FILLED that `cfg` leaves None, from its recipe, plus the recipe's name."""
    name = recipe_name(cfg, init)
    r = RECIPES[name]
    filled = {f: getattr(r, f) for f in FILLED if getattr(cfg, f) is None}
    return {"recipe": name, **filled}


def warmup_steps(cfg, total_steps: int) -> int:
    return int(math.ceil((cfg.warmup or 0.0) * total_steps))


def warmup_factor(cfg, step: int, total_steps: int) -> float:
    """The linear warm-up: (step + 1) / warmup_steps, at most 1 (1 without a warm-up)."""
    w = warmup_steps(cfg, total_steps)
    return min(1.0, (step + 1) / w) if w else 1.0


def lr_factor(cfg, step: int, total_steps: int, start: int = 0) -> float:
    """Linear warm-up to 1 over warmup_steps, times FixMatch's cos(7 pi k / 16 K), both with k
    and K counted from `start` (train/budget.py schedule_fraction: the step a budget was
    fitted at; the timed steps before it ran at the first step of a warm-up over the --steps
    bound, no more than this one's first, so the lr only rises). Before: the warm-up counted
    from step 0 over the fitted length, and a budget that fitted 500 steps skipped it."""
    cos = math.cos(7.0 * math.pi * schedule_fraction(step, total_steps, start) / 16.0)
    return warmup_factor(cfg, max(0, step - start), max(total_steps - start, 1)) * cos


def _vit_layer(name: str, depth: int) -> int:
    """0 for the embeddings, i + 1 for block i, depth + 1 for the final norm (timm names)."""
    m = re.match(r"blocks\.(\d+)\.", name)
    if m:
        return int(m.group(1)) + 1
    if name.startswith(("cls_token", "pos_embed", "reg_token", "patch_embed", "mask_token",
                        "dist_token", "norm_pre")):  # (norm_pre: CLIP's ln_pre)
        return 0
    return depth + 1


def no_weight_decay(model: nn.Module) -> set[str]:
    """Names (as param_groups lists them) a timm encoder asks to keep from weight decay: a
    ViT's position embedding and class token (its `no_weight_decay()`, as USB and timm's own
    optimizer factory read it)."""
    encoder = getattr(model, "encoder", None)
    ask = getattr(encoder, "no_weight_decay", None)
    return set(ask()) if callable(ask) else set()


def param_groups(model: nn.Module, weight_decay: float, encoder_lr_scale: float = 1.0,
                 layer_decay: float = 1.0) -> list[dict]:
    """Weight decay on conv/linear weights only (not norms or biases); a pretrained encoder's
    groups carry `lr_scale` (its lr = the schedule's lr x lr_scale), per ViT block with
    layer_decay < 1."""
    if not isinstance(model, EncoderClassifier):
        parts = [(n, p, 1.0) for n, p in model.named_parameters()]
    else:
        depth = len(getattr(model.encoder, "blocks", ()))
        if layer_decay != 1.0 and not depth:  # (before: none applied, config.json said 0.5)
            raise HumeSSLError(f"--layer-decay {layer_decay:g}: this encoder has no `blocks` "
                               "(ViT layers) to decay layer by layer; pass --layer-decay 1.")
        parts = []
        for n, p in model.encoder.named_parameters():
            scale = encoder_lr_scale
            if layer_decay != 1.0:
                scale *= layer_decay ** (depth + 1 - _vit_layer(n, depth))
            parts.append((n, p, scale))
        parts += [(f"fc.{n}", p, 1.0) for n, p in model.fc.named_parameters()]
    no_decay = no_weight_decay(model)
    groups: dict[tuple[float, bool], dict] = {}
    for n, p, scale in parts:
        decay = p.ndim > 1 and n not in no_decay
        g = groups.setdefault((scale, decay), {"params": [], "lr_scale": scale,
                                               "weight_decay": weight_decay if decay else 0.0})
        g["params"].append(p)
    return list(groups.values())


def build_optimizer(model: nn.Module, cfg, recipe: Optional[str] = None) -> torch.optim.Optimizer:
    """The recipe's optimizer over param_groups, from a resolved config."""
    name = recipe or cfg.recipe
    opt = RECIPES.get(name, RECIPES["scratch"]).optimizer
    scale = cfg.encoder_lr_scale if cfg.init else 1.0  # a random encoder trains at the full lr
    groups = param_groups(model, cfg.weight_decay, scale, cfg.layer_decay if cfg.init else 1.0)
    if opt == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)


def clip_gradients(model: nn.Module, cfg) -> None:
    """The recipe's gradient-norm clipping (no-op at 0), between backward and the step."""
    clip = RECIPES.get(cfg.recipe, RECIPES["scratch"]).clip_grad
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
