"""FixMatch (Sohn et al., 2020): config, loss and a fast, resumable, multi-GPU training loop.

One step: B labeled images (weak aug) + mu*B unlabeled images (weak and strong aug), one forward
of the concatenated batch. Pseudo-labels are the argmax of the weak view where its softmax
confidence >= threshold; the strong view is trained towards them. The whole uint8 train split
lives on the device, sampling and augmentation are tensor ops driven by one device generator,
and nothing in a step reads back to the host (metrics accumulate on the device and are read
every `log_every` steps).

Multi-GPU: launch with torchrun; `batch_size` is the global labeled batch, split evenly over
processes. On CUDA BatchNorm is synchronised (SyncBatchNorm); on CPU (gloo) BN statistics are
per process, which matches a single process only when each process sees the same batch mix.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from hume_ssl.checkpoint import (
    CHECKPOINT,
    append_metrics,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    truncate_metrics,
)
from hume_ssl.device import resolve_device as _resolve_device
from hume_ssl.errors import HumeSSLError, raise_first_failed
from hume_ssl.gpu_augment import normalize, strong_augment, to_float, weak_augment
from hume_ssl.metrics import hungarian_map
from hume_ssl.wrn import build_model


@dataclass
class FixMatchConfig:
    arch: str = "wrn28_2"  # wrn28_2 (CIFAR-10/SVHN in the paper) or wrn28_8 (CIFAR-100)
    steps: int = 2**20  # optimizer steps K (the paper: 2^20)
    batch_size: int = 64  # labeled images per step, global (split over processes)
    mu: int = 7  # unlabeled images per labeled image in a step
    lr: float = 0.03  # SGD learning rate at step 0; lr * cos(7*pi*k / (16*K)) at step k
    momentum: float = 0.9  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 on conv/linear weights (not on BN parameters or biases)
    lambda_u: float = 1.0  # weight of the unlabeled loss
    threshold: float = 0.95  # softmax confidence above which a pseudo-label is used
    ema_decay: float = 0.999  # EMA of the weights, per step; the EMA model is evaluated/exported
    ema_warmup: bool = True  # decay min(ema_decay, (1+k)/(10+k)) at step k (TF's num_updates)
    bn_momentum: float = 0.001  # BN running-stat momentum (TF decay 0.999); see bn_momentum_for
    translate: float = 0.125  # weak aug: max shift per side, fraction of the image size
    randaugment_ops: int = 2  # strong aug: RandAugment ops per image
    cutout: float = 0.5  # strong aug: Cutout side, fraction of the image size
    eval_every: int = 1024  # steps between test evaluations (and at the end)
    eval_median_of: int = 5  # report the median test ACC of the last N evaluations
    log_every: int = 64  # steps between metrics.csv rows / progress updates (host syncs)
    checkpoint_every: int = (
        2048  # steps between checkpoints (also on SIGTERM/SIGINT and at the end)
    )
    eval_batch_size: int = 1024  # images per evaluation forward
    device: str = "auto"  # auto, cpu, cuda, cuda:1 ... (torchrun: cuda:LOCAL_RANK)
    compile: bool = False  # torch.compile the model
    bf16: bool = True  # bf16 autocast on CUDA
    channels_last: bool = True  # NHWC memory format on CUDA
    sync_bn: bool = True  # SyncBatchNorm under multi-GPU CUDA
    tensorboard: bool = True  # write TensorBoard scalars if tensorboard is installed
    oracle_labels: bool = False  # ground truth at the seed indices instead of pseudo-labels
    include_seeds_in_unlabeled: bool = False  # paper: all train images are unlabeled data
    seed: int = 0

    RESUME_KEYS = (
        "arch",
        "steps",
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
        "seed",
    )

    def validate(self) -> FixMatchConfig:
        checks = [
            (self.steps >= 1, "--steps must be >= 1"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.mu >= 1, "--mu must be >= 1"),
            (self.lr > 0, "--lr must be > 0"),
            (0.0 <= self.threshold <= 1.0, "--threshold must lie in [0, 1]"),
            (0.0 <= self.ema_decay < 1.0, "ema_decay must lie in [0, 1)"),
            (0.0 < self.bn_momentum <= 1.0, "--bn-momentum must lie in (0, 1]"),
            (
                self.eval_every >= 1 and self.log_every >= 1 and self.checkpoint_every >= 1,
                "--eval-every, log_every and --checkpoint-every must be >= 1",
            ),
        ]
        raise_first_failed(checks)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of (N,H,W,3) uint8 images in [0, 1] units, in chunks."""
    s1, s2, n = np.zeros(3), np.zeros(3), 0
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].reshape(-1, 3).astype(np.float64) / 255.0
        s1, s2, n = s1 + x.sum(0), s2 + (x * x).sum(0), n + len(x)
    mean = s1 / n
    return mean, np.sqrt(np.maximum(s2 / n - mean * mean, 1e-12))


