"""The training loop both trainers run: step, evaluate, log, checkpoint, stop cleanly.

A subclass holds its model and data and implements the hooks; `Trainer.fit` owns the order:

    for each step until total_steps:
        train_step()                      one optimizer step, no host sync
        after_step()                      e.g. time the first steps and fit the budget
        evaluate() when eval_due(last)    test accuracy / kNN monitor
        callback("step")                  every step: progress (no host sync)
        log(result) at log steps          one host sync: a metrics.csv row + callback("log");
                                          a non-finite loss stops the run (train.finite)
        save() at checkpoint steps, at the end, and when a stop was requested, once
                                          check_finite() found the weights finite
        stop requested (SIGTERM/SIGINT): raise KeyboardInterrupt after the checkpoint

A run resumed from the checkpoint continues exactly: the accumulators of the unfinished log
interval, every RNG state and the step are in the checkpoint.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from hume_ssl.core import distributed
from hume_ssl.core.checkpoint import CHECKPOINT
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.train.finite import all_finite, diverged_error, is_finite
from hume_ssl.train.metrics import METRICS_CSV
from hume_ssl.train.signals import StopSignals

Callback = Callable[[str, dict], None]


def say_warning(callback: Optional[Callback], message: str, stacklevel: int = 3) -> None:
    """A run's warning: through its callback (event "warning": the CLI's display) when it has
    one, else as a Python warning (`stacklevel` counted from the caller)."""
    if callback:
        callback("warning", {"message": message})
    else:
        warnings.warn(message, stacklevel=stacklevel + 1)


class Trainer:
    """Scaffold. Subclasses set: out, step, total_steps, log_every, checkpoint_every, callback,
    and implement train_step, eval_due, evaluate, log, save, load."""

    out: Path
    device: torch.device  # where the run's tensors live (the stop flag's all-reduce too)
    step: int = 0
    total_steps: int = 0
    log_every: int = 1
    checkpoint_every: int = 1
    callback: Callback
    stop_requested: bool = False
    budget_timer = None  # a train.budget.StepTimer while a budget is being timed, else None
    saved_step: Optional[int] = None  # the step of the checkpoint in `out`, if there is one
    rank: int = 0  # this process under torchrun (rank 0 writes the run's files)
    command = "training"  # names the run in a divergence error
    divergence_hint = "a lower --lr"  # what to try when the run diverges
    memory_hint = "a lower --batch-size (a new run: a new --out)"  # when a step runs out of memory

    # ------------------------------------------------------------ hooks
    def train_step(self) -> None:
        raise NotImplementedError

    def eval_due(self, last: bool) -> bool:
        return last

    def evaluate(self) -> Optional[Any]:
        return None

    def log(self, result: Optional[Any]) -> None:
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError

    def load(self, path: Path) -> None:
        raise NotImplementedError

    def on_start(self) -> None:
        """Before the first step of this call (after a resume has loaded its state)."""

    def after_step(self) -> None:
        """After every step, before evaluation and logging."""

    def checkpoint_due(self, last: bool) -> bool:
        """At the end and every checkpoint_every steps, but not while a budget is being timed:
        a budget too small fails before anything is kept."""
        timing = self.budget_timer is not None
        return last or (not timing and self.step % self.checkpoint_every == 0)

    def agree_stop(self) -> bool:
        """Whether to stop now. Under torchrun the ranks agree, at log steps and the last one
        (a signal may reach them at different steps): one stops, all stop."""
        if distributed.world_size() == 1:
            return self.stop_requested
        if self.step % self.log_every and self.step < self.total_steps:
            return False
        flag = distributed.sum_tensors(
            {"stop": torch.tensor([float(self.stop_requested)], device=self.device)})
        return bool(flag["stop"].item() > 0)

    def on_end(self) -> None:
        """After the last step."""

    def finite_tensors(self) -> list:
        """The tensors a checkpoint keeps that must be finite (the weights)."""
        return []

    # ------------------------------------------------------------ divergence
    def check_losses(self, losses: dict[str, float], since: int) -> None:
        """At a log step: raise DivergedError when a loss of the steps since `since` is not
        finite; else remember it for the message of a later divergence."""
        history = getattr(self, "_loss_history", [])
        name, value = next(iter(losses.items()))
        bad = [k for k, v in losses.items() if not is_finite(v)]
        if bad:
            history = history + [(self.step, float(losses[bad[0]]))]
            what = f"{bad[0]} became {float(losses[bad[0]])}"
            raise diverged_error(self.command, what, (since, self.step), history, self.out,
                                 self.saved_step, self.divergence_hint)
        self._loss_history = (history + [(self.step, float(value))])[-5:]

    def check_finite(self) -> None:
        """Before a checkpoint: the weights must be finite (a NaN model is never kept)."""
        if not all_finite(self.finite_tensors()):
            raise diverged_error(self.command, "the weights became non-finite",
                                 (self.step - 1, self.step), getattr(self, "_loss_history", []),
                                 self.out, self.saved_step, self.divergence_hint)

    def progress(self) -> None:
        """Tell the callback a step is done (no host sync): progress between log rows."""
        if self.callback is not None:
            self.callback("step", {"step": self.step, "total_steps": self.total_steps})

    # ------------------------------------------------------------ the loop
    def request_stop(self) -> None:
        """Ask the loop to checkpoint and stop after the current step (what SIGTERM does)."""
        self.stop_requested = True

    def memory_guarded_step(self) -> None:
        """One train_step; running out of the device's memory is one line naming what to
        change (a CUDA out-of-memory error; the CPU's is the OS killing the process)."""
        try:
            self.train_step()
        except torch.cuda.OutOfMemoryError:  # (torch.OutOfMemoryError from torch 2.5)
            kept = (f"; its checkpoint at step {self.saved_step} is kept"
                    if self.saved_step is not None else "")
            raise HumeSSLError(f"{self.command} ran out of {self.device} memory at step "
                               f"{self.step + 1}: try {self.memory_hint}{kept}.") from None

    def fit(self, resume: bool = False):
        self.out.mkdir(parents=True, exist_ok=True)
        self.stop_requested = False
        if resume:
            self.load(self.out / CHECKPOINT)
            self.saved_step = self.step
        elif self.rank == 0:  # a new run: no rows of a start that died before its checkpoint
            (self.out / METRICS_CSV).unlink(missing_ok=True)
        self.start_step = self.step  # a resumed finished run trains nothing: step - start_step
        with StopSignals(self.request_stop):
            self.on_start()
            while self.step < self.total_steps:
                self.memory_guarded_step()
                self.after_step()
                self.progress()
                last = self.step >= self.total_steps
                due = self.eval_due(last)
                result = self.evaluate() if due else None
                if due or last or self.step % self.log_every == 0:
                    self.log(result)
                stop = self.agree_stop()
                if stop or self.checkpoint_due(last):
                    self.check_finite()
                    self.save()
                    self.saved_step = self.step
                if stop:
                    raise KeyboardInterrupt(
                        f"stopped at step {self.step}; checkpoint saved in {self.out}"
                    )
        self.on_end()
        return self
