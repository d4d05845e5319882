"""Fitting a training schedule into a wall-clock budget, from timed steps."""

from __future__ import annotations

from typing import Callable, Optional

import torch

WARMUP_STEPS, TIMED_STEPS = 5, 20  # steps run before timing starts, then steps timed


class StepTimer:
    """Seconds per training step, measured once: WARMUP_STEPS steps after `start_step`, time
    the next TIMED_STEPS (CUDA synchronised at both ends). `clock()` gives seconds."""

    def __init__(self, start_step: int, device: torch.device, clock: Callable[[], float]):
        self.marks = (start_step + WARMUP_STEPS, start_step + WARMUP_STEPS + TIMED_STEPS)
        self.device, self.clock, self.t0 = device, clock, None

    def tick(self, step: int) -> Optional[float]:
        """Call after every step; returns the seconds per step once, at the last timed step."""
        if step not in self.marks:
            return None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if self.t0 is None:
            self.t0 = self.clock()
            return None
        return (self.clock() - self.t0) / TIMED_STEPS


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
    candidate is 7 units (28 steps), never 6 (24 steps, already behind the run).
    """
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
