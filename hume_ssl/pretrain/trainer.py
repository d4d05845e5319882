"""Self-supervised pretraining on the user's own images, GPU-resident.

The whole uint8 split lives on the device; each step draws a batch from the epoch's permutation,
makes two views with batched augmentation (hume_ssl.augment.views), and takes one SGD step on
the method's loss (hume_ssl.pretrain.methods) under bf16 autocast on CUDA. Host syncs happen
only at log, kNN-monitor and checkpoint steps (hume_ssl.train.loop).

`budget_minutes` fits the cosine schedule into a wall-clock budget: after a few timed steps the
number of epochs is lowered (never raised) so that training plus kNN evaluations end within it.

Under torchrun (DDP) `batch_size` is the global batch: every rank draws the same permutation
and augmentation parameters (one generator, same seed) and takes rows r, r + W, ... of each
batch; the method makes the loss that of the whole batch (MoCo: shuffle BN and keys across
ranks; SimCLR: global BatchNorm and NT-Xent over the gathered batch), DDP averages the
gradients, and BatchNorm running statistics are averaged after every step. Every rank thus holds
one process's state: rank 0 alone writes metrics and checkpoints and runs the kNN monitor, and
a checkpoint resumes on any number of ranks.
"""

from __future__ import annotations

import inspect
import math
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hume_ssl.augment.pixels import normalize
from hume_ssl.augment.views import two_views
from hume_ssl.core import distributed
from hume_ssl.core.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from hume_ssl.core.device import resolve_device, torch_seed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.knn import knn_classify
from hume_ssl.models.encoders import sync_batchnorm
from hume_ssl.pretrain.config import PretrainConfig
from hume_ssl.pretrain.methods import METHODS
from hume_ssl.train.budget import StepTimer, schedule_fraction, units_in_budget
from hume_ssl.train.evaluate import batched_forward
from hume_ssl.train.loop import Callback, Trainer
from hume_ssl.train.metrics import METRICS_CSV, append_metrics, truncate_metrics, write_curves
from hume_ssl.train.resume import check_resume_keys
from hume_ssl.train.split import device_split
from hume_ssl.train.throughput import forward_flops, mfu, peak_flops

CSV_FIELDS = ("step", "epoch", "lr", "loss", "pos_acc", "knn_acc", "images_per_s", "mfu",
              "elapsed_s")
# collapse warning: pos_acc below this share of its running peak (once the peak shows a learned
# positive) while the loss is back within this share of chance
COLLAPSE_PEAK, COLLAPSE_DROP, COLLAPSE_CHANCE = 0.3, 0.25, 0.9


