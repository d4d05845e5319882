"""`pretrain`'s configuration: one typed dataclass, each field with its help and unit.

Defaults (mocov2) follow MoCo's CIFAR-10 demo (facebookresearch/moco,
colab/moco_cifar10_demo.ipynb): ResNet-18 with a 32 px stem, batch 512, lr 0.06, weight decay
5e-4, cosine schedule, queue 4096, momentum 0.99, temperature 0.1, 8 BatchNorm splits, 200
epochs; lr and queue scale with the batch size. The MLP head is MoCo v2's; the symmetric
loss is an option of the demo (off there: `--asymmetric --head linear` is the demo's loss and
head; its crops span 0.08-1 of the area, ours MoCo v2's 0.2-1: ViewConfig.crop_scale).
lr, temperature and head left at None take the method's defaults
(hume_ssl.pretrain.methods.DEFAULTS).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from hume_ssl.augment.views import ViewConfig
from hume_ssl.core.device import DEVICE_HELP
from hume_ssl.core.errors import HumeSSLError, raise_first_failed
from hume_ssl.core.params import check_bounds, default_of, flag_of, setting, warn_renamed
from hume_ssl.models.encoders import check_arch
from hume_ssl.pretrain.methods import DEFAULTS, METHODS
from hume_ssl.pretrain.methods.common import HEADS

KNN_NEIGHBORS = 200  # the kNN monitor's neighbours
QUEUE_BATCHES = 8  # mocov2's default queue: this many batches of keys


def _by_method(key: str) -> str:
    """A default per method, as help texts give it: "mocov2 0.06, simclr 0.24"."""
    return ", ".join(f"{m} {d[key]}" for m, d in DEFAULTS.items())

# mocov2's own settings: set away from their defaults under simclr, refused
MOCO_ONLY = ("bn_splits", "symmetric", "queue_size", "moco_momentum")


@dataclass
class PretrainConfig:
    """Self-supervised pretraining settings (`hume-ssl pretrain --help` shows them); `resolve()`
    returns a checked copy with the method's automatic values filled in."""

    method: str = setting("mocov2", "Self-supervised method: mocov2 (momentum queue) or simclr "
                          "(in-batch).")
    arch: str = setting("resnet18_cifar", "resnet18_cifar | resnet34_cifar | resnet50_cifar (3x3 "
                        "stem, for 32-64 px), wrn28_2 | wrn28_8 (FixMatch's WideResNet, for a "
                        "train-fixmatch --init; wrn10_1, small and fast: the demo's) or "
                        "torchvision:NAME (e.g. torchvision:resnet50 for larger images).")
    epochs: int = setting(200, "Passes over the split.", unit="epochs", bounds="[1, inf)")
    budget_minutes: Optional[float] = setting(None, "Wall-clock budget: the number of epochs is "
                                              "fitted to it.", unit="minutes",
                                              bounds="(0, inf)")
    batch_size: int = setting(512, "Images per step (two views each); mocov2: a multiple of "
                              "--bn-splits.", unit="images",
                              bounds="[2, inf)")
    lr: Optional[float] = setting(None, "SGD learning rate at step 0, cosine decay to 0 "
                                  "[default: the method's at batch 512 ("
                                  f"{_by_method('lr_at_512')}), scaled linearly with the batch].",
                                  bounds="(0, inf)")
    momentum: float = setting(0.9, "SGD momentum.", bounds="[0, 1)", flag=None)
    weight_decay: float = setting(5e-4, "L2 coefficient on all parameters (as MoCo's demo).",
                                  bounds="[0, inf)", flag=None)
    dim: int = setting(128, "Projection (embedding) dimension.", unit="features",
                       bounds="[1, inf)", flag=None)
    head: Optional[str] = setting(None, "Projection head: mlp, mlp_bn (simclr only) or linear "
                                  f"[default: {_by_method('head')}].")
    queue_size: Optional[int] = setting(
        None, f"mocov2: negative keys kept [default: {QUEUE_BATCHES} x the batch: the last "
        f"{QUEUE_BATCHES} batches of keys].", unit="keys", flag=None)
    moco_momentum: float = setting(0.99, "mocov2: key-encoder EMA momentum.", unit="per step",
                                   bounds="[0, 1)", flag=None)
    temperature: Optional[float] = setting(None, "Contrastive temperature (logits are cosines "
                                           f"/ T) [default: {_by_method('temperature')}].",
                                           bounds="(0, inf)")
    bn_splits: int = setting(8, "mocov2: BatchNorm groups of the whole batch (the single-GPU "
                             "stand-in for shuffle BN; under torchrun each of N processes "
                             "normalises bn_splits / N of them: a multiple of N).",
                             unit="groups", bounds="[1, inf)")
    symmetric: bool = setting(True, "mocov2: contrast both view orders per step (the demo's "
                              "symmetric loss) or one.", flags=("--symmetric/--asymmetric",))
    view: ViewConfig = setting(factory=ViewConfig, help="Augmentation recipe of the two views "
                               "(hume_ssl.augment.views.ViewConfig).", flag=None)
    knn_neighbors: int = setting(KNN_NEIGHBORS, "Neighbours of the kNN monitor (cosine, weighted).",
                                 unit="neighbours", bounds="[1, inf)", flag=None)
    knn_temperature: float = setting(0.1, "kNN monitor: each vote weighs exp(sim / T).",
                                     bounds="(0, inf)", flag=None)
    knn_every: int = setting(10, f"Epochs between kNN-{KNN_NEIGHBORS} evaluations on the test "
                             "split (and at the start and the end).", unit="epochs",
                             bounds="[1, inf)")
    log_every: int = setting(50, "Steps between metrics.csv rows (host syncs).", unit="steps",
                             bounds="[1, inf)")
    checkpoint_every: int = setting(1000, "Steps between checkpoints (also on SIGTERM/SIGINT, "
                                    "at the end).", unit="steps", bounds="[1, inf)")
    eval_batch_size: int = setting(1024, "Images per feature forward.", unit="images",
                                   bounds="[1, inf)", flag=None)
    device: str = setting("auto", DEVICE_HELP)
    bf16: bool = setting(True, "bf16 autocast on CUDA.", flag=None)
    channels_last: bool = setting(True, "NHWC memory format on CUDA.", flag=None)
    compile: bool = setting(False, "torch.compile the encoder.",
                            flags=("--compile/--no-compile",))
    random_state: int = setting(0, "Random seed (weights, batches, augmentations).",
                                deprecated=("--seed",), bounds="[0, inf)")

    # epochs and budget_minutes fix the schedule's length: a resume with others is refused
    RESUME_KEYS = ("method", "arch", "epochs", "budget_minutes", "batch_size", "lr", "momentum",
                   "weight_decay", "dim", "head", "queue_size", "moco_momentum", "temperature",
                   "bn_splits", "symmetric", "random_state", "view")

    def resolve(self) -> PretrainConfig:
        """A checked copy with the automatic values (lr, temperature, head, queue_size) filled in
        from the method's DEFAULTS. What a run writes to config.json."""
        raise_first_failed([(self.method in METHODS,
                             f"unknown --method {self.method!r}; available: "
                             f"{', '.join(METHODS)}")])
        check_bounds(self)  # batch_size=None would fail below, not say what to pass
        defaults = DEFAULTS[self.method]
        queue = self.queue_size
        if queue is None and self.method == "mocov2":
            # the demo's 4096 at batch 512: the queue holds the last 4 steps' keys. A queue that
            # spans many more steps holds stale keys the encoder can learn to tell from current
            # ones (docs/features_pretrain_evidence.md, "The queue's length at small batches":
            # at batch 128, 4096 keys halved the positive-key accuracy late in a CPU run).
            queue = QUEUE_BATCHES * self.batch_size
        return dataclasses.replace(
            self,
            lr=defaults["lr_at_512"] * self.batch_size / 512 if self.lr is None else self.lr,
            temperature=defaults["temperature"] if self.temperature is None else self.temperature,
            head=defaults["head"] if self.head is None else self.head,
            queue_size=queue,
        ).validate()

    def validate(self) -> PretrainConfig:
        """Check the options; changes nothing (`resolve` fills in the automatic ones)."""
        raise_first_failed([(self.method in METHODS,
                             f"unknown --method {self.method!r}; available: "
                             f"{', '.join(METHODS)}")])
        moco = self.method == "mocov2"
        if None in (self.lr, self.temperature, self.head) or (moco and self.queue_size is None):
            # the old validate() resolved in place: kept for one release
            warn_renamed("validate() to resolve lr, temperature, head and queue_size",
                         "resolve()")
            r = self.resolve()
            self.lr, self.temperature, self.head = r.lr, r.temperature, r.head
            self.queue_size = r.queue_size
        default = {f.name: default_of(f) for f in dataclasses.fields(self)}
        fields = {f.name: f for f in dataclasses.fields(self)}
        moco_only = [_changed_name(fields[name]) for name in MOCO_ONLY
                     if getattr(self, name) != default[name]]  # simclr reads none of them
        check_bounds(self)  # each option's declared range, whole numbers
        if not isinstance(self.view, ViewConfig):  # (a dict failed inside the views)
            raise HumeSSLError(f"view={self.view!r}: give a hume_ssl.augment.views.ViewConfig "
                               "(ViewConfig(**d) for a dict d).")
        self.view.validate()
        check_arch(self.arch)  # before the data is read (a typo failed after it)
        checks = [
            (moco or not moco_only, f"{', '.join(moco_only)}: mocov2's, not {self.method}'s "
             "(it normalises the whole batch, contrasts both views and keeps no queue); drop "
             "them or use --method mocov2"),
            (not moco or self.batch_size % self.bn_splits == 0,
             f"--batch-size {self.batch_size} must be divisible by --bn-splits {self.bn_splits}"),
            (self.head in HEADS, f"unknown --head {self.head!r}; choose {', '.join(HEADS)}"),
            # its BatchNorm1d normalises a pass's whole batch (per rank under torchrun): the
            # batch-statistics leak the encoder's split, shuffled BatchNorm exists to prevent
            (not moco or self.head != "mlp_bn",
             "--head mlp_bn is simclr's: under mocov2 its BatchNorm would normalise all of a "
             "step's queries and keys with their own batch's statistics, which tell this "
             "step's keys from the queue's (the leak the encoder's split, shuffled BatchNorm "
             "prevents); use --head mlp (MoCo v2's) or linear (MoCo's CIFAR-10 demo)"),
            (not moco or self.queue_size >= 2 * self.batch_size,
             f"queue_size {self.queue_size} must be >= 2 x --batch-size ({self.batch_size})"),
        ]
        raise_first_failed(checks)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _changed_name(f: dataclasses.Field) -> str:
    """How a message names a setting changed from its default: its option (a switch, on by
    default, by its off side: --asymmetric), or its Python name (flag_of)."""
    flags = f.metadata["cli"].get("flags")
    return flags[0].split("/")[-1] if flags else flag_of(f)


def __getattr__(name: str):
    if name == "UNITS":  # a second dict beside the fields' units until 0.2; for one release
        from hume_ssl.core.params import units_of

        warn_renamed(f"{__name__}.UNITS", "hume_ssl.core.params.units_of(PretrainConfig)")
        return units_of(PretrainConfig)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
