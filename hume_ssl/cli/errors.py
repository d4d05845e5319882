"""The command line's one error handler: a HumeSSLError is one red line (exit 2); a full disk
or a Ctrl-C says what work was kept, and where, and the command that continues it."""

from __future__ import annotations

import functools
import os
import shlex
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.markup import escape

from hume_ssl.cli.consoles import console
from hume_ssl.cli.inputs import FeatureInputs, PredictInputs
from hume_ssl.core import distributed
from hume_ssl.core.checkpoint import CHECKPOINT
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import DiskFullError
from hume_ssl.core.params import check_bounds


def handle_errors(fn):
    """The one error handler: a HumeSSLError is one red line and exit 2 (a full disk adds what
    was kept and the command that continues); a Ctrl-C says where the work was kept and the
    command that resumes it (exit 130)."""

    @functools.wraps(fn)
    def wrapper(**sections):
        try:
            for section in sections.values():  # every number in its declared range, first
                check_bounds(section)
            with _term_as_interrupt():
                return fn(**sections)
        except DiskFullError as e:
            kept, again, _, _ = _kept(sections)
            console.print("[bold red]error:[/] " + escape(
                f"no space left on the device while writing {e.path}. "
                f"{kept[0].upper() + kept[1:]}; free space on that disk, then continue with: "
                f"{again}"))
            raise typer.Exit(2) from None
        except HumeSSLError as e:
            prefix = f"rank {distributed.rank()}: " if distributed.world_size() > 1 else ""
            again = ""
            if getattr(e, "needs_resume", None) is not None:  # a run stopped: how to go on
                again = " The command: " + _command_again(e.needs_resume)
            console.print(f"[bold red]{prefix}error:[/] " + escape(f"{e}{again}"))  # [i]: text
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            code = 128 + (TERMINATED[-1] if TERMINATED else signal.SIGINT)  # 143: SIGTERM
            if distributed.rank() != 0:  # torchrun: every rank saved its part; rank 0 says it
                raise typer.Exit(code) from None
            kept, again, resume, saved = _kept(sections)
            how = ("continue with" if resume else "run the same command again" + (
                " to resume it" if saved else "") + " (continue with)")
            console.print(f"[yellow]{'stopped' if resume else 'interrupted'}[/]: "
                          + escape(f"{kept}; {how}: {again}"))
            raise typer.Exit(code) from None

    return wrapper


TERMINATED: list[int] = []  # the signal that stopped the command, when SIGTERM did


@contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM (docker stop, SLURM, systemd) ends a command as Ctrl-C does: its clean-up runs
    and it says what was kept (before: only training handled it; features, label, seed and
    predict died without a word, label mid-write leaving outputs without their config.json).
    Training's own handler (train.signals.StopSignals) takes over while it runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        TERMINATED.append(signum)  # the exit status says which signal (143, as before)
        raise KeyboardInterrupt

    TERMINATED.clear()
    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if old is None else old)


def _kept(sections: dict) -> tuple[str, str, bool, bool]:
    """(what of the work finished so far is kept, and where; the command that continues it;
    whether that command needs --resume; whether any work is kept for it to resume from)."""
    from hume_ssl.features.cache import FEATURES, default_cache_dir
    from hume_ssl.hume.chunks import CHUNKS
    from hume_ssl.seeds.run import HUME

    io = sections.get("io")
    out = getattr(io, "out", None)
    cache = sections.get("extract", io if isinstance(io, FeatureInputs) else None)
    if getattr(io, "phi1", None) is not None:  # seed on feature files: nothing extracted
        cache = None
    cache = default_cache_dir(cache.cache_dir) if cache is not None else None
    resume = hasattr(io, "resume")  # train-fixmatch, pretrain: the checkpoint in --out
    features, saved = f"{cache}/{FEATURES}", True
    if resume and not (out and Path(out, CHECKPOINT).exists()):  # stopped before the first one
        resume, saved, kept = False, False, (f"nothing was kept: no checkpoint was written yet "
                                             f"({out} holds none), so the run starts over")
    elif resume:
        kept = f"the last checkpoint is kept in {out}"
    elif isinstance(io, FeatureInputs):
        kept = f"any rows extracted so far are kept in the feature cache {features}"
    elif isinstance(io, PredictInputs):  # (before: "kept in OUT ... to resume it")
        saved, kept = False, ("nothing of this run was kept: predict writes its files once "
                              "every image is labeled")
    elif cache is not None and not (out and Path(out, HUME).exists()):  # seed, extracting
        kept = (f"any features extracted so far are kept in the feature cache {features} "
                f"({out} was not created yet)")
    elif cache is not None:
        kept = (f"the features are kept in the feature cache {features} and the finished "
                f"HUME restarts in {out}/{HUME}/{CHUNKS}")
    elif out is not None and Path(out, CHUNKS).exists():  # label
        kept = f"the finished HUME restarts are kept in {out}/{CHUNKS}"
    elif out is not None and Path(out, HUME, CHUNKS).exists():  # seed on feature files
        kept = f"the finished HUME restarts are kept in {out}/{HUME}/{CHUNKS}"
    elif out is not None and not Path(out).exists():
        saved, kept = False, f"nothing was written yet ({out} was not created)"
    elif out is not None:
        kept = f"the work finished so far is kept in {out}"
    else:
        saved, kept = False, "nothing was kept"
    return kept, _command_again(resume), resume, saved


def _command_again(resume: bool) -> str:
    """The command line that was run, with --resume added when continuing needs it."""
    args = [a for a in sys.argv[1:] if a != "--no-resume"]
    if resume and "--resume" not in args:
        args.append("--resume")
    if "LOCAL_WORLD_SIZE" in os.environ:  # under torchrun: its launch line
        options = _launcher_options(_parent_argv())
        if options is None:  # (not readable: one node, as many processes as here)
            options = ["--nproc_per_node", os.environ["LOCAL_WORLD_SIZE"]]
        return "torchrun " + shlex.join([*options, "-m", "hume_ssl", *args])
    return "hume-ssl " + shlex.join(args)


def _parent_argv() -> Optional[list[str]]:
    """The command line of this process's parent (torchrun's agent under torchrun), where the
    system shows it (/proc on Linux); None elsewhere."""
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _launcher_options(argv: Optional[list[str]]) -> Optional[list[str]]:
    """torchrun's own options (--standalone, --nnodes, --rdzv-endpoint, ...) from its command
    line `argv` (`torchrun OPTIONS -m hume_ssl ...` or `python -m torch.distributed.run
    OPTIONS -m hume_ssl ...`), so the command that continues launches as this run did; None
    when argv is not such a line."""
    if not argv:
        return None
    start = next((i + 1 for i, a in enumerate(argv) if Path(a).name == "torchrun"), None)
    if start is None:
        start = next((i + 2 for i, a in enumerate(argv[:-1])
                      if a == "-m" and argv[i + 1] == "torch.distributed.run"), None)
    if start is None:
        return None
    end = next((i for i in range(start, len(argv) - 1)
                if argv[i] == "-m" and argv[i + 1] == "hume_ssl"), None)
    return None if end is None else argv[start:end]
