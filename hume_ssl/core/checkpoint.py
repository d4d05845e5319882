"""Training checkpoints: one file holding everything needed to continue a run exactly.

Written atomically (temp file + rename, hume_ssl.core.io), so a run killed while saving keeps the
previous checkpoint. Holds model, EMA model, optimizer, step, metric accumulators and every RNG
state (Python, NumPy, torch CPU/CUDA and the device generator that draws batches and
augmentations).
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"
FORMAT = 1


def rng_state(generator: Optional[torch.Generator] = None) -> dict:
    st = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        st["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        st["generator"] = generator.get_state()
    return st


def set_rng_state(st: dict, generator: Optional[torch.Generator] = None) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    if generator is not None and "generator" in st:
        generator.set_state(st["generator"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise HumeSSLError(
            f"no checkpoint to resume from: {path} does not exist; drop --resume to "
            "start a new run."
        )
    try:
        # weights_only=False: the file also holds RNG states (NumPy tuples); it is our own output
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated / corrupt / not a torch file
        raise HumeSSLError(
            f"checkpoint {path} is corrupt or unreadable ({type(e).__name__}: {e}). Delete it to "
            "restart the run from scratch, or train into a new --out."
        ) from e
    if not isinstance(state, dict) or state.get("format") != FORMAT or "step" not in state:
        raise HumeSSLError(
            f"{path} is not a hume-ssl training checkpoint (format {FORMAT}); "
            "delete it or train into a new --out."
        )
    return state
