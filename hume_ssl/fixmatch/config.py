"""`train-fixmatch`'s configuration (FixMatch, Sohn et al. 2020) and its schedules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from hume_ssl.core.device import DEVICE_HELP
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.params import check_bounds, setting, warn_renamed
from hume_ssl.fixmatch.recipes import RECIPES
from hume_ssl.models.backbones import INPUT_SIZE_BOUNDS


def _by_recipe(field: str, skip: tuple[str, ...] = ()) -> str:
    """A default per recipe, as help texts give it: "scratch 0, cnn 0.05, ssl 0, vit 0.025"
    (the learning rate with its optimizer: "vit adamw 0.0005")."""
    return ", ".join(
        f"{name} {r.optimizer + ' ' if field == 'lr' else ''}{getattr(r, field):g}"
        for name, r in RECIPES.items() if name not in skip)


@dataclass
class FixMatchConfig:
    """FixMatch's settings (`hume-ssl train-fixmatch --help` shows them); `resolve()` returns a
    checked copy with the values `init` and `recipe` imply filled in."""

    arch: Optional[str] = setting(None, "wrn28_2 (default without --init) | wrn28_8 | "
                                  "wrn10_1 (small and fast: the demo's) | resnet18_cifar | "
                                  "resnet34_cifar | resnet50_cifar | torchvision:NAME | "
                                  "timm:NAME (random weights); with --init, the init's.")
    init: Optional[str] = setting(None, "Start from a pretrained encoder plus a linear head: "
                                  "any `features` backbone (dinov2_vits14, clip_vit_b16, "
                                  "timm:NAME[.TAG], torchvision:NAME; each @WEIGHTS_FILE for "
                                  "local weights) or ssl:RUN (a `hume-ssl pretrain` folder). "
                                  "Fixes the architecture and the input size.")
    input_size: Optional[int] = setting(
        None, "With --init: side the images are resized to on the device (default: the init's "
        "own, e.g. 260 for tf_efficientnet_lite2); a ViT's must be a multiple of its patch.",
        unit="pixels", bounds=INPUT_SIZE_BOUNDS)  # as `features --input-size`: the init's side
    recipe: str = setting("auto", "Fine-tuning recipe (fixmatch/recipes.py): auto (scratch "
                          "without --init, ssl for ssl:RUN, else cnn or vit by the init's "
                          "family) | scratch | cnn | ssl | vit. Fills --lr, --encoder-lr-scale, "
                          "--warmup, --layer-decay where not given.")
    # with --init: the encoder's lr = lr x this (the head's: lr). cnn / ssl recipes: 0.1,
    # measured best of 1 / 0.3 / 0.1 / 0.03 / 0.01 on an ssl: encoder (docs/fixmatch_evidence.md
    # "From a pretrained encoder"); 1 erased the gain
    encoder_lr_scale: Optional[float] = setting(
        None, "With --init: the encoder's learning rate is --lr times this (the head's: --lr); "
        f"default: the recipe's ({_by_recipe('encoder_lr_scale', skip=('scratch',))}; a ViT's "
        "blocks further scaled by --layer-decay).",
        unit="multiple of --lr", bounds="(0, inf)")
    warmup: Optional[float] = setting(None, "Linear lr warm-up over this fraction of the steps "
                                      f"(default: the recipe's: {_by_recipe('warmup')}).",
                                      unit="fraction of the steps", bounds="[0, 1)")
    layer_decay: Optional[float] = setting(
        None, "ViT block i of L trains at lr x this^(L + 1 - i) (default: the recipe's: "
        f"{_by_recipe('layer_decay')}; 1: none).", bounds="(0, 1]")
    probe: bool = setting(True, "Score on the test split the logistic-regression probe fitted "
                          "on the seeds in the init's frozen features before training (the "
                          "baseline FixMatch must beat); for encoder+head classifiers. "
                          "--no-probe skips it, but for the cnn and vit recipes, whose head "
                          "and feature scale start from the probe: there it is fitted, not "
                          "scored.",
                          flags=("--probe/--no-probe",))
    micro_batches: int = setting(1, "Split each step's batch into this many forwards with "
                                 "accumulated gradients (same loss; BatchNorm sees each part "
                                 "alone): the memory of one part.", unit="parts", bounds="[1, inf)")
    steps: int = setting(2**20, "Training steps K (optimizer updates); paper: 2^20; an upper "
                         "bound under --budget-minutes.", unit="steps", bounds="[1, inf)")
    budget_minutes: Optional[float] = setting(
        None, "Wall-clock budget: the number of steps is fitted to it (the cosine schedule ends "
        "inside it, with its evaluations).", unit="minutes", bounds="(0, inf)")
    batch_size: int = setting(64, "Labeled images per step, global over GPUs.", unit="images",
                              bounds="[1, inf)")
    mu: int = setting(7, "Unlabeled images per labeled image in a step.",
                      unit="unlabeled images per labeled image", bounds="[1, inf)")
    lr: Optional[float] = setting(None, "Learning rate after the warm-up, then lr cos(7 pi k / "
                                  "16 K) at step k; default: the recipe's "
                                  f"({_by_recipe('lr')}).", bounds="(0, inf)")
    momentum: float = setting(0.9, "Nesterov momentum of SGD.", bounds="(0, 1)", flag=None)
    weight_decay: float = setting(5e-4, "L2 coefficient on conv/linear weights (not BN or "
                                  "biases); the paper: 5e-4, 1e-3 for CIFAR-100 with wrn28_8.",
                                  bounds="[0, inf)")
    lambda_u: float = setting(1.0, "Weight of the unlabeled (pseudo-label) loss.",
                              bounds="[0, inf)")
    threshold: float = setting(0.95, "Pseudo-label confidence threshold.",
                               unit="softmax probability", bounds="[0, 1]")
    ema_decay: float = setting(0.999, "EMA decay of the weights (the EMA model is evaluated "
                               "and exported).", unit="per step", bounds="[0, 1)")
    ema_warmup: bool = setting(True, "EMA decay min(ema_decay, (1+k)/(10+k)) at step k (TF's "
                               "num_updates), so a short run is not mostly its random init.",
                               flag=None)
    bn_momentum: float = setting(0.001, "BatchNorm running-statistics momentum (TF decay "
                                 "0.999); raised on short runs (bn_momentum_for).",
                                 unit="per step", bounds="(0, 1]", flag=None)
    translate: float = setting(0.125, "Largest shift per side of the flip-and-shift that "
                               "makes the weak view and starts the strong one.",
                               unit="fraction of the image size", bounds="[0, 1)", flag=None)
    randaugment_ops: int = setting(2, "Strong augmentation: RandAugment ops per image.",
                                   unit="ops", bounds="[0, inf)", flag=None)
    cutout: float = setting(0.5, "Strong augmentation: Cutout square side.",
                            unit="fraction of the image size", bounds="[0, 1]", flag=None)
    eval_every: int = setting(1024, "Steps between test evaluations (EMA model; and at the "
                              "end).", unit="steps", bounds="[1, inf)")
    eval_median_of: int = setting(5, "metrics.json reports the median test ACC of the last N "
                                  "evaluations.", unit="evaluations", bounds="[1, inf)", flag=None)
    log_every: int = setting(64, "Steps between metrics.csv rows (host syncs).", unit="steps",
                             bounds="[1, inf)")
    checkpoint_every: int = setting(2048, "Steps between checkpoints (also on SIGTERM/SIGINT "
                                    "and at the end).", unit="steps", bounds="[1, inf)")
    eval_batch_size: int = setting(1024, "Images per evaluation forward.", unit="images",
                                   bounds="[1, inf)", flag=None)
    device: str = setting("auto", DEVICE_HELP)
    compile: bool = setting(False, "torch.compile the model.", flags=("--compile/--no-compile",))
    bf16: bool = setting(True, "bf16 autocast on CUDA.", flag=None)
    channels_last: bool = setting(True, "NHWC memory format on CUDA.", flag=None)
    sync_bn: bool = setting(True, "SyncBatchNorm under multi-GPU CUDA.", flag=None)
    tensorboard: bool = setting(True, "Write TensorBoard scalars if tensorboard is installed.",
                                flag=None)
    oracle_labels: bool = setting(False, "Use ground truth at the seed indices instead of "
                                  "pseudo-labels (comparison only).",
                                  flags=("--oracle-labels/--pseudo-labels",))
    include_seeds_in_unlabeled: bool = setting(False, "Use the seeds as unlabeled images too "
                                               "(the paper: all train images are).", flag=None)
    random_state: int = setting(0, "Random seed of weights, batches and augmentations (--seeds "
                                "is the seeds folder).", deprecated=("--seed",),
                                bounds="[0, inf)")

    RESUME_KEYS = (
        "arch",
        "init",
        "input_size",
        "recipe",
        "encoder_lr_scale",
        "warmup",
        "layer_decay",
        "steps",
        "budget_minutes",
        "batch_size",
        "mu",
        "lr",
        "momentum",
        "weight_decay",
        "lambda_u",
        "threshold",
        "ema_decay",
        "ema_warmup",
        "bn_momentum",
        "translate",
        "randaugment_ops",
        "cutout",
        "oracle_labels",
        "include_seeds_in_unlabeled",
        "random_state",
    )

    def resolve(self, init=None) -> FixMatchConfig:
        """A checked copy with the derived values filled in: `arch` from `init` (an --arch that
        disagrees is an error), else wrn28_2; the recipe's name and the values it fills (lr,
        encoder_lr_scale, warmup, layer_decay: fixmatch/recipes.py). What a run writes to
        config.json. `init`: the --init spec already resolved
        (hume_ssl.models.classifier.resolve_init), if the caller has it."""
        from hume_ssl.fixmatch.recipes import RECIPES, resolve_recipe

        check_bounds(self)  # before: input_size=0 or 64.7 went on to the init as its own / 64
        arch = self.arch
        if self.init is not None:
            from hume_ssl.models.classifier import resolve_init

            init = init or resolve_init(self.init, self.input_size)
            if arch is not None and arch != init.arch:
                raise HumeSSLError(
                    f"--arch {arch} disagrees with --init {self.init}, whose encoder is "
                    f"{init.arch}; drop --arch (the init fixes the architecture)."
                )
            arch = init.arch
            size = init.input_size if init.resizable else None
        else:
            from hume_ssl.models.classifier import check_classifier_arch

            init, size = None, self.input_size
            if size is not None and not str(arch).startswith(("timm:", "torchvision:")):
                raise HumeSSLError("--input-size applies with --init, or an --arch timm:NAME / "
                                   "torchvision:NAME; drop it.")
            arch = arch or "wrn28_2"  # the default without --init
            fixed = check_classifier_arch(arch)  # a timm ViT's own side
            size = size or fixed  # (before: None, the ViT built at 224 and fed 8 px images)
        filled = resolve_recipe(self, init)
        decay = filled.get("layer_decay", self.layer_decay)
        if init is not None and init.family != "vit" and decay not in (None, 1.0):
            # (before: ignored on ResNets, and a WRN's `blocks` taken for a ViT's, its stem at
            # the top lr; the record said it applied)
            raise HumeSSLError(f"--layer-decay {decay:g} applies to a ViT encoder's blocks; "
                               f"--init {self.init} is a {init.family} encoder: drop "
                               "--layer-decay" + (f" and --recipe {self.recipe}"
                                                  if "layer_decay" in filled else "") + ".")
        resolved = dataclasses.replace(self, arch=arch, input_size=size,
                                       **filled).validate()
        scratch = RECIPES["scratch"]  # what a resolved run without --init holds
        scaled = [flag for flag, v, own in (
            ("--encoder-lr-scale", self.encoder_lr_scale, scratch.encoder_lr_scale),
            ("--layer-decay", self.layer_decay, scratch.layer_decay)) if v not in (None, own)]
        if init is None and scaled:
            raise HumeSSLError(f"{' and '.join(scaled)} appl{'y' if len(scaled) > 1 else 'ies'} "
                               "to a pretrained encoder (--init); without one every layer "
                               f"trains at --lr: drop {'them' if len(scaled) > 1 else 'it'}.")
        return resolved

    def resolved(self) -> bool:
        """Whether `resolve` has filled in the derived values."""
        from hume_ssl.fixmatch.recipes import FILLED

        return (self.arch is not None and self.recipe != "auto"
                and all(getattr(self, f) is not None for f in FILLED))

    def validate(self) -> FixMatchConfig:
        """Check the options; changes nothing (`resolve` fills in the derived values)."""
        if not self.resolved():  # the old validate() resolved in place: kept for one release
            warn_renamed("validate() to resolve arch, recipe, lr, encoder_lr_scale, warmup and "
                         "layer_decay in place", "resolve()")
            from hume_ssl.fixmatch.recipes import FILLED

            r = self.resolve()
            for f in ("arch", "recipe", *FILLED):
                setattr(self, f, getattr(r, f))
        return check_bounds(self)  # each setting's declared range, whole numbers, bools

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def lr_at(cfg: FixMatchConfig, step: int, total_steps: Optional[int] = None,
          start: int = 0) -> float:
    """FixMatch's cosine lr cos(7 pi k / 16 K), K the run's steps (fitted under a budget), k
    and K counted from `start`, the step the budget was fitted at (train.budget), after the
    recipe's linear warm-up (fixmatch/recipes.py lr_factor)."""
    from hume_ssl.fixmatch.recipes import lr_factor

    return cfg.lr * lr_factor(cfg, step, total_steps or cfg.steps, start)


def bn_momentum_for(cfg: FixMatchConfig, total_steps: Optional[int] = None) -> float:
    """BN momentum actually used: cfg.bn_momentum, raised to 10/steps for short runs.

    With the paper's 0.001 the running statistics forget their initial (0, 1) values only after
    thousands of steps; a 300-step run would evaluate with near-initial statistics (constant
    predictions). 10/steps leaves e^-10 of the initial values at the end of any run, and is
    below 0.001 (so changes nothing) from 10,000 steps on.
    """
    return max(cfg.bn_momentum, min(1.0, 10.0 / (total_steps or cfg.steps)))


def __getattr__(name: str):
    if name == "UNITS":  # a second dict beside the fields' units until 0.2; for one release
        from hume_ssl.core.params import units_of

        warn_renamed(f"{__name__}.UNITS", "hume_ssl.core.params.units_of(FixMatchConfig)")
        return units_of(FixMatchConfig)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
