"""Guards around a run folder: a new run never overwrites one, a resume continues the same run."""

from __future__ import annotations

import shutil
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator, Sequence

from hume_ssl.core import distributed
from hume_ssl.core.checkpoint import CHECKPOINT, load_checkpoint
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import NO_SPACE, advisory_lock, check_not_other_run

# config fields renamed since a checkpoint format was written: old name -> new name
RENAMED = {"seed": "random_state"}
# what a finished run leaves (either trainer's): a new run is never started beside them
FINISHED = ("metrics.json", "model.pt", "backbone.pt")


def check_run_folder(out: Path, resume: bool, what: str) -> None:
    """A new run needs a folder without a checkpoint and without a finished run's outputs
    (FINISHED: a run whose checkpoint was removed); --resume needs a checkpoint (another
    command's folder: refused by run_lock, before). A start that died before its first
    checkpoint (SIGKILL, out of memory) is started over (Trainer.fit drops its metrics.csv)."""
    has = (Path(out) / CHECKPOINT).exists()
    finished = [f for f in FINISHED if (Path(out) / f).exists()]
    if has and not resume:
        raise HumeSSLError(
            f"{out} already holds a {what} run ({CHECKPOINT}); pass --resume to continue it, "
            "or choose a new --out."
        )
    if not has and finished:  # a new run would sit beside its model and metrics
        raise HumeSSLError(
            f"{out} holds a finished {what} run ({', '.join(finished)}; no {CHECKPOINT}): "
            "choose a new --out, or delete the folder to train there again."
        )
    if resume and not has:
        raise HumeSSLError(
            f"no checkpoint to resume from: {Path(out) / CHECKPOINT} does not exist; drop "
            "--resume to start a new run."
        )


def check_resume_keys(saved: dict, current: dict, keys: Sequence[str]) -> None:
    """Every option in `keys` (the ones that change results) must equal the checkpointed run's."""
    saved = {RENAMED.get(k, k): v for k, v in saved.items()}
    diff = [k for k in keys if saved.get(k) != current.get(k)]
    if diff:
        what = ", ".join(f"{k}={saved.get(k)!r} (now {current.get(k)!r})" for k in diff)
        raise HumeSSLError(
            f"cannot --resume: {what} differ from the checkpointed run; use the same options "
            "or a new --out."
        )


def check_resume(out: Path, current: dict, keys: Sequence[str], identity: dict,
                 what: str, fix: str) -> None:
    """--resume continues only the identical run: the same options (`keys` of the config) and
    the same inputs (`identity`: hashes of what the run learns from). Call it before writing
    anything, so a refused resume changes nothing."""
    st = load_checkpoint(Path(out) / CHECKPOINT)
    check_resume_keys(st["config"], current, keys)
    saved = st.get("identity") or {}
    diff = [k for k in identity if k in saved and saved[k] != identity[k]]
    if diff:
        raise HumeSSLError(
            f"cannot --resume: the run in {out} learned from other {what} ("
            + ", ".join(f"{k} {saved[k]} now {identity[k]}" for k in diff)
            + f"); {fix}, or a new --out."
        )


RUN_LOCK = ".run.lock"  # the file a training run holds its folder by


def run_lock(out: Path, command: str, take: bool = True):
    """One run at a time writes into `out`, and never into another command's folder (its
    config.json's `command`: a `label` or `seed` run, a pretrain run for train-fixmatch),
    refused before the lock writes in it. A second run into the same folder is refused at
    once (train-fixmatch, pretrain; under torchrun rank 0 holds it for the job). Before, both
    wrote it: config.json of one, model.pt and checkpoint of the other, metrics.csv rows
    interleaved. An advisory lock on out/RUN_LOCK (core.io.advisory_lock)."""
    check_not_other_run(out, command, f"{command} run")

    def busy() -> None:
        raise HumeSSLError(f"another run is writing into {out} now; wait for it to end, or "
                           "choose another --out.")

    return advisory_lock(Path(out) / RUN_LOCK, busy) if take else nullcontext()


@contextmanager
def cleanup_on_early_failure(out: Path) -> Iterator[None]:
    """A run that fails before its first checkpoint leaves nothing behind in a folder it made
    (or found empty but for its RUN_LOCK); a folder holding a checkpoint, or other files, is
    never touched. Under torchrun only rank 0, which writes the checkpoint, decides: another
    rank stopped first (a SIGTERM reaches every rank) would find no checkpoint yet and remove
    the folder rank 0 is writing it into."""
    out = Path(out)
    # (an --out that is a file is not fresh: the run refuses it by name)
    fresh = not out.exists() or (out.is_dir() and all(p.name == RUN_LOCK
                                                      for p in out.iterdir()))
    try:
        yield
    except BaseException:
        if fresh and distributed.is_main() and out.is_dir() and not (out / CHECKPOINT).exists():
            shutil.rmtree(out, ignore_errors=True)
        raise


class StoppedByFullDisk(HumeSSLError):
    """A run stopped by a full disk. `needs_resume`: whether continuing takes --resume (a
    checkpoint was kept); the CLI adds the exact command."""

    def __init__(self, message: str, needs_resume: bool):
        super().__init__(message)
        self.needs_resume = needs_resume


def _disk_full(e: BaseException) -> bool:
    for err in (e, e.__cause__):
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            return True
    return False


@contextmanager
def report_disk_full(out: Path) -> Iterator[None]:
    """Around cleanup_on_early_failure: a full disk says truthfully what was kept in `out`
    (a checkpoint is never deleted) and how to continue: with --resume when a checkpoint was
    kept, else by running the same command again."""
    out = Path(out)
    try:
        yield
    except (HumeSSLError, OSError) as e:
        if not _disk_full(e):
            raise
        what = str(e).split(" Free some space")[0].rstrip(".") if isinstance(
            e, HumeSSLError) else f"no space left on the device ({e})"
        if (out / CHECKPOINT).exists():
            kept = (f"Kept: {out / CHECKPOINT} (the last checkpoint written) and the files "
                    f"beside it in {out}.")
            how = "Free some space, then continue the run with --resume."
        elif out.exists():
            kept = f"No checkpoint had been written; {out} is left as it was."
            how = "Free some space, then run the same command again."
        else:
            kept = f"No checkpoint had been written, so nothing was kept ({out} was removed)."
            how = "Free some space (or choose another --out), then run the same command again."
        raise StoppedByFullDisk(f"{what}. {kept} {how}", (out / CHECKPOINT).exists()) from e
