"""The software versions every run records next to its outputs."""

from __future__ import annotations

import platform
import sys

__version__ = "0.2.0.dev0"  # the package's version (pyproject.toml says the same)


def versions(optional: bool = True) -> dict[str, str]:
    """hume_ssl, python, numpy, torch, and (`optional`) torchvision / timm when they are
    installed."""
    import numpy
    import torch

    out = {
        "hume_ssl": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
    }
    for mod in ("torchvision", "timm") if optional else ():
        if mod in sys.modules or _importable(mod):
            try:
                out[mod] = __import__(mod).__version__
            except Exception:  # a broken optional install must not stop a run
                pass
    return out


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
