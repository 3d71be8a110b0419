"""Progress reporting and cancellation shared by every long engine call.

Every long call takes ``progress`` (a callable receiving :class:`Progress`) and
``cancel`` (a :class:`CancelToken`). Front ends adapt them: the CLI draws a bar,
the GUI worker turns them into Qt signals and wires its Cancel button to the token.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


class Cancelled(Exception):
    """Raised inside a long call when its cancel token was set."""


class CancelToken:
    """Thread-safe flag checked by long calls between units of work (tiles, steps, rows)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


@dataclass
class Progress:
    """One progress report: ``done`` of ``total`` units, a short message, optional extras (loss, ...)."""

    done: float
    total: float
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """Default progress callback: ignore reports."""


class ProgressTracker:
    """Emits :class:`Progress` with an ETA estimated from the elapsed time per unit."""

    def __init__(self, progress: ProgressFn | None, total: float, message: str = "") -> None:
        self._progress = progress or no_progress
        self.total = total
        self.message = message
        self._start = time.monotonic()

    def update(self, done: float, message: str | None = None, **info: Any) -> None:
        now = time.monotonic()
        eta = None
        if done > 0 and self.total > done:
            rate = (now - self._start) / done
            eta = rate * (self.total - done)
        self._progress(Progress(done, self.total, message if message is not None else self.message, info, eta))


def check(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set; a ``None`` token never cancels."""
    if cancel is not None:
        cancel.raise_if_cancelled()
