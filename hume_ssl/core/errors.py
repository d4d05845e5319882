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


def unknown_choice(kind: str, name: str, valid: Sequence[str], shown: int = 40,
                   how_to_list: str = "") -> HumeSSLError:
    """The error for a name that is not in a registry: the closest valid name, and the list
    when it has at most `shown` names; a longer one (timm's ~1,300 models) by its nearest
    names, its size and `how_to_list` (the first 40 alphabetically helped no one)."""
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if len(valid) <= shown:
        return HumeSSLError(f"unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}.")
    near = difflib.get_close_matches(name, valid, n=8, cutoff=0.4)
    nearest = f"; the nearest: {', '.join(near)}" if near else ""
    listing = f"; list them with {how_to_list}" if how_to_list else ""
    return HumeSSLError(f"unknown {kind} {name!r}.{hint} {len(valid):,} are valid"
                        f"{nearest}{listing}.")
