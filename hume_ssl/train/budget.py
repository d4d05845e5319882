"""Fitting a training schedule into a wall-clock budget, from timed steps."""

from __future__ import annotations

from typing import Callable, Optional

import torch

from hume_ssl.core.distributed import broadcast

WARMUP_STEPS, TIMED_STEPS = 5, 20  # steps run before timing starts, then steps timed
TIMING_SHARE = 0.25  # of the budget left when timing starts: warm-up and timing end early once
# each has taken half of it (a slow step must not spend the budget on being timed)


def length_record(bound: str, budget_minutes: Optional[float]) -> dict:
    """config.json's `length`: the setting that bounds the schedule (`bound`, e.g.
    "fixmatch.steps"), whether --budget-minutes fits it when training starts, and where the
    run's length is then recorded (config.json is written before the fit)."""
    fitted = budget_minutes is not None
    return {"bound": bound, "fitted_by_budget": fitted,
            "length_in": "metrics.json total_steps" if fitted else bound}


OVER_BUDGET = 1.25  # a run that took more than this share of its --budget-minutes says so


def budget_use(budget_minutes: Optional[float], elapsed_s: float, callback=None,
               what: str = "run") -> Optional[dict]:
    """metrics.json's `budget`: the --budget-minutes given and the share of it the run took
    (None without one). Past OVER_BUDGET a warning says so (before: a run 5x over its budget
    on a loaded CPU said nothing): the fit times the steps once, at the start."""
    if budget_minutes is None:
        return None
    share = elapsed_s / (60 * budget_minutes)
    if share > OVER_BUDGET:
        from hume_ssl.train.loop import say_warning

        say_warning(callback, f"the {what} took {elapsed_s / 60:.2f} min, {share:.1f}x its "
                    f"--budget-minutes {budget_minutes:g}: its steps ran slower than when they "
                    "were timed at the start (other work on the machine? on a CPU, "
                    "OMP_NUM_THREADS at or below the free cores helps).")
    return {"budget_minutes": budget_minutes, "elapsed_s": round(elapsed_s, 3),
            "share_used": round(share, 3)}


class StepTimer:
    """Seconds per training step, measured once: up to WARMUP_STEPS steps after `start_step`,
    then up to TIMED_STEPS timed steps (CUDA synchronised at both ends). With `budget_s` (the
    whole budget, in seconds of `clock()`, which counts from the run's start) each phase also
    ends once it has taken TIMING_SHARE / 2 of the seconds left when the timer starts, after at
    least one step. Under torchrun every rank
    ends each phase at the step rank 0 ends it (its clock decides), so every rank fits its
    budget at the same step."""

    def __init__(self, start_step: int, device: torch.device, clock: Callable[[], float],
                 budget_s: Optional[float] = None):
        self.start, self.device, self.clock = start_step, device, clock
        self.t_start, self.t0, self.step0 = clock(), None, None
        self.phase_s = (None if budget_s is None
                        else max(budget_s - self.t_start, 0.0) * TIMING_SHARE / 2)

    def tick(self, step: int) -> Optional[float]:
        """Call after every step; returns the seconds per step once, at the last timed step."""
        if self.t0 is None:  # warming up
            if not self._ends(step - self.start >= WARMUP_STEPS, self.t_start):
                return None
            self._sync()
            self.t0, self.step0 = self.clock(), step
            return None
        if not self._ends(step - self.step0 >= TIMED_STEPS, self.t0):
            return None
        self._sync()
        return (self.clock() - self.t0) / (step - self.step0)

    def _ends(self, counted: bool, since: float) -> bool:
        """Whether the phase begun at clock `since` ends at this step: its steps are counted, or
        it has used its share of the budget; rank 0's answer on every rank."""
        if self.phase_s is None:
            return counted
        return bool(broadcast(counted or self.clock() - since >= self.phase_s))

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def units_in_budget(
    seconds_left: float,
    seconds_per_step: float,
    seconds_per_eval: float,
    steps_done: int,
    steps_per_unit: int,
    max_units: int,
    evals_for: Callable[[int], int],
) -> int:
    """The largest number of units (epochs, or blocks of steps), at most `max_units`, whose
    remaining steps and `evals_for(units)` evaluations fit in `seconds_left`; 0 when none does.

    Only plans that end after `steps_done` count: with 25 steps done at 4 per unit, the first
    candidate is 7 units (28 steps), never 6 (24 steps, already behind the run); a run timed to
    exactly `max_units` units is done, and all of them count.
    """
    if steps_done == max_units * steps_per_unit:  # timed to the last step: the whole schedule
        return max_units  # is done (before: 0, "too small", after every step had trained)
    units, u = 0, steps_done // steps_per_unit  # units already complete
    while u < max_units:
        u += 1
        steps = u * steps_per_unit - steps_done  # > 0
        cost = steps * seconds_per_step + evals_for(u) * seconds_per_eval
        if cost > seconds_left:
            break
        units = u
    return units


def schedule_fraction(step: int, total_steps: int, start: int = 0) -> float:
    """How far `step` is along a schedule of `total_steps` that begins at `start`, in [0, 1].

    Under a budget, `start` is the step at which the number of steps was fitted: the steps
    before it (the timed ones) run at the schedule's initial value and the schedule continues
    from there, so the learning rate has no jump where the budget is fitted.
    """
    return min(1.0, max(0, step - start) / max(total_steps - start, 1))
