"""Range checks of the trainers' numeric options, as (ok, message) pairs for
core.errors.raise_first_failed: NaN and inf fail every one of them, so `--lr nan` or
`--lr inf` is refused before any work, with the value given."""

from __future__ import annotations

import math
from typing import Optional


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def positive(flag: str, v, optional: bool = False) -> tuple[bool, str]:
    """A finite number > 0 (or None when `optional`)."""
    return (optional and v is None) or (_real(v) and v > 0), \
        f"{flag} must be a finite number > 0 (got {v})"


def within(flag: str, v, lo: float, hi: float, lo_open: bool = False,
           hi_open: bool = False) -> tuple[bool, str]:
    """A finite number in [lo, hi], ( or ) where open."""
    ok = _real(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    return ok, f"{flag} must lie in {span} (got {v})"


def at_least(flag: str, v, lo: float, hi: Optional[float] = math.inf) -> tuple[bool, str]:
    """A finite number >= lo."""
    return _real(v) and lo <= v < hi, f"{flag} must be a finite number >= {lo:g} (got {v})"
