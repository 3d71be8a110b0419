"""The one place where engine calls leave the GUI thread.

A :class:`JobRunner` lives in the GUI thread and owns a QThread with a :class:`_Worker` in it.
A job is a plain callable ``fn(progress, cancel) -> result``; the worker runs jobs one at a
time, in the order they were submitted, and reports through Qt signals, so the window only
ever touches results in its own thread. Engine :class:`~engine.jobs.Progress` reports are
throttled before they cross threads: a fast tile loop must not flood the GUI event queue.
"""

from __future__ import annotations

import itertools
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.errors import MPSRError
from engine.jobs import Cancelled, CancelToken, Progress

log = logging.getLogger(__name__)

JobFn = Callable[[Callable[[Progress], None], CancelToken], Any]

# Seconds between progress signals; the final report of a stage always goes through.
_PROGRESS_INTERVAL = 0.05


@dataclass
class Job:
    id: int
    label: str
    fn: JobFn
    cancel: CancelToken = field(default_factory=CancelToken)
    tag: Any = None  # what the job is about, for callers that look through the pending jobs
    error: BaseException | None = None  # why it failed, for callers that act on the kind of error
    # The submitter's own handlers, called on the GUI thread before the runner's signals go out.
    on_started: Callable[[Job], None] | None = None
    on_progress: Callable[[Job, Progress], None] | None = None
    on_done: Callable[[Job, Any], None] | None = None
    on_failed: Callable[[Job, str], None] | None = None
    on_cancelled: Callable[[Job], None] | None = None


def describe_error(err: BaseException) -> str:
    """One readable line for any failure; tracebacks go to the log, never to the window."""
    if isinstance(err, MPSRError):
        return str(err)
    if isinstance(err, MemoryError):
        return "Out of memory: try a smaller tile size (Settings > Advanced)."
    text = " ".join(str(err).split()) or type(err).__name__
    return f"Unexpected error ({type(err).__name__}): {text}"


class _Worker(QObject):
    started = Signal(object)  # Job
    progress = Signal(object, object)  # Job, Progress
    finished = Signal(object, object)  # Job, result
    failed = Signal(object, str)  # Job, message
    cancelled = Signal(object)  # Job

    @Slot(object)
    def run(self, job: Job) -> None:
        if job.cancel.cancelled:
            self.cancelled.emit(job)
            return
        self.started.emit(job)
        last = 0.0

        def report(p: Progress) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= _PROGRESS_INTERVAL or p.done >= p.total:
                last = now
                self.progress.emit(job, p)

        try:
            result = job.fn(report, job.cancel)
        except Cancelled:
            self.cancelled.emit(job)
        except Exception as err:  # noqa: BLE001 - every failure must reach the window as one line
            log.error("job %r failed:\n%s", job.label, traceback.format_exc())
            job.error = err
            self.failed.emit(job, describe_error(err))
        else:
            if job.cancel.cancelled:
                self.cancelled.emit(job)
            else:
                self.finished.emit(job, result)


class JobRunner(QObject):
    """Submit jobs from the GUI thread; get their progress and outcome back as signals."""

    started = Signal(object)
    progress = Signal(object, object)
    finished = Signal(object, object)
    failed = Signal(object, str)
    cancelled = Signal(object)
    idle = Signal()  # the last pending job has ended
    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None, name: str = "mpsr-engine") -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._pending: dict[int, Job] = {}
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.run)
        self._worker.started.connect(self._on_started)
        self._worker.progress.connect(self._on_progress)
        # Bound slots of this GUI-thread object: Qt queues the calls into the GUI thread.
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._thread.start()

    def submit(self, label: str, fn: JobFn, tag: Any = None, **handlers: Callable) -> Job:
        """Queue ``fn``; ``handlers`` (on_started, on_progress, on_done, on_failed, on_cancelled) get its outcome."""
        job = Job(next(self._ids), label, fn, tag=tag, **handlers)
        self._pending[job.id] = job
        self._submit.emit(job)
        return job

    @Slot(object)
    def _on_started(self, job: Job) -> None:
        if job.on_started is not None:
            job.on_started(job)
        self.started.emit(job)

    @Slot(object, object)
    def _on_progress(self, job: Job, p: Progress) -> None:
        if job.on_progress is not None:
            job.on_progress(job, p)
        self.progress.emit(job, p)

    @Slot(object, object)
    def _on_finished(self, job: Job, result: Any) -> None:
        self._pending.pop(job.id, None)
        if job.on_done is not None:
            job.on_done(job, result)
        self.finished.emit(job, result)
        self._maybe_idle()

    @Slot(object, str)
    def _on_failed(self, job: Job, message: str) -> None:
        self._pending.pop(job.id, None)
        if job.on_failed is not None:
            job.on_failed(job, message)
        self.failed.emit(job, message)
        self._maybe_idle()

    @Slot(object)
    def _on_cancelled(self, job: Job) -> None:
        self._pending.pop(job.id, None)
        if job.on_cancelled is not None:
            job.on_cancelled(job)
        self.cancelled.emit(job)
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if not self._pending:
            self.idle.emit()

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    @property
    def working(self) -> bool:
        """A pending job was not cancelled (a cancelled one may still be finishing a call it cannot leave)."""
        return any(not job.cancel.cancelled for job in self._pending.values())

    def pending(self) -> list[Job]:
        return list(self._pending.values())

    def cancel_all(self) -> None:
        """Ask every pending job to stop; the running one stops at its next check (tile, step)."""
        for job in self._pending.values():
            job.cancel.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel everything and stop the thread (the running job ends at its next check: tile, step)."""
        self.cancel_all()
        self._thread.quit()
        self._thread.wait(timeout_ms)
