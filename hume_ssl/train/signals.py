"""SIGTERM / SIGINT during training: set a flag, let the loop checkpoint and stop cleanly."""

from __future__ import annotations

import signal
import threading
from typing import Callable


class StopSignals:
    """Context manager: while active, SIGTERM and SIGINT call `on_signal()` instead of killing.

    Handlers can only be installed from the main thread; elsewhere (e.g. a test thread) nothing
    is installed. The previous handlers come back on exit.
    """

    def __init__(self, on_signal: Callable[[], None]) -> None:
        self.on_signal = on_signal
        self._old: dict = {}

    def _on_signal(self, signum, frame) -> None:
        self.on_signal()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()
