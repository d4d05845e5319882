"""FixMatch (Sohn et al., 2020): a fast, resumable, multi-GPU trainer (its loss: fixmatch/loss.py,
its weight average: fixmatch/ema.py).

One step: B labeled images (weak aug) + mu*B unlabeled images (weak and strong aug), one forward
of the concatenated batch. Pseudo-labels are the argmax of the weak view where its softmax
confidence >= threshold; the strong view is trained towards them. The whole uint8 train split
lives on the device, sampling and augmentation are tensor ops driven by one device generator,
and nothing in a step reads back to the host (metrics accumulate on the device and are read
every `log_every` steps; the loop is hume_ssl.train.loop).

Multi-GPU: launch with torchrun; `batch_size` is the global labeled batch, split evenly over
processes. On CUDA BatchNorm is synchronised (SyncBatchNorm); on CPU (gloo) BN statistics are
per process, which matches a single process only when each process sees the same batch mix.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hume_ssl.augment.pixels import normalize, resize, to_float
from hume_ssl.augment.randaugment import strong_augment, weak_augment
from hume_ssl.core import distributed
from hume_ssl.core.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from hume_ssl.core.device import local_rank, resolve_device, torch_seed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.metrics import accuracy_from_counts
from hume_ssl.core.params import moved
from hume_ssl.data.images import channel_stats
from hume_ssl.fixmatch.config import FixMatchConfig, bn_momentum_for, lr_at
from hume_ssl.fixmatch.ema import EMA
from hume_ssl.fixmatch.loss import fixmatch_step
from hume_ssl.fixmatch.microbatch import accumulate_step
from hume_ssl.fixmatch.recipes import build_optimizer, clip_gradients, warmup_factor
from hume_ssl.models.classifier import (
    Init,
    build_classifier,
    init_classifier,
    resolve_init,
    set_bn_momentum,
)
from hume_ssl.train.budget import StepTimer, units_in_budget
from hume_ssl.train.evaluate import batched_forward
from hume_ssl.train.loop import Callback, Trainer
from hume_ssl.train.metrics import METRICS_CSV, append_metrics, truncate_metrics, write_curves
from hume_ssl.train.resume import check_resume_keys
from hume_ssl.train.split import device_split

CSV_FIELDS = (
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
)


def _acc_or_blank(counts: np.ndarray, aligned: bool):
    acc = accuracy_from_counts(counts, aligned)
    return "" if acc is None else acc


def group_layout(groups: list[dict]) -> list[tuple[int, float, float]]:
    """(parameters, lr_scale, weight_decay) of each optimizer group, saved or live: what must
    agree for a checkpoint's optimizer state to land on the same parameters."""
    return [(len(g["params"]), float(g.get("lr_scale", 1.0)), float(g["weight_decay"]))
            for g in groups]