def lr_at(cfg: FixMatchConfig, step: int) -> float:
    return cfg.lr * math.cos(7.0 * math.pi * step / (16.0 * cfg.steps))


def bn_momentum_for(cfg: FixMatchConfig) -> float:
    """BN momentum actually used: cfg.bn_momentum, raised to 10/steps for short runs.

    With the paper's 0.001 the running statistics forget their initial (0, 1) values only after
    thousands of steps; a 300-step run would evaluate with near-initial statistics (constant
    predictions). 10/steps leaves e^-10 of the initial values at the end of any run, and is
    below 0.001 (so changes nothing) from 10,000 steps on.
    """
    return max(cfg.bn_momentum, min(1.0, 10.0 / cfg.steps))


def fixmatch_loss(
    logits_x: torch.Tensor,
    y: torch.Tensor,
    logits_uw: torch.Tensor,
    logits_us: torch.Tensor,
    threshold: float,
    lambda_u: float,
) -> dict[str, torch.Tensor]:
    """FixMatch loss on logits of labeled (B,k), weak (uB,k) and strong (uB,k) views.

    Returns loss, loss_x, loss_u, mask (uB,) float, pseudo (uB,) long. The unlabeled loss is
    averaged over all unlabeled images (masked ones count as zero), as in the paper.
    """
    loss_x = F.cross_entropy(logits_x.float(), y)
    probs = torch.softmax(logits_uw.detach().float(), dim=-1)
    conf, pseudo = probs.max(dim=-1)
    mask = (conf >= threshold).float()
    loss_u = (F.cross_entropy(logits_us.float(), pseudo, reduction="none") * mask).mean()
    return {
        "loss": loss_x + lambda_u * loss_u,
        "loss_x": loss_x,
        "loss_u": loss_u,
        "mask": mask,
        "pseudo": pseudo,
    }


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]  # BN weights/biases, biases
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


