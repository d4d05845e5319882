"""The project's progress line: a rich bar on a terminal, plain timed lines anywhere else.

When the console is not a terminal (a log file, a pipe, a CI job), a rich bar would print once,
at the end; `LineProgress` prints one unwrapped line every `interval` seconds instead, with the
count, the rate and the time left, and a last line when it stops.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

LINE_INTERVAL_S = 5.0  # seconds between plain progress lines


class LineProgress:
    """The subset of rich's Progress the project uses, as plain lines (for non-terminals)."""

    def __init__(self, console: Console, field: str = "info", interval: float = LINE_INTERVAL_S,
                 clock=time.monotonic):
        self.console, self.field, self.interval, self.clock = console, field, interval, clock
        self.tasks: dict[int, dict[str, Any]] = {}

    @property
    def task_ids(self) -> list[int]:
        return list(self.tasks)

    def add_task(self, description: str, total: Optional[float] = None, completed: float = 0,
                 **fields) -> int:
        tid = len(self.tasks)
        now = self.clock()
        self.tasks[tid] = {"description": description, "total": total, "completed": completed,
                           "start": now, "start_done": completed, "last": None,
                           "shown": None, "fields": fields}
        return tid

    def update(self, task_id: int, *, total: Optional[float] = None,
               completed: Optional[float] = None, advance: Optional[float] = None,
               **fields) -> None:
        t = self.tasks[task_id]
        if total is not None:
            t["total"] = total
        if completed is not None:
            t["completed"] = completed
        if advance is not None:
            t["completed"] += advance
        t["fields"].update(fields)
        now = self.clock()
        if t["last"] is None or now - t["last"] >= self.interval:
            self._line(t, now)

    def _line(self, t: dict, now: float) -> None:
        t["last"], t["shown"] = now, self._state(t)
        done, total, elapsed = t["completed"], t["total"], now - t["start"]
        rate = (done - t["start_done"]) / elapsed if elapsed > 0 else 0.0
        count = f"{_count(done)}/{_count(total)}" if total else _count(done)
        eta = ""
        if total and rate > 0 and done < total:
            eta = f", ETA {(total - done) / rate:.0f} s"
        info = t["fields"].get(self.field, "")
        unit = t["fields"].get("unit", "")  # what is counted: "steps", "images"
        self.console.print(f"{t['description']} {count} {unit} {info} | {elapsed:.0f} s, "
                           f"{rate:.3g} {unit}/s{eta}".replace("  ", " ").replace(" /s", "/s"),
                           soft_wrap=True, highlight=False, markup=False)

    def start(self) -> None:
        pass

    @staticmethod
    def _state(t: dict) -> tuple:
        """What a line shows but the times: the count, the total and the fields."""
        return t["completed"], t["total"], dict(t["fields"])

    def stop(self) -> None:
        """A last line for each task whose count or fields moved since its last line (one
        line, not two, when the last update already showed the final state)."""
        now = self.clock()
        for t in self.tasks.values():
            if t["shown"] != self._state(t):
                self._line(t, now)

    def __enter__(self) -> LineProgress:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class UnitColumn(ProgressColumn):
    """What the bar counts ("steps", "images"): a task's `unit` field, else nothing."""

    def render(self, task) -> Text:
        return Text(task.fields.get("unit", ""))


def _count(v: float) -> str:
    """A count as a whole number when it is one (1048576, never 1.04858e+06)."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def rich_progress(console: Console, field: str = "info") -> Progress | LineProgress:
    """The project's progress line: description, bar, done/total, a free text field, times
    (plain timed lines when the console is not a terminal)."""
    if not console.is_terminal:
        return LineProgress(console, field)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        UnitColumn(),
        TextColumn(f"{{task.fields[{field}]}}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
