"""Rich progress bars driven by the engine's callback events."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def rich_progress(console: Console, field: str = "info") -> Progress:
    """The project's progress line: description, bar, done/total, a free text field, times."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{{task.fields[{field}]}}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def hume_progress(console: Console):
    """Yields a callback(event, info) that shows restart-steps done and the current loss."""
    progress = rich_progress(console)
    state: dict = {}

    def callback(event: str, info: dict) -> None:
        if event == "start":
            total = (info["restarts"] - info["resumed"]) * info["steps"]
            state["task"] = progress.add_task(
                "restart-steps",
                total=max(total, 1),
                info=f"{info['restarts']} restarts ({info['resumed']} resumed) on "
                f"{info['device']}, chunks of {info['chunk']}",
            )
            if total == 0:
                progress.update(state["task"], completed=1)
        elif event == "step":
            progress.update(
                state["task"],
                advance=info["restarts"],
                info=f"step {info['step'] + 1}  loss {info['loss']:.4f}",
            )
        elif event == "scoring":
            progress.update(state["task"], info="scoring restarts, aligning, voting")

    with progress:
        yield callback