class Pretrainer(Trainer):
    """A method from the registry on `images` (N, H, W, 3) uint8; optional test images + labels
    for the kNN monitor (train_labels are the kNN's memory bank labels: evaluation only, never
    trained on)."""

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
        # a run passes a resolved config; an unresolved one is resolved in place (deprecated)
        self.cfg, self.out = cfg.validate(), Path(out)
        self.log_every, self.checkpoint_every = cfg.log_every, cfg.checkpoint_every
        self.callback = callback or (lambda event, info: None)
        self.device = dev = resolve_device(cfg.device)
        self.world, self.rank = self._join(dev)
        if self.rank:  # torchrun: rank 0 reports progress
            self.callback = lambda event, info: None
        if len(images) < cfg.batch_size:
            raise HumeSSLError(f"{len(images)} images < --batch-size {cfg.batch_size}; "
                               "lower --batch-size.")
        self.data = device_split(images, dev, "pretrain")  # (N, 3, H, W) uint8
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=dev)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=dev)
        self.train_labels, self.test_images, self.test_labels = (
            train_labels, test_images, test_labels)
        self.monitor = all(v is not None for v in (train_labels, test_images, test_labels))
        torch.manual_seed(torch_seed(cfg.random_state))
        self.model = METHODS[cfg.method].build(cfg, self.world).to(dev)
        if self.world > 1 and getattr(self.model, "sync_bn", False):
            self.model = sync_batchnorm(self.model, dev)
        self.channels_last = cfg.channels_last and dev.type == "cuda"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        net = self.model
        if self.world > 1:  # BN running statistics: averaged after each step, not broadcast
            ddp = torch.nn.parallel.DistributedDataParallel
            new = "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters
            net = ddp(self.model, device_ids=[dev.index] if dev.type == "cuda" else None,
                      **{"forward_sync_buffers" if new else "broadcast_buffers": False})
        self.step_fn = torch.compile(net) if cfg.compile else net
        params = [p for p in self.model.parameters() if p.requires_grad]
        fused = {"fused": True} if dev.type == "cuda" else {"foreach": True}
        self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, **fused)
        self.flops_per_step = self._flops_per_step(images.shape[1])  # model FLOPs, fwd + bwd
        self.peak_flops = peak_flops(dev)
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(torch_seed(cfg.random_state))
        self.steps_per_epoch = len(images) // cfg.batch_size  # the last partial batch is dropped
        self.total_steps = cfg.epochs * self.steps_per_epoch  # refitted under budget_minutes
        self.step, self.order = 0, None
        self.evals: list[tuple[int, float, float]] = []  # (step, elapsed s, kNN accuracy)
        self._acc = torch.zeros(3, device=dev)  # loss sum, positive-accuracy sum, steps
        self._elapsed0, self.budget_fitted = 0.0, False
        self._t_eval = 0.0  # seconds of the kNN evaluation at step 0, for the budget's plan
        self.schedule_start = 0  # the step the budget was fitted at (the lr schedule's start)
        self.pos_peak, self.collapse_steps = 0.0, []  # label-free collapse watch
        self.identity: dict = {}  # the images trained on, checked on resume (pretrain_run)
        self._last_log = -1
        self._t0 = time.perf_counter()
        self.command, self.divergence_hint = "pretrain", f"a lower --lr (now {cfg.lr:g})"

    def _join(self, dev: torch.device) -> tuple[int, int]:
        """(world size, rank): the torchrun process group joined; the batch must split evenly."""
        distributed.init(dev)
        world = distributed.world_size()
        if self.cfg.batch_size % world:
            raise HumeSSLError(f"--batch-size {self.cfg.batch_size} is not divisible by {world} "
                               "processes; pass a multiple of the process count.")
        return world, distributed.rank()

    def _flops_per_step(self, size: int) -> float:
        """FLOPs of one process's step: per-image forward FLOPs x the method's passes x its
        share of the batch."""
        self.model.eval()  # plain BatchNorm for the count: same FLOPs as the split one
        x = torch.zeros(2, 3, size, size, device=self.device)
        per_image = forward_flops(self.model.query, x)
        self.model.train()
        return per_image * self.model.train_passes * self.cfg.batch_size / self.world

    # ---------------------------------------------------------------- one step
    def lr_at(self, step: int) -> float:
        """Cosine to 0 over the run; while a budget is timed, the initial lr, and from the
        step it was fitted at, the cosine over the fitted steps (no jump: train.budget)."""
        if self.budget_timer is not None:
            return self.cfg.lr
        frac = schedule_fraction(step, self.total_steps, self.schedule_start)
        return self.cfg.lr * 0.5 * (1.0 + math.cos(math.pi * frac))

    def _batch(self) -> torch.Tensor:
        i = self.step % self.steps_per_epoch
        if i == 0 or self.order is None:  # a new epoch: a new permutation, drawn on the device
            self.order = torch.randperm(len(self.data), generator=self.gen, device=self.device)
        bs = self.cfg.batch_size  # this rank's rows of the global batch: (B / W, 3, H, W) uint8
        return self.data[self.order[i * bs : (i + 1) * bs][distributed.rows_of_rank(bs)]]

    def train_step(self) -> None:
        cfg, dev = self.cfg, self.device
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        part = (cfg.batch_size, distributed.rows_of_rank(cfg.batch_size))
        va, vb = two_views(self._batch(), self.gen, cfg.view, part=part)  # 2 x (b, 3, S, S)
        va, vb = normalize(va, self.mean, self.std), normalize(vb, self.mean, self.std)
        if self.channels_last:
            va = va.contiguous(memory_format=torch.channels_last)
            vb = vb.contiguous(memory_format=torch.channels_last)
        # one key-batch shuffle per direction: (n_shuffles, B)
        perms = torch.rand(self.model.n_shuffles, cfg.batch_size, generator=self.gen, device=dev)
        perms = perms.argsort(1)
        self.model.train()
        bf16 = cfg.bf16 and dev.type == "cuda"
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            out = self.step_fn(va, vb, perms)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.opt.step()
        if "keys" in out:  # a method with a queue (MoCo) stores this step's keys (all ranks')
            self.model.enqueue(out["keys"])
        distributed.average_buffers(self.model)  # torchrun: the whole batch's BN statistics
        self.step += 1
        self._acc += torch.stack([out["loss"].detach(), out["acc"], torch.ones((), device=dev)])

    # ---------------------------------------------------------------- features and kNN
    @torch.no_grad()
    def features(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, d) float32 L2-normalised encoder features of uint8 images, no augmentation."""
        enc = self.model.encoder_q
        enc.eval()
        feats = batched_forward(enc, images, self.mean, self.std, self.device,
                                self.cfg.eval_batch_size, self.cfg.bf16, self.channels_last)
        enc.train()
        return torch.nn.functional.normalize(feats, dim=1)

    def eval_due(self, last: bool) -> bool:
        spe = self.steps_per_epoch
        epoch_end = self.step % spe == 0 and (self.step // spe) % self.cfg.knn_every == 0
        return self.monitor and (last or epoch_end)

    def evaluate(self) -> Optional[float]:
        """kNN accuracy on the test split with the train split as memory bank (or None; None
        on ranks other than 0)."""
        if not self.monitor or self.rank:
            return None
        cfg = self.cfg
        self.callback("knn", {"step": self.step, "n_bank": len(self.data),
                              "n_test": len(self.test_images)})
        bank = self.features(self.data)
        test = self.features(self.test_images)
        labels = torch.as_tensor(self.train_labels, dtype=torch.long, device=self.device)
        pred = knn_classify(bank, labels, test, cfg.knn_neighbors, cfg.knn_temperature)
        acc = float((pred.cpu().numpy() == np.asarray(self.test_labels)).mean())
        self.evals.append((self.step, self.elapsed(), acc))
        return acc

    knn_accuracy = evaluate

    # ---------------------------------------------------------------- logging, checkpoints
    def elapsed(self) -> float:
        return self._elapsed0 + time.perf_counter() - self._t0

    def log(self, knn_acc: Optional[float]) -> dict:
        acc = distributed.sum_tensors({"acc": self._acc})["acc"]  # torchrun: every rank's share
        loss, pos, n = (float(v) for v in acc.cpu())  # the one host sync
        if n:
            self.check_losses({"loss": loss / n}, self._step_last)
        now = self.elapsed()
        steps_per_s = (self.step - self._step_last) / max(now - self._t_last, 1e-9)
        util = mfu(self.flops_per_step, steps_per_s, self.peak_flops)
        row = {
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "lr": self.lr_at(max(self.step - 1, 0)),
            "loss": loss / n if n else "",
            "pos_acc": pos / n if n else "",
            "knn_acc": "" if knn_acc is None else knn_acc,
            "images_per_s": steps_per_s * self.cfg.batch_size,
            "mfu": "" if util is None or knn_acc is not None else util,
            "elapsed_s": now,
        }
        self._t_last, self._step_last = now, self.step
        self._acc.zero_()
        if n:
            self._watch_collapse(loss / n, pos / n)
        if self.rank == 0:
            append_metrics(self.out / METRICS_CSV, CSV_FIELDS, row)
        self.callback("log", {**row, "total_steps": self.total_steps})
        return row

    def _watch_collapse(self, loss: float, pos_acc: float) -> None:
        """Warn (once per episode) when the positive stops winning after it had been learned
        and the loss is back near chance: the embedding no longer tells images apart."""
        turnover = getattr(self.model, "queue_turnover_steps", None)  # queue methods only
        if turnover is not None and self.step <= turnover(self.cfg.batch_size):
            return  # negatives still partly random: pos_acc is inflated, no peak yet
        chance = self.model.chance_loss(self.cfg.batch_size)
        suspect = (self.pos_peak >= COLLAPSE_PEAK and pos_acc < COLLAPSE_DROP * self.pos_peak
                   and loss >= COLLAPSE_CHANCE * chance)
        if suspect and (not self.collapse_steps or self.collapse_steps[-1] != self._last_log):
            self.callback("warning", {"step": self.step, "message": (
                f"step {self.step}: pos_acc {pos_acc:.3f} fell below {COLLAPSE_DROP:.0%} of its "
                f"peak {self.pos_peak:.3f} and the loss {loss:.2f} is back near chance "
                f"{chance:.2f}: the representation may be collapsing; compare --asymmetric "
                "--head linear (MoCo's CIFAR-10 demo) or a lower --lr")})
        if suspect:
            self.collapse_steps.append(self.step)
        self._last_log = self.step
        self.pos_peak = max(self.pos_peak, pos_acc)

    def finite_tensors(self) -> list:
        return list(self.model.state_dict().values())

    def state_dict(self) -> dict:
        return {"step": self.step, "total_steps": self.total_steps, "config": self.cfg.to_dict(),
                "model": self.model.state_dict(), "queue_ptr": getattr(self.model, "ptr", 0),
                "optimizer": self.opt.state_dict(), "order": self.order,
                "rng": rng_state(), "generator": self.gen.get_state(), "evals": self.evals,
                "acc": self._acc.cpu(), "elapsed_s": self.elapsed(),
                "budget_fitted": self.budget_fitted, "schedule_start": self.schedule_start,
                "t_eval": self._t_eval, "pos_peak": self.pos_peak,
                "collapse_steps": self.collapse_steps, "identity": self.identity,
                "world_size": self.world}

    def save(self) -> None:
        if self.rank:  # every rank holds the same state (torchrun): rank 0 writes it
            return
        save_checkpoint(self.out / CHECKPOINT, self.state_dict())
        write_curves(self.out / METRICS_CSV, self.out / "curves.png",
                     f"pretrain {self.cfg.method} ({self.cfg.arch})",
                     ("loss", "pos_acc", "knn_acc", "images_per_s"))

    def load(self, path: str | Path) -> None:
        st = load_checkpoint(path, map_location="cpu")
        if "queue_ptr" not in st:
            raise HumeSSLError(f"cannot --resume: {path} is not a pretrain checkpoint; use a "
                               "new --out.")
        check_resume_keys(st["config"], self.cfg.to_dict(), PretrainConfig.RESUME_KEYS)
        self.model.load_state_dict(st["model"])
        if hasattr(self.model, "ptr"):  # the queue pointer of a method with a queue
            self.model.ptr = int(st["queue_ptr"])
        self.opt.load_state_dict(st["optimizer"])
        self.step, self.total_steps = int(st["step"]), int(st["total_steps"])
        self.order = None if st["order"] is None else st["order"].to(self.device)
        set_rng_state(st["rng"])
        self.gen.set_state(st["generator"])
        self.evals = [tuple(e) for e in st["evals"]]
        self._acc = st["acc"].to(self.device)
        self._elapsed0, self.budget_fitted = float(st["elapsed_s"]), bool(st["budget_fitted"])
        self.pos_peak = float(st.get("pos_peak", 0.0))
        self._t_eval = float(st.get("t_eval", 0.0))  # a resume does not evaluate at its start
        self.schedule_start = int(st.get("schedule_start", 0))
        self.collapse_steps = list(st.get("collapse_steps", []))
        self._t0 = time.perf_counter()
        if self.rank == 0:
            truncate_metrics(self.out / METRICS_CSV, self.step)

    # ---------------------------------------------------------------- budget, loop hooks
    def _fit_budget(self, t_step: float, t_eval: float) -> None:
        """Largest whole number of epochs (<= cfg.epochs) whose steps and kNN evaluations fit the
        budget, counted from the step reached while timing; an error when not even the epoch
        under way fits (the plan never ends behind the run)."""
        cfg = self.cfg
        seconds_left = cfg.budget_minutes * 60.0 - self.elapsed()

        def evals_for(e: int) -> int:  # kNN evaluations in a run of e epochs
            return (e // cfg.knn_every + 1) if self.monitor else 0

        epochs = units_in_budget(seconds_left, t_step, t_eval, self.step,
                                 self.steps_per_epoch, cfg.epochs, evals_for)
        epochs = distributed.broadcast(epochs)  # torchrun: rank 0's fit, on every rank
        if epochs == 0:
            epoch = self.step // self.steps_per_epoch + 1  # the epoch under way
            steps = epoch * self.steps_per_epoch - self.step
            n_evals = evals_for(epoch)
            need = (steps * t_step + n_evals * t_eval) / 60
            spent = self.elapsed() / 60
            what = "one epoch" if epoch == 1 else f"finishing epoch {epoch}"
            raise HumeSSLError(
                f"--budget-minutes {cfg.budget_minutes:g} is too small: {what} "
                f"({steps} steps at {t_step * 1e3:.0f} ms"
                + (f", plus {n_evals} kNN evaluation(s) at {t_eval:.1f} s" if n_evals else "")
                + f") needs about {need:.2f} minutes after the {spent:.2f} spent on setup and "
                f"timing; pass --budget-minutes {math.ceil((need + spent) * 1.2 * 100) / 100:g} "
                "or more, a larger --knn-every, or fewer images."
            )
        self.total_steps = epochs * self.steps_per_epoch
        self.budget_fitted, self.schedule_start = True, self.step
        self.callback("budget", {"epochs": epochs, "total_steps": self.total_steps,
                                 "s_per_step": t_step, "s_per_eval": t_eval,
                                 "fitted_at_step": self.step, "seconds_left": seconds_left})

    def on_start(self) -> None:
        timing = self.cfg.budget_minutes is not None and not self.budget_fitted
        self.callback("start", {"step": self.step, "total_steps": self.total_steps,
                                "device": str(self.device),
                                "budget_minutes": self.cfg.budget_minutes if timing else None})
        self._t_last, self._step_last = self.elapsed(), self.step
        if self.step == 0 and self.monitor:
            t = self.elapsed()
            self.log(self.evaluate())  # the random-init baseline
            self._t_eval = self.elapsed() - t
        self.budget_timer = (StepTimer(self.step, self.device, self.elapsed,
                                       self.cfg.budget_minutes * 60.0) if timing else None)

    def after_step(self) -> None:
        t_step = self.budget_timer.tick(self.step) if self.budget_timer else None
        if t_step is not None:  # torchrun: every rank fits rank 0's timings (same schedule)
            self._fit_budget(*distributed.broadcast((t_step, self._t_eval)))
            self.budget_timer = None

