"""The one exception type users see: a message that names the problem and the fix."""

from __future__ import annotations

import difflib
from typing import Sequence

from sklearn.exceptions import NotFittedError as SklearnNotFittedError


class HumeSSLError(Exception):
    """Bad input or state that the user can fix. The CLI prints it and exits with status 2."""


class NotFittedError(HumeSSLError, SklearnNotFittedError):
    """An estimator was used before `fit` (scikit-learn's NotFittedError too, so its `except`
    clauses catch it; an AttributeError, so `hasattr` says False)."""


def raise_first_failed(checks: list[tuple[bool, str]]) -> None:
    """Raise HumeSSLError(message + ".") for the first (ok, message) pair that is not ok."""
    for ok, msg in checks:
        if not ok:
            raise HumeSSLError(msg + ".")


def unknown_choice(kind: str, name: str, valid: Sequence[str], shown: int = 40) -> HumeSSLError:
    """The error for a name that is not in a registry: the closest valid name and the list."""
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(valid[:shown]) + (" ..." if len(valid) > shown else "")
    return HumeSSLError(f"unknown {kind} {name!r}.{hint} Valid: {listed}.")
