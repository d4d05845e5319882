"""A diverged run stops: a non-finite loss or weight is an error, never a result.

Both trainers read their losses at log steps only (one host sync); there they check them, and
before every checkpoint the loop checks the weights (`Trainer.check_finite`), so a checkpoint on
disk always holds finite weights and a NaN model is never exported as if training had finished.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import torch

from hume_ssl.core.errors import HumeSSLError


class DivergedError(HumeSSLError):
    """Training produced a non-finite loss or weight (the CLI prints it, exit 2)."""


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """Whether every element of `tensors` is finite (one host sync)."""
    bad = [(~torch.isfinite(t.detach())).sum() for t in tensors if t.is_floating_point()]
    return not bad or int(torch.stack(bad).sum()) == 0


def is_finite(*values: float) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def history_text(history: Sequence[tuple[int, float]], shown: int = 6) -> str:
    """'2.31 (step 1) -> 37.8 -> 6.57e+03 -> nan (step 5)': the last logged losses."""
    h = list(history)[-shown:]
    if not h:
        return ""
    vals = " -> ".join(f"{v:.3g}" for _, v in h)
    first, last = h[0][0], h[-1][0]
    return f" (loss at steps {first}..{last}: {vals})" if first != last else f" (loss {vals})"


def diverged_error(command: str, what: str, steps: tuple[int, int], history, out,
                   saved_step: Optional[int], hint: str) -> DivergedError:
    """The error a diverged run raises: the step, what to try, and what was kept."""
    a, b = steps
    where = f"at step {b}" if a >= b - 1 else f"between steps {a + 1} and {b}"
    kept = (f"The last checkpoint with finite weights (step {saved_step}) is kept in "
            f"{out}/checkpoint.pt for inspection; nothing was exported."
            if saved_step is not None else
            "No checkpoint had been written yet, so nothing was kept.")
    return DivergedError(
        f"{command} diverged: {what} {where}{history_text(history)}. {kept} Try {hint}, "
        "in a new --out (--resume would repeat the same steps)."
    )
