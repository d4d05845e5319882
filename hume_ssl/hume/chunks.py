"""Where HUME's restarts are saved between runs, and which of them this process trains.

    store = ChunkStore(checkpoint_dir, fingerprint)   # checkpoint_dir None: saves nothing
    done = store.finished()                           # {restart: (encoder (k, d1), curve)}
    todo = lane_plan(n_restarts, done, rank, world)   # this rank's unfinished restarts

A finished chunk is one `chunks/restarts_AAAAA-BBBBB.npz` (its restarts' encoders and loss
curves); the chunk in progress is `chunks/partial.pt` (one per torchrun rank). Both carry the
fingerprint of the inputs and result-changing settings, so a re-run resumes only its own work.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hume_ssl.core import distributed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import atomic_save_npz, atomic_write_bytes, json_text
from hume_ssl.hume.engine import LANE

Finished = dict[int, tuple[np.ndarray, np.ndarray]]  # restart -> (encoder (k, d1), curve)


CHUNKS = "chunks"  # the folder of a run that holds its finished and partial chunks

def partial_name() -> str:
    """The unfinished chunk's state file in checkpoint_dir/chunks/ (one per torchrun rank)."""
    r = distributed.rank()
    return "partial.pt" if distributed.world_size() == 1 else f"partial_rank{r}.pt"


def lane_plan(n_restarts: int, finished: set[int], rank: int, world: int) -> np.ndarray:
    """The unfinished restarts (ascending) this rank trains: whole lanes of LANE restarts (the
    engine's batch), dealt to the ranks in turn so that every lane is trained exactly once."""
    todo = [r for r in range(n_restarts) if r not in finished]
    lanes = sorted({r // LANE for r in todo})
    mine = set(lanes[rank::world])
    return np.array([r for r in todo if r // LANE in mine], dtype=np.int64)


def _saved_identity(z):
    """The identity a finished chunk file saved (None: written before identities were, or not
    readable as one: the fingerprint alone then decides)."""
    try:  # (differences checks its shape)
        return json.loads(str(z["identity"])) if "identity" in z.files else None
    except ValueError:
        return None


def differences(theirs: Optional[dict], ours: Optional[dict]) -> str:
    """What differs between two fits' identities ({"inputs": hash, "cfg": {setting: value}}),
    as a reader names it ("n_steps 30 -> 40, the input features"); "" when unknown (a chunk
    written before identities were saved)."""
    if not isinstance(theirs, dict) or not isinstance(ours, dict) or not all(
            isinstance(i.get("cfg"), dict) for i in (theirs, ours)):
        return ""
    said = [f"{k} {theirs['cfg'].get(k)!r} -> {ours['cfg'].get(k)!r}"
            for k in sorted(set(theirs["cfg"]) | set(ours["cfg"]))
            if theirs["cfg"].get(k) != ours["cfg"].get(k)]
    if theirs.get("inputs") != ours.get("inputs"):
        said.append("the input features")
    return ", ".join(said)


class ChunkStore:
    """The finished and the unfinished chunk files of one fit; without a checkpoint_dir every
    read finds nothing and every write is skipped. `identity` ({"inputs", "cfg"}: what the
    fingerprint hashes) is saved beside it, so a chunk of another fit can say what differs."""

    def __init__(self, checkpoint_dir: Optional[str | Path], fingerprint: str,
                 identity: Optional[dict] = None):
        self.folder = None if checkpoint_dir is None else Path(checkpoint_dir) / CHUNKS
        self.fingerprint = fingerprint
        self.identity = identity

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def finished(self) -> Finished:
        """Every restart of a finished chunk file; an unreadable file (killed mid-write
        elsewhere) is deleted and recomputed, one from other inputs is an error."""
        done: Finished = {}
        if self.folder is None:
            return done
        for path in sorted(self.folder.glob("restarts_*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    if str(z["fingerprint"]) != self.fingerprint:
                        what = differences(_saved_identity(z), self.identity)
                        raise HumeSSLError(
                            f"{path} was made from other inputs or settings than this run"
                            + (f" ({what})" if what else "") + "; use another --out (Python: "
                            "another checkpoint_dir), or delete its chunks/ folder to start over."
                        )
                    for j, r in enumerate(z["restarts"]):
                        done[int(r)] = (z["encoders"][j], z["curves"][:, j])
            except HumeSSLError:
                raise
            except Exception:
                path.unlink(missing_ok=True)
        return done

    def partial(self, ids: np.ndarray) -> Optional[dict]:
        """The saved engine state of an unfinished chunk of exactly these restarts, or None."""
        if self.folder is None:
            return None
        path = self.folder / partial_name()
        if not path.exists():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=False)
        except Exception:  # unreadable (killed mid-write elsewhere): start the chunk over
            path.unlink(missing_ok=True)
            return None
        if saved.get("fingerprint") != self.fingerprint:  # another fit's: it starts over
            what = differences(saved.get("identity"), self.identity)
            warnings.warn(f"{path}: an unfinished chunk of other inputs or settings"
                          + (f" ({what})" if what else "") + "; its restarts start over.",
                          stacklevel=2)
            return None
        if list(saved["ids"]) != ids.tolist():  # another chunk of this fit (another plan)
            return None
        return saved["state"]

    def save_partial(self, ids: np.ndarray, state: dict) -> None:
        buf = io.BytesIO()
        torch.save({"fingerprint": self.fingerprint, "identity": self.identity,
                    "ids": ids.tolist(), "state": state}, buf)
        atomic_write_bytes(self.folder / partial_name(), buf.getvalue())

    def save_finished(self, ids: np.ndarray, encoders: np.ndarray, curves: np.ndarray) -> None:
        """Write a finished chunk (atomically) and drop its partial state."""
        if self.folder is None:
            return
        name = f"restarts_{ids[0]:05d}-{ids[-1]:05d}.npz"
        atomic_save_npz(self.folder / name, restarts=ids, encoders=encoders, curves=curves,
                        fingerprint=np.array(self.fingerprint),
                        identity=np.array(json_text(self.identity)))
        (self.folder / partial_name()).unlink(missing_ok=True)