class FixMatchTrainer(Trainer):
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
        callback: Optional[Callback] = None,
        identity: Optional[dict] = None,
        init: Optional[Init] = None,
    ):
        # a run passes a resolved config; an unresolved one is resolved in place (deprecated)
        cfg = cfg.validate()
        self.cfg, self.k, self.out, self.aligned = cfg, k, Path(out), aligned
        self.identity = identity or {}  # the seeds and data trained from, checked on resume
        self.total_steps, self.log_every = cfg.steps, cfg.log_every
        self.checkpoint_every = cfg.checkpoint_every
        self.callback = callback or (lambda event, info: None)
        self.device = dev = self._join(cfg)
        self.bl = cfg.batch_size // self.world  # labeled images per process and step
        self.bu = self.bl * cfg.mu
        self.data = device_split(images, dev, "train-fixmatch")  # (N, 3, H, W) uint8
        self.lab_idx = torch.as_tensor(labeled_idx, dtype=torch.long, device=dev)
        self.lab_y = torch.as_tensor(labeled_y, dtype=torch.long, device=dev)
        self.unl_idx = torch.as_tensor(unlabeled_idx, dtype=torch.long, device=dev)
        self.truth = None if truth is None else torch.as_tensor(truth, dtype=torch.long, device=dev)
        self.n_true = int(truth.max()) + 1 if truth is not None else 0
        self.test_images, self.test_truth = test_images, test_truth
        if init is None and cfg.init:  # resolved here only when the caller has not
            init = resolve_init(cfg.init)
        if mean is None or std is None:  # a pretrained encoder expects its own normalisation
            mean, std = (init.mean, init.std) if init else channel_stats(images)
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=dev)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=dev)
        self._build_model(init)
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(torch_seed(cfg.random_state * 1000 + self.rank))
        self.step = 0
        self.evals: list[tuple[int, float]] = []
        self._reset_acc()
        self._tb = None
        self.budget_fitted = False
        self._elapsed0 = 0.0  # budget seconds spent before this process (a resumed checkpoint's)
        self.reference_acc: Optional[float] = None  # the probe's test accuracy (curves.png)
        self.schedule_start = 0  # the step the budget was fitted at (the lr schedule's start)
        self.command = "train-fixmatch"
        self.memory_hint = ("--micro-batches N (each step's batch in N forwards; --resume takes "
                            "it), or a lower --batch-size or --mu (a new run: a new --out)")
        self.divergence_hint = f"a lower --lr (now {cfg.lr:g})" + (
            f" or --encoder-lr-scale (now {cfg.encoder_lr_scale:g})" if cfg.init else "")

    def _join(self, cfg: FixMatchConfig) -> torch.device:
        """This process's device (cuda:LOCAL_RANK under torchrun), the process group joined
        (hume_ssl.core.distributed), world and rank set; the batch must split over the ranks."""
        dev = resolve_device(cfg.device, local_rank())  # indexed on CUDA
        distributed.init(dev)
        self.world, self.rank = distributed.world_size(), distributed.rank()
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        elif cfg.steps > 10_000 and cfg.budget_minutes is None:
            warnings.warn("FixMatch runs on the CPU, orders of magnitude slower than on a GPU; "
                          "use --steps for a short run.", stacklevel=3)
        if cfg.batch_size % self.world:
            raise HumeSSLError(
                f"--batch-size {cfg.batch_size} is not divisible by {self.world} processes."
            )
        return dev

    def _build_model(self, init: Optional[Init]) -> None:
        """The classifier (same initial weights on every process), its EMA, the SGD optimizer
        and the network a step runs (DDP-wrapped, compiled when asked)."""
        cfg, dev = self.cfg, self.device
        torch.manual_seed(torch_seed(cfg.random_state))
        if init is not None:
            model, _ = init_classifier(init, self.k, bn_momentum_for(cfg))
        else:
            model = build_classifier(cfg.arch, self.k, bn_momentum_for(cfg), cfg.input_size)
        model = model.to(dev)
        self.channels_last = cfg.channels_last and dev.type == "cuda"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.world > 1 and dev.type == "cuda" and cfg.sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model  # the plain module: state dicts, EMA
        self.ema = EMA(model, cfg.ema_decay, cfg.ema_warmup)
        self.opt = build_optimizer(model, cfg)  # the recipe's (fixmatch/recipes.py)
        net = model
        if self.world > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[dev.index] if dev.type == "cuda" else None
            )
        self.net = torch.compile(net) if cfg.compile else net

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
        us = strong_augment(xu, g, self.cfg.randaugment_ops, self.cfg.cutout, self.cfg.translate)
        x = torch.cat([xl, uw, us])  # (B + 2uB, 3, H, W)
        if self.cfg.input_size:  # to the encoder's size, on the device: (B + 2uB, 3, S, S)
            x = resize(x, self.cfg.input_size)
        x = normalize(x, self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.lab_y[j], ui

    def train_step(self) -> None:
        cfg = self.cfg
        lr = self._lr(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        x, y, ui = self._batch()
        self.net.train()
        self.opt.zero_grad(set_to_none=True)
        bf16 = cfg.bf16 and self.device.type == "cuda"
        out = accumulate_step(  # in cfg.micro_batches parts (fixmatch/microbatch.py)
            lambda xj, yj, b, u: fixmatch_step(self.net, xj, yj, b, u, cfg.threshold,
                                               cfg.lambda_u, bf16=bf16),
            x, y, self.bl, self.bu, cfg.micro_batches, self.net)
        clip_gradients(self.model, cfg)  # the recipe's (fixmatch/recipes.py)
        self.opt.step()
        self.ema.update(self.model, self.step)
        self.step += 1
        self._accumulate(out, ui)

    def _lr(self, step: int) -> float:
        """The lr at `step`: the initial one while a budget is being timed (times the first
        step's warm-up over the --steps bound, no more than the fitted warm-up's first: near 0
        for a recipe with a warm-up), then the warm-up and the cosine over the fitted steps
        from where the timing ended (the lr only rises there; train.budget.schedule_fraction)."""
        if self.budget_timer is not None:
            return self.cfg.lr * warmup_factor(self.cfg, 0, self.cfg.steps)
        return lr_at(self.cfg, step, self.total_steps, self.schedule_start)

    def _accumulate(self, out: dict[str, torch.Tensor], ui: torch.Tensor) -> None:
        """Add a step's losses, mask rate and pseudo-label confusion to the interval's sums
        (on the device: read at log steps only)."""
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
        model = (self.ema.module if use_ema else self.model).eval()
        return batched_forward(model, images, self.mean, self.std, self.device,  # (N, k)
                               self.cfg.eval_batch_size, self.cfg.bf16,
                               input_size=self.cfg.input_size)

    def eval_due(self, last: bool) -> bool:
        return last or self.step % self.cfg.eval_every == 0

    def evaluate(self) -> Optional[float]:
        if self.rank != 0 or self.test_images is None or self.test_truth is None:
            return None
        pred = self.predict_logits(self.test_images).argmax(1).cpu().numpy()
        truth = np.asarray(self.test_truth)
        counts = np.zeros((self.k, int(max(truth.max(), 0)) + 1))
        np.add.at(counts, (pred, truth), 1)
        acc = accuracy_from_counts(counts, self.aligned)
        if acc is None:
            return None
        self.evals.append((self.step, acc))
        return acc

    def median_test_acc(self) -> Optional[float]:
        if not self.evals:
            return None
        return float(np.median([a for _, a in self.evals[-self.cfg.eval_median_of :]]))

    # ---------------------------------------------------------------- logging, checkpoints
    def log(self, test_acc: Optional[float]) -> dict:
        # every rank's share of the interval (under torchrun), then the one host sync
        a = {k: v.detach().cpu().numpy() for k, v in distributed.sum_tensors(self.acc).items()}
        n = max(float(a["n"]), 1.0)
        # the same sums on every rank: all ranks stop together
        self.check_losses({"loss_x": float(a["loss_x"]) / n, "loss_u": float(a["loss_u"]) / n},
                          self._step_last)
        now = time.perf_counter()
        row = {
            "step": self.step,
            "lr": self._lr(self.step - 1),
            "loss_x": float(a["loss_x"]) / n,
            "loss_u": float(a["loss_u"]) / n,
            "mask_rate": float(a["mask"]) / n,
            "pl_acc_masked": "",
            "pl_acc_all": "",
            "test_acc": "" if test_acc is None else test_acc,
            "steps_per_s": (self.step - self._step_last) / max(now - self._t_last, 1e-9),
            "elapsed_s": self._elapsed0 + now - self._t0,  # a resumed run's clock goes on
        }
        if self.truth is not None:
            shape = (self.k, self.n_true)
            row["pl_acc_masked"] = _acc_or_blank(a["conf_masked"].reshape(shape), self.aligned)
            row["pl_acc_all"] = _acc_or_blank(a["conf_all"].reshape(shape), self.aligned)
        self._t_last, self._step_last = now, self.step
        self._reset_acc()
        if self.rank == 0:
            append_metrics(self.out / METRICS_CSV, CSV_FIELDS, row)
            if self._tb is not None:
                for k, v in row.items():
                    if k != "step" and v != "":
                        self._tb.add_scalar(k, v, self.step)
        self.callback("log", row)
        return row

    def finite_tensors(self) -> list:
        return [*self.model.state_dict().values(), *self.ema.module.state_dict().values()]

    def state_dict(self) -> dict:
        gens = distributed.all_gather(self.gen.get_state())  # every rank's generator
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
            "total_steps": self.total_steps,
            "budget_fitted": self.budget_fitted,
            "budget_elapsed_s": self.elapsed(),
            "schedule_start": self.schedule_start,
            "identity": self.identity,
        }

    def save(self) -> None:
        st = self.state_dict()  # collective under DDP: every rank calls it
        if self.rank == 0:
            save_checkpoint(self.out / CHECKPOINT, st)
            write_curves(self.out / METRICS_CSV, self.out / "curves.png",
                         f"FixMatch ({self.cfg.arch})",
                         ("loss_x", "loss_u", "mask_rate", "pl_acc_masked", "test_acc"),
                         references={"test_acc": self.reference_acc})

    def load(self, path: str | Path) -> None:
        st = load_checkpoint(path, map_location="cpu")
        check_resume_keys(st["config"], self.cfg.to_dict(), FixMatchConfig.RESUME_KEYS)
        self.model.load_state_dict(st["model"])
        self.ema.module.load_state_dict(st["ema"])
        saved = group_layout(st["optimizer"]["param_groups"])
        now = group_layout(self.opt.param_groups)
        if saved != now:  # torch maps a group's state by position: it would land elsewhere
            raise HumeSSLError(
                f"{path}: its optimizer groups (parameters, lr scale, weight decay) {saved} are "
                f"not this version's {now} (a run checkpointed before the vit recipe kept the "
                "position embedding from weight decay?); it cannot resume: start it again in a "
                "new --out.")
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
        self.total_steps = int(st.get("total_steps", self.cfg.steps))
        self.budget_fitted = bool(st.get("budget_fitted", False))
        self._elapsed0 = float(st.get("budget_elapsed_s", 0.0))
        self.schedule_start = int(st.get("schedule_start", 0))
        self._set_bn_momentum()
        if self.rank == 0:  # rows logged after the checkpoint will be logged again
            truncate_metrics(self.out / METRICS_CSV, self.step)

    # ---------------------------------------------------------------- loop hooks
    def on_start(self) -> None:
        self._tb = None
        if self.cfg.tensorboard and self.rank == 0:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tensorboard"))
            except Exception:  # tensorboard not installed
                self._tb = None
        self._t_start = time.perf_counter()
        timing = self.cfg.budget_minutes is not None and not self.budget_fitted
        self.budget_timer = (StepTimer(self.step, self.device, self.elapsed,
                                       self.cfg.budget_minutes * 60.0) if timing else None)
        self.callback("start", {"step": self.step, "steps": self.total_steps,
                                "device": str(self.device), "world": self.world,
                                "budget_minutes": self.cfg.budget_minutes if timing else None})
        self._t0 = self._t_last = time.perf_counter()
        self._step_last = self.step

    # ---------------------------------------------------------------- budget
    def _set_bn_momentum(self) -> None:
        """BN momentum for the run's length (10 / steps on short runs, see bn_momentum_for)."""
        m = bn_momentum_for(self.cfg, self.total_steps)
        set_bn_momentum(self.model, m)
        set_bn_momentum(self.ema.module, m)

    def elapsed(self) -> float:
        """Seconds of training the budget has paid for (its clock): since this process
        started training, plus those of the run a resume continues."""
        return self._elapsed0 + time.perf_counter() - self._t_start

    def after_step(self) -> None:
        """Under --budget-minutes: after 5 warm-up steps, time 20 steps (each phase shorter once
        it has taken an eighth of the budget: train.budget.StepTimer) and one evaluation, then
        fit the number of steps (whole log intervals, the last cut at --steps) so the schedule
        ends in time."""
        t_step = self.budget_timer.tick(self.step) if self.budget_timer else None
        if t_step is None:
            return
        t_eval = 0.0
        if self.rank == 0 and self.test_images is not None:
            t = self.elapsed()
            self.predict_logits(self.test_images)  # timed, not recorded
            t_eval = self.elapsed() - t
        cfg, unit = self.cfg, max(1, self.cfg.log_every)
        left = cfg.budget_minutes * 60.0 - self.elapsed()
        # a last, partial interval up to --steps counts (before: --steps 100 at --log-every 64
        # trained 64 steps in any budget, and --steps 40 none); it is costed as a whole one
        units = units_in_budget(left, t_step, t_eval, self.step, unit, -(-cfg.steps // unit),
                                lambda u: min(u * unit, cfg.steps) // cfg.eval_every + 1)
        units = distributed.broadcast(units)  # rank 0's fit, or the ranks deadlock at the end
        if units == 0:
            need = (unit * t_step + t_eval) / 60 + self.elapsed() / 60
            raise HumeSSLError(
                f"--budget-minutes {cfg.budget_minutes:g} is too small for one log interval "
                f"({unit} steps at {t_step * 1e3:.0f} ms) and one evaluation ({t_eval:.1f} s) "
                f"after the setup; pass --budget-minutes {math.ceil(need * 120) / 100:g} or "
                "more."  # (rounded up: a fast machine's need printed as 0.00, itself refused)
            )
        self.total_steps = min(units * unit, cfg.steps)
        self.budget_fitted, self.budget_timer = True, None
        self.schedule_start = self.step
        self._set_bn_momentum()
        self.callback("budget", {"total_steps": self.total_steps, "s_per_step": t_step,
                                 "s_per_eval": t_eval})

    def fit(self, resume: bool = False) -> FixMatchTrainer:
        try:
            super().fit(resume)
        finally:
            if self._tb is not None:
                self._tb.close()
                self._tb = None
        self.callback("end", {"step": self.step, "median_test_acc": self.median_test_acc()})
        return self


# moved in 0.2 (each still imports from here, with a warning, until 0.3)
__getattr__ = moved(__name__, {
    "fixmatch_loss": "hume_ssl.fixmatch.loss",
    "param_groups": "hume_ssl.fixmatch.recipes",
    "predict_logits": "hume_ssl.fixmatch.predict",
})
