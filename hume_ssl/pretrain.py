"""Self-supervised pretraining (MoCo v2) on the user's own images, GPU-resident.

The whole uint8 split lives on the device; each step draws a batch from the epoch's permutation,
makes two views with batched augmentation (hume_ssl.ssl_augment), and takes one SGD step on the
symmetric MoCo loss (hume_ssl.moco) under bf16 autocast on CUDA. Host syncs happen only at log,
kNN-monitor and checkpoint steps. Defaults follow MoCo's CIFAR-10 demo (ResNet-18 with a 32 px
stem, batch 512, lr 0.06, weight decay 5e-4, cosine schedule, queue 4096, momentum 0.99,
temperature 0.1, 8 BatchNorm splits, symmetric loss, 200 epochs), with an MLP projection head
(MoCo v2); lr and queue scale with the batch size.

`budget_minutes` fits the cosine schedule into a wall-clock budget: after a few timed steps the
number of epochs is lowered (never raised) so that training plus kNN evaluations end within it.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from hume_ssl.checkpoint import (
    CHECKPOINT,
    append_metrics,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    truncate_metrics,
)
from hume_ssl.device import resolve_device
from hume_ssl.errors import HumeSSLError, raise_first_failed
from hume_ssl.gpu_augment import normalize, to_float
from hume_ssl.knn import knn_classify
from hume_ssl.moco import MoCo
from hume_ssl.ssl_augment import ViewConfig, two_views

CSV_FIELDS = ("step", "epoch", "lr", "loss", "pos_acc", "knn_acc", "images_per_s", "elapsed_s")
Callback = Callable[[str, dict], None]


@dataclass
class PretrainConfig:
    method: str = "mocov2"  # the one method implemented
    arch: str = "resnet18_cifar"  # resnet{18,34,50}_cifar (32-64 px) or torchvision:NAME
    epochs: int = 200  # passes over the split (each step: batch_size images, two views each)
    budget_minutes: Optional[float] = None  # wall-clock cap: fewer epochs if needed to fit it
    batch_size: int = 512  # images per step
    lr: Optional[float] = None  # SGD lr at step 0, cosine decay to 0; None: 0.06 * batch / 512
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 coefficient, all parameters (as the demo)
    dim: int = 128  # projection (embedding) dimension
    head: str = "mlp"  # projection head: mlp (MoCo v2) or linear (MoCo's CIFAR-10 demo)
    queue_size: Optional[int] = None  # negative keys kept; None: 8 * batch (4 steps of keys)
    moco_momentum: float = 0.99  # key encoder EMA per step
    temperature: float = 0.1  # InfoNCE temperature (logits are cosines / T)
    bn_splits: int = 8  # BatchNorm groups per batch (single-GPU shuffle-BN stand-in)
    symmetric: bool = True  # both view orders per step
    view: ViewConfig = field(default_factory=ViewConfig)  # augmentation recipe
    knn_k: int = 200  # kNN monitor neighbours (cosine, weighted)
    knn_temperature: float = 0.1  # kNN vote weight exp(sim / T)
    knn_every: int = 10  # epochs between kNN evaluations (and at the start and the end)
    log_every: int = 50  # steps between metrics.csv rows (host syncs)
    checkpoint_every: int = 1000  # steps between checkpoints (also on SIGTERM/SIGINT, at the end)
    eval_batch_size: int = 1024  # images per feature forward
    device: str = "auto"  # auto, cpu, cuda, cuda:1
    bf16: bool = True  # bf16 autocast on CUDA
    channels_last: bool = True  # NHWC memory format on CUDA
    compile: bool = False  # torch.compile the encoder
    seed: int = 0

    RESUME_KEYS = ("method", "arch", "batch_size", "lr", "momentum", "weight_decay", "dim", "head",
                   "queue_size", "moco_momentum", "temperature", "bn_splits", "symmetric", "seed")

    def validate(self) -> PretrainConfig:
        """Check the options and resolve the automatic ones (lr, queue_size) in place."""
        if self.lr is None:
            self.lr = 0.06 * self.batch_size / 512  # the demo's lr, scaled linearly
        if self.queue_size is None:
            # the demo's 4096 at batch 512: the queue holds the last 4 steps' keys. A queue that
            # spans many more steps holds stale keys, and the encoder learns to tell current
            # features from stale ones instead of images apart (measured: loss back at chance,
            # kNN below random init, with 4096 keys at batch 128).
            self.queue_size = 8 * self.batch_size
        checks = [
            (self.method == "mocov2", f"unknown --method {self.method!r}; available: mocov2"),
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.budget_minutes is None or self.budget_minutes > 0,
             "--budget-minutes must be > 0"),
            (self.batch_size >= 2 and self.batch_size % self.bn_splits == 0,
             f"--batch-size must be >= 2 and divisible by bn_splits={self.bn_splits}"),
            (self.lr > 0 and self.temperature > 0, "--lr and temperature must be > 0"),
            (0 <= self.moco_momentum < 1, "moco_momentum must lie in [0, 1)"),
            (self.queue_size >= 2 * self.batch_size,
             f"queue_size ({self.queue_size}) must be >= 2 * --batch-size"),
            (min(self.knn_every, self.log_every, self.checkpoint_every) >= 1,
             "--knn-every, log_every and --checkpoint-every must be >= 1"),
        ]
        raise_first_failed(checks)
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Pretrainer:
    """MoCo v2 on `images` (N, H, W, 3) uint8; optional test images + labels for the kNN monitor
    (train_labels are the kNN's memory bank labels: evaluation only, never trained on)."""

    def __init__(
        self,
        cfg: PretrainConfig,
        images: np.ndarray,
        out: str | Path,
        mean: np.ndarray,
        std: np.ndarray,
        train_labels: Optional[np.ndarray] = None,
        test_images: Optional[np.ndarray] = None,
        test_labels: Optional[np.ndarray] = None,
        callback: Optional[Callback] = None,
    ):
        self.cfg, self.out = cfg.validate(), Path(out)
        self.callback = callback or (lambda event, info: None)
        self.device = dev = resolve_device(cfg.device)
        if len(images) < cfg.batch_size:
            raise HumeSSLError(f"{len(images)} images < --batch-size {cfg.batch_size}; "
                               "lower --batch-size.")
        if dev.type == "cuda" and images.nbytes > 0.5 * torch.cuda.mem_get_info(dev)[0]:
            raise HumeSSLError(
                f"the split is {images.nbytes / 2**30:.1f} GiB as uint8, more than half of the "
                f"free GPU memory; pretrain keeps it on the GPU. Use --image-size to shrink the "
                "images, or a subset of the data.")
        self.data = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(dev)
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=dev)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=dev)
        self.train_labels, self.test_images, self.test_labels = (
            train_labels, test_images, test_labels)
        self.monitor = all(v is not None for v in (train_labels, test_images, test_labels))
        torch.manual_seed(cfg.seed)
        self.model = MoCo(cfg.arch, cfg.dim, cfg.queue_size, cfg.moco_momentum, cfg.temperature,
                          cfg.bn_splits, cfg.symmetric, cfg.head).to(dev)
        self.channels_last = cfg.channels_last and dev.type == "cuda"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.step_fn = torch.compile(self.model) if cfg.compile else self.model
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(cfg.seed)
        self.steps_per_epoch = len(images) // cfg.batch_size  # the last partial batch is dropped
        self.total_steps = cfg.epochs * self.steps_per_epoch  # refitted under budget_minutes
        self.step, self.order = 0, None
        self.evals: list[tuple[int, float, float]] = []  # (step, elapsed s, kNN accuracy)
        self._acc = torch.zeros(3, device=dev)  # loss sum, positive-accuracy sum, steps
        self._stop, self._elapsed0, self.budget_fitted = False, 0.0, False

    # ---------------------------------------------------------------- one step
    def lr_at(self, step: int) -> float:
        return self.cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(self.total_steps, 1)))

    def _batch(self) -> torch.Tensor:
        i = self.step % self.steps_per_epoch
        if i == 0 or self.order is None:  # a new epoch: a new permutation, drawn on the device
            self.order = torch.randperm(len(self.data), generator=self.gen, device=self.device)
        bs = self.cfg.batch_size
        return self.data[self.order[i * bs : (i + 1) * bs]]  # (B, 3, H, W) uint8

    def train_step(self) -> None:
        cfg, dev = self.cfg, self.device
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        va, vb = two_views(self._batch(), self.gen, cfg.view)  # 2 x (B, 3, S, S) float [0, 1]
        va, vb = normalize(va, self.mean, self.std), normalize(vb, self.mean, self.std)
        if self.channels_last:
            va = va.contiguous(memory_format=torch.channels_last)
            vb = vb.contiguous(memory_format=torch.channels_last)
        n_keys = 2 * len(va) if cfg.symmetric else len(va)
        perm = torch.randperm(n_keys, generator=self.gen, device=dev)
        self.model.train()
        bf16 = cfg.bf16 and dev.type == "cuda"
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            out = self.step_fn(va, vb, perm)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.opt.step()
        self.model.enqueue(out["keys"])
        self.step += 1
        self._acc += torch.stack([out["loss"].detach(), out["acc"], torch.ones((), device=dev)])

    # ---------------------------------------------------------------- features and kNN
    @torch.no_grad()
    def features(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, d) float32 L2-normalised encoder features of (N, H, W, 3) uint8 images, no aug."""
        enc, bs = self.model.encoder_q, self.cfg.eval_batch_size
        enc.eval()
        feats = []
        for i in range(0, len(images), bs):
            xb = images[i : i + bs]
            xb = xb if torch.is_tensor(xb) else torch.from_numpy(np.ascontiguousarray(
                xb.transpose(0, 3, 1, 2)))
            x = normalize(to_float(xb.to(self.device)), self.mean, self.std)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                enabled=self.cfg.bf16 and self.device.type == "cuda"):
                feats.append(torch.nn.functional.normalize(enc(x).float(), dim=1))
        enc.train()
        return torch.cat(feats)

    def knn_accuracy(self) -> Optional[float]:
        if not self.monitor:
            return None
        cfg = self.cfg
        bank = self.features(self.data)
        test = self.features(self.test_images)
        labels = torch.as_tensor(self.train_labels, dtype=torch.long, device=self.device)
        pred = knn_classify(bank, labels, test, cfg.knn_k, cfg.knn_temperature)
        acc = float((pred.cpu().numpy() == np.asarray(self.test_labels)).mean())
        self.evals.append((self.step, self.elapsed(), acc))
        return acc

    # ---------------------------------------------------------------- logging, checkpoints
    def elapsed(self) -> float:
        return self._elapsed0 + time.perf_counter() - self._t0

    def _log(self, knn_acc: Optional[float]) -> dict:
        loss, pos, n = (float(v) for v in self._acc.cpu())  # the one host sync
        now = self.elapsed()
        row = {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "lr": self.lr_at(max(self.step - 1, 0)),
            "loss": loss / n if n else "",
            "pos_acc": pos / n if n else "",
            "knn_acc": "" if knn_acc is None else knn_acc,
            "images_per_s": (self.step - self._step_last) * self.cfg.batch_size
            / max(now - self._t_last, 1e-9),
            "elapsed_s": now,
        }
        self._t_last, self._step_last = now, self.step
        self._acc.zero_()
        append_metrics(self.out / "metrics.csv", CSV_FIELDS, row)
        self.callback("log", {**row, "total_steps": self.total_steps})
        return row

    def state_dict(self) -> dict:
        return {"step": self.step, "total_steps": self.total_steps, "config": self.cfg.to_dict(),
                "model": self.model.state_dict(), "queue_ptr": self.model.ptr,
                "optimizer": self.opt.state_dict(), "order": self.order,
                "rng": rng_state(), "generator": self.gen.get_state(), "evals": self.evals,
                "acc": self._acc.cpu(), "elapsed_s": self.elapsed(),
                "budget_fitted": self.budget_fitted}

    def save(self) -> None:
        save_checkpoint(self.out / CHECKPOINT, self.state_dict())

    def load(self, path: str | Path) -> None:
        st = load_checkpoint(path, map_location="cpu")
        saved = st["config"]
        diff = [k for k in PretrainConfig.RESUME_KEYS if saved.get(k) != getattr(self.cfg, k)]
        if diff or "queue_ptr" not in st:
            what = ", ".join(f"{k}={saved.get(k)!r} (now {getattr(self.cfg, k)!r})" for k in diff)
            raise HumeSSLError(f"cannot --resume: {what or 'not a pretrain checkpoint'}; use the "
                               "same options or a new --out.")
        self.model.load_state_dict(st["model"])
        self.model.ptr = int(st["queue_ptr"])
        self.opt.load_state_dict(st["optimizer"])
        self.step, self.total_steps = int(st["step"]), int(st["total_steps"])
        self.order = None if st["order"] is None else st["order"].to(self.device)
        set_rng_state(st["rng"])
        self.gen.set_state(st["generator"])
        self.evals = [tuple(e) for e in st["evals"]]
        self._acc = st["acc"].to(self.device)
        self._elapsed0, self.budget_fitted = float(st["elapsed_s"]), bool(st["budget_fitted"])
        truncate_metrics(self.out / "metrics.csv", self.step)

    # ---------------------------------------------------------------- the loop
    def _fit_budget(self, t_step: float, t_eval: float) -> None:
        """Largest whole number of epochs (<= cfg.epochs) whose steps and kNN evaluations fit the
        budget; with the budget already spent, the run ends after the next step."""
        left = self.cfg.budget_minutes * 60.0 - self.elapsed()
        spe, epochs = self.steps_per_epoch, 0
        while epochs < self.cfg.epochs:
            e = epochs + 1
            n_evals = (e // self.cfg.knn_every + 1) if self.monitor else 0
            if (e * spe - self.step) * t_step + n_evals * t_eval > left:
                break
            epochs = e
        self.total_steps, self.budget_fitted = max(epochs * spe, self.step + 1), True
        self.callback("budget", {"epochs": epochs, "total_steps": self.total_steps,
                                 "s_per_step": t_step, "s_per_eval": t_eval})

    def _on_signal(self, signum, frame) -> None:
        self._stop = True

    def fit(self, resume: bool = False) -> Pretrainer:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        self._t0 = time.perf_counter()
        if resume:
            self.load(self.out / CHECKPOINT)
        calibrate = cfg.budget_minutes is not None and not self.budget_fitted
        old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, self._on_signal)
        self.callback("start", {"step": self.step, "total_steps": self.total_steps,
                                "device": str(self.device)})
        self._t_last, self._step_last = self.elapsed(), self.step
        spe = self.steps_per_epoch
        try:
            t_eval = 0.0
            if self.step == 0 and self.monitor:
                t = self.elapsed()
                self._log(self.knn_accuracy())  # the random-init baseline
                t_eval = self.elapsed() - t
            t_mark, cal = None, (self.step + 5, self.step + 25)  # 5 warm-up steps, 20 timed
            while self.step < self.total_steps:
                self.train_step()
                if calibrate and self.step in cal:
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    if t_mark is None:
                        t_mark = self.elapsed()
                    else:
                        self._fit_budget((self.elapsed() - t_mark) / 20, t_eval)
                        calibrate = False
                last = self.step == self.total_steps
                knn = None
                if self.monitor and (last or (self.step % spe == 0
                                              and (self.step // spe) % cfg.knn_every == 0)):
                    knn = self.knn_accuracy()
                if knn is not None or self.step % cfg.log_every == 0 or last or self._stop:
                    self._log(knn)
                if self.step % cfg.checkpoint_every == 0 or last or self._stop:
                    self.save()
                if self._stop:
                    raise KeyboardInterrupt
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        return self
