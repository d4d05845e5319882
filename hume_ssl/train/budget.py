"""Fitting a training schedule into a wall-clock budget, from timed steps."""

from __future__ import annotations

from typing import Callable


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
    """
    units = 0
    while units < max_units:
        u = units + 1
        steps = u * steps_per_unit - steps_done
        cost = steps * seconds_per_step + evals_for(u) * seconds_per_eval
        if cost > seconds_left:
            break
        units = u
    return units