class EMA:
    """Exponential moving average of a model's parameters; buffers (BN stats) are copied.

    warmup: the decay at update k (0-based) is min(decay, (1+k)/(10+k)), as TensorFlow's
    ExponentialMovingAverage with num_updates, so that a short run does not evaluate a model
    that is still mostly its random initialisation (0.999^1000 = 0.37 of it after 1000 steps).
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


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{local_rank}")
        warnings.warn(
            "no GPU found: FixMatch runs on the CPU, which is orders of magnitude slower; "
            "use --steps for a short run.",
            stacklevel=2,
        )
        return torch.device("cpu")
    return _resolve_device(name)


def _acc_from_confusion(conf: np.ndarray, aligned: bool) -> float:
    """Accuracy from a (k pred, C true) count matrix; Hungarian-mapped unless ids are aligned."""
    total = conf.sum()
    if total == 0:
        return float("nan")
    if aligned:
        n = min(conf.shape)
        return float(np.trace(conf[:n, :n]) / total)
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(-conf)
    return float(conf[r, c].sum() / total)


MetricsCallback = Callable[[str, dict], None]
CSV_FIELDS = [
    "step",
    "lr",
    "loss_x",
    "loss_u",
    "mask_rate",
    "pl_acc_masked",
    "pl_acc_all",
    "test_acc",
    "steps_per_s",
    "elapsed_s",
]


class FixMatchTrainer:
    """Trains on `images` (N,H,W,3) uint8 from labeled indices/labels plus unlabeled indices.

    truth (N,) and test truth are used for metrics only. `aligned`: the label ids are the
    ground-truth class ids (oracle labels), so accuracies need no Hungarian map.
    """

    def __init__(
        self,
        cfg: FixMatchConfig,
        images: np.ndarray,
        labeled_idx: np.ndarray,
        labeled_y: np.ndarray,
        unlabeled_idx: np.ndarray,
        k: int,
        out: str | Path,
        truth: Optional[np.ndarray] = None,
        test_images: Optional[np.ndarray] = None,
        test_truth: Optional[np.ndarray] = None,
        aligned: bool = False,
        mean: Optional[np.ndarray] = None,
        std: Optional[np.ndarray] = None,
        callback: Optional[MetricsCallback] = None,
    ):
        self.cfg, self.k, self.out, self.aligned = cfg.validate(), k, Path(out), aligned
        self.callback = callback or (lambda event, info: None)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
            dist.init_process_group(backend)
        self.device = resolve_device(cfg.device, local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if cfg.batch_size % self.world:
            raise HumeSSLError(
                f"--batch-size {cfg.batch_size} is not divisible by {self.world} processes."
            )
        self.bl = cfg.batch_size // self.world  # labeled images per process and step
        self.bu = self.bl * cfg.mu
        dev = self.device
        # the whole split on the device as uint8, channels first: (N, 3, H, W)
        self.data = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(dev)
        self.lab_idx = torch.as_tensor(labeled_idx, dtype=torch.long, device=dev)
        self.lab_y = torch.as_tensor(labeled_y, dtype=torch.long, device=dev)
        self.unl_idx = torch.as_tensor(unlabeled_idx, dtype=torch.long, device=dev)
        self.truth = None if truth is None else torch.as_tensor(truth, dtype=torch.long, device=dev)
        self.n_true = int(truth.max()) + 1 if truth is not None else 0
        self.test_images, self.test_truth = test_images, test_truth
        if mean is None or std is None:
            mean, std = channel_stats(images)
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=dev)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=dev)

        torch.manual_seed(cfg.seed)  # same initial weights on every process
        model = build_model(cfg.arch, k, bn_momentum=bn_momentum_for(cfg)).to(dev)
        self.channels_last = cfg.channels_last and dev.type == "cuda"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.world > 1 and dev.type == "cuda" and cfg.sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model  # the plain module: state dicts, EMA
        self.ema = EMA(model, cfg.ema_decay, cfg.ema_warmup)
        self.opt = torch.optim.SGD(
            param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=True
        )
        net = model
        if self.world > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[dev.index] if dev.type == "cuda" else None
            )
        self.net = torch.compile(net) if cfg.compile else net
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(cfg.seed * 1000 + self.rank)
        self.step = 0
        self.evals: list[tuple[int, float]] = []
        self._reset_acc()
        self._stop = False
        self._t0, self._t_last, self._step_last = time.perf_counter(), time.perf_counter(), 0

    # ---------------------------------------------------------------- one step
    def _reset_acc(self) -> None:
        z = torch.zeros((), device=self.device)
        c = max(self.n_true, 1)
        self.acc = {
            "loss_x": z.clone(),
            "loss_u": z.clone(),
            "mask": z.clone(),
            "n": z.clone(),
            "conf_masked": torch.zeros(self.k * c, device=self.device),
            "conf_all": torch.zeros(self.k * c, device=self.device),
        }

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g, dev = self.gen, self.device
        j = torch.randint(0, len(self.lab_idx), (self.bl,), generator=g, device=dev)
        ui = self.unl_idx[torch.randint(0, len(self.unl_idx), (self.bu,), generator=g, device=dev)]
        xl = weak_augment(to_float(self.data[self.lab_idx[j]]), g, self.cfg.translate)
        xu = to_float(self.data[ui])
        uw = weak_augment(xu, g, self.cfg.translate)
        us = strong_augment(xu, g, self.cfg.randaugment_ops, self.cfg.cutout)
        x = normalize(torch.cat([xl, uw, us]), self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.lab_y[j], ui

    def train_step(self) -> None:
        cfg = self.cfg
        lr = lr_at(cfg, self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        x, y, ui = self._batch()
        self.net.train()
        with torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and self.device.type == "cuda"
        ):
            logits = self.net(x)
        lx, luw, lus = (
            logits[: self.bl],
            logits[self.bl : self.bl + self.bu],
            logits[self.bl + self.bu :],
        )
        out = fixmatch_loss(lx, y, luw, lus, cfg.threshold, cfg.lambda_u)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.opt.step()
        self.ema.update(self.model, self.step)
        self.step += 1
        a = self.acc
        a["loss_x"] += out["loss_x"].detach()
        a["loss_u"] += out["loss_u"].detach()
        a["mask"] += out["mask"].mean()
        a["n"] += 1
        if self.truth is not None:  # pseudo-label quality, evaluation only
            cell = out["pseudo"] * self.n_true + self.truth[ui]
            a["conf_all"].index_add_(0, cell, torch.ones_like(out["mask"]))
            a["conf_masked"].index_add_(0, cell, out["mask"])

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict_logits(self, images: np.ndarray, use_ema: bool = True) -> torch.Tensor:
        model = self.ema.module if use_ema else self.model
        return predict_logits(
            model, images, self.mean, self.std, self.device, self.cfg.eval_batch_size, self.cfg.bf16
        )

    def evaluate(self) -> Optional[float]:
        if self.test_images is None or self.test_truth is None:
            return None
        pred = self.predict_logits(self.test_images).argmax(1).cpu().numpy()
        truth = np.asarray(self.test_truth)
        conf = np.zeros((self.k, int(max(truth.max(), 0)) + 1))
        np.add.at(conf, (pred, truth), 1)
        acc = _acc_from_confusion(conf, self.aligned)
        self.evals.append((self.step, acc))
        return acc

    def median_test_acc(self) -> Optional[float]:
        if not self.evals:
            return None
        return float(np.median([a for _, a in self.evals[-self.cfg.eval_median_of :]]))

    # ---------------------------------------------------------------- logging, checkpoints
    def _log(self, test_acc: Optional[float]) -> dict:
        a = {k: v.detach().cpu().numpy() for k, v in self.acc.items()}  # the one host sync
        n = max(float(a["n"]), 1.0)
        now = time.perf_counter()
        row = {
            "step": self.step,
            "lr": lr_at(self.cfg, self.step - 1),
            "loss_x": float(a["loss_x"]) / n,
            "loss_u": float(a["loss_u"]) / n,
            "mask_rate": float(a["mask"]) / n,
            "pl_acc_masked": "",
            "pl_acc_all": "",
            "test_acc": "" if test_acc is None else test_acc,
            "steps_per_s": (self.step - self._step_last) / max(now - self._t_last, 1e-9),
            "elapsed_s": now - self._t0,
        }
        if self.truth is not None:
            shape = (self.k, self.n_true)
            row["pl_acc_masked"] = _acc_from_confusion(
                a["conf_masked"].reshape(shape), self.aligned
            )
            row["pl_acc_all"] = _acc_from_confusion(a["conf_all"].reshape(shape), self.aligned)
        self._t_last, self._step_last = now, self.step
        self._reset_acc()
        if self.rank == 0:
            append_metrics(self.out / "metrics.csv", CSV_FIELDS, row)
            if self._tb is not None:
                for k, v in row.items():
                    if k != "step" and v != "":
                        self._tb.add_scalar(k, v, self.step)
        self.callback("log", row)
        return row

    def state_dict(self) -> dict:
        gens = [self.gen.get_state()]
        if self.world > 1:
            gens = [None] * self.world
            dist.all_gather_object(gens, self.gen.get_state())
        return {
            "step": self.step,
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict(),
            "optimizer": self.opt.state_dict(),
            "rng": rng_state(),
            "generators": gens,
            "evals": self.evals,
            "acc": {k: v.detach().cpu() for k, v in self.acc.items()},
        }

    def save(self) -> None:
        st = self.state_dict()  # collective under DDP: every rank calls it
        if self.rank == 0:
            save_checkpoint(self.out / CHECKPOINT, st)

    def load(self, path: str | Path) -> None:
        st = load_checkpoint(path, map_location="cpu")
        saved = st["config"]
        diff = [k for k in FixMatchConfig.RESUME_KEYS if saved.get(k) != getattr(self.cfg, k)]
        if diff:
            what = ", ".join(f"{k}={saved.get(k)!r} (now {getattr(self.cfg, k)!r})" for k in diff)
            raise HumeSSLError(
                f"cannot --resume: {what} differ from the checkpointed run; use the same options "
                "or a new --out."
            )
        self.model.load_state_dict(st["model"])
        self.ema.module.load_state_dict(st["ema"])
        self.opt.load_state_dict(st["optimizer"])
        self.step, self.evals = int(st["step"]), [tuple(e) for e in st["evals"]]
        set_rng_state(st["rng"])
        gens = st["generators"]
        if len(gens) != self.world:
            raise HumeSSLError(
                f"checkpoint was written by {len(gens)} processes, now {self.world}; "
                "resume with the same number of processes."
            )
        self.gen.set_state(gens[self.rank])
        self.acc = {k: v.to(self.device) for k, v in st["acc"].items()}
        self._truncate_metrics()

    def _truncate_metrics(self) -> None:
        """Drop metrics.csv rows logged after the checkpoint (they will be logged again)."""
        if self.rank == 0:
            truncate_metrics(self.out / "metrics.csv", self.step)

    # ---------------------------------------------------------------- the loop
    def _on_signal(self, signum, frame) -> None:
        self._stop = True

    def fit(self, resume: bool = False) -> FixMatchTrainer:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self.load(self.out / CHECKPOINT)
        self._tb = None
        if cfg.tensorboard and self.rank == 0:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tensorboard"))
            except Exception:  # tensorboard not installed
                self._tb = None
        old = {}
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, self._on_signal)
        self.callback(
            "start",
            {
                "step": self.step,
                "steps": cfg.steps,
                "device": str(self.device),
                "world": self.world,
            },
        )
        self._t0 = self._t_last = time.perf_counter()
        self._step_last = self.step
        try:
            while self.step < cfg.steps:
                self.train_step()
                last = self.step == cfg.steps
                if self.step % cfg.log_every == 0 or last:
                    if (
                        self.world > 1
                    ):  # agree on stopping: signals may reach ranks at different steps
                        flag = torch.tensor([float(self._stop)], device=self.device)
                        dist.all_reduce(flag)
                        self._stop = bool(flag.item() > 0)
                if self.step % cfg.eval_every == 0 or last:
                    acc = self.evaluate() if self.rank == 0 else None
                    self._log(acc)
                elif self.step % cfg.log_every == 0:
                    self._log(None)
                if self.step % cfg.checkpoint_every == 0 or last:
                    self.save()
                if self._stop and (self.world == 1 or self.step % cfg.log_every == 0):
                    self.save()
                    raise KeyboardInterrupt(
                        f"stopped by signal at step {self.step}; checkpoint saved"
                    )
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
            if self._tb is not None:
                self._tb.close()
        self.callback("end", {"step": self.step, "median_test_acc": self.median_test_acc()})
        return self


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    images: np.ndarray,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
    batch_size: int = 1024,
    bf16: bool = True,
) -> torch.Tensor:
    """Logits (N, k) float32 on the device for (N,H,W,3) uint8 images, without augmentation."""
    model.eval()
    outs = []
    for i in range(0, len(images), batch_size):
        xb = torch.from_numpy(
            np.ascontiguousarray(images[i : i + batch_size].transpose(0, 3, 1, 2))
        )
        x = normalize(to_float(xb.to(device)), mean.to(device), std.to(device))
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"
        ):
            outs.append(model(x).float())
    return torch.cat(outs) if outs else torch.zeros(0, 0)


def label_map(pseudo: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """Cluster id -> class id (Hungarian), for reporting pseudo-label runs against ground truth."""
    return hungarian_map(pseudo, truth)
