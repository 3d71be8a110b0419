"""Upscaling the queue: one job per image, its progress in the status bar and the queue row."""

from __future__ import annotations

from pathlib import Path

from app import compute, tasks
from app.jobs.eta import eta_text
from app.session import Status
from app.window.work import Work
from app.worker import Job
from engine.errors import ImageError
from engine.jobs import Progress


class UpscalingMixin:
    """Upscale jobs and the status bar of :class:`~app.main_window.MainWindow`."""

    def upscale(self) -> int:
        """Queue a job per image that has no output for the chosen generator and precision yet.

        Files found unreadable are skipped (they are marked failed in the queue once). Metrics being
        computed give way: the upscale starts at once and they are computed again after it.
        """
        key = self.current_key()
        queued = {j.tag.entry_id for j in self.runner.pending() if j.tag == Work("upscale", j.tag.entry_id, key)}
        todo = compute.upscale_todo(self.session, key, queued)
        if not len(self.session):
            self.notice.show_message("Add images first: drop them on the window, paste, or press Ctrl+O.", error=True)
            return 0
        unreadable = sum(1 for e in self.session if e.input_error)
        if not todo:
            self.status_label.setText(
                "Every image already has this output; pick another generator or precision."
                + (f" {unreadable} unreadable file(s) skipped." if unreadable else ""))
            return 0
        self.notice.hide()
        self._run_counts = {}
        self._defer_metrics()
        settings = self.run_settings()
        for n, entry in enumerate(todo, 1):
            entry.status, entry.message = Status.WAITING, ""
            self.queue.update_entry(entry)
            label = f"{entry.path.name} ({n}/{len(todo)})"
            fn = tasks.upscale_job(self.engine, entry.path, key, settings, entry.inputs)
            self.runner.submit(label, fn, tag=Work("upscale", entry.id, key), on_started=self._upscale_started,
                               on_progress=self._upscale_progress, on_done=self._upscaled,
                               on_failed=self._upscale_failed, on_cancelled=self._upscale_cancelled)
        if unreadable:
            self.status_label.setText(f"Upscaling {len(todo)} image(s); {unreadable} unreadable file(s) skipped")
        self._set_busy(True)
        return len(todo)

    def cancel(self) -> None:
        """Stop the running job, everything queued, and the metrics (which are not computed again by themselves)."""
        self._metrics_later.clear()
        self._gave_way.clear()
        if self.runner.busy or self.metrics_runner.working:
            self.runner.cancel_all()
            self.metrics_runner.cancel_all()
            self.status_label.setText("Cancelling\u2026")

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy)
        self.progress_bar.setVisible(busy)
        self.eta_label.setVisible(busy)
        if not busy:
            self.progress_bar.reset()
            self.eta_label.clear()

    def _update_busy(self) -> None:
        """Busy while the engine has jobs or metrics are being computed (not: finishing a cancelled metric)."""
        busy = self.runner.busy or self.metrics_runner.working
        self._set_busy(busy)
        if not busy and self.status_label.text().startswith(("Metrics for", "Starting the metrics")):
            self.status_label.setText(self._summary)  # what the last run did, not what the metrics did

    # --- job signals: what every job shows in the status bar; each job's own handlers do the rest ----------
    def _job_started(self, job: Job, background: bool) -> None:
        if background and self.runner.busy:
            return  # the engine's job keeps the status bar
        self._set_busy(True)
        self.status_label.setText(job.label)

    def _job_progress(self, job: Job, p: Progress, background: bool) -> None:
        if job.cancel.cancelled or (background and self.runner.busy):
            return
        if p.total > 0:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(1000 * p.fraction))
        else:
            self.progress_bar.setRange(0, 0)  # busy indicator: length unknown
        self.status_label.setText(f"{job.label}: {p.message}" if p.message and p.message != job.label else job.label)
        self.eta_label.setText(" \u00b7 ".join(filter(None, [_percent(p), eta_text(p.eta_s)])))

    def _job_failed(self, job: Job, message: str) -> None:
        self.notice.show_message(message, error=True)

    def _upscale_started(self, job: Job) -> None:
        entry = self.session.get(job.tag.entry_id)
        if entry is not None:
            entry.status, entry.message = Status.RUNNING, ""
            self.queue.update_entry(entry)

    def _upscale_progress(self, job: Job, p: Progress) -> None:
        if job.cancel.cancelled or (entry := self.session.get(job.tag.entry_id)) is None:
            return
        step = "loading model" if p.info.get("stage") == "load" else ""
        entry.message = " ".join(filter(None, [step, _percent(p)]))
        self.queue.update_entry(entry)

    def _upscale_failed(self, job: Job, message: str) -> None:
        if isinstance(job.error, ImageError):
            self._unreadable(job.tag.entry_id, job.error, counted=True)
        else:
            self._set_entry_status(job.tag.entry_id, Status.FAILED, message)

    def _upscale_cancelled(self, job: Job) -> None:
        self._set_entry_status(job.tag.entry_id, Status.CANCELLED, "")

    def _jobs_idle(self) -> None:
        """The engine's queue is empty: report the run, then compute the metrics that waited for it."""
        counts = self._run_counts
        if counts:
            parts = [f"{n} {s.value}" for s, n in counts.items() if n]
            self._summary = "Finished: " + ", ".join(parts)
            self._run_counts = {}
        else:
            self._summary = "Ready"
        self.status_label.setText(self._summary)
        self._update_busy()
        later = list(self._metrics_later)
        self._metrics_later.clear()
        current = self.queue.current_entry_id()
        for entry_id, benchmark in sorted(later, key=lambda k: k[0] != current):
            if (entry := self.session.get(entry_id)) is not None:
                self.request_metrics(entry, benchmark)

    def _set_entry_status(self, entry_id: int, status: Status, message: str) -> None:
        self._run_counts[status] = self._run_counts.get(status, 0) + 1
        entry = self.session.get(entry_id)
        if entry is not None:
            entry.status, entry.message = status, message
            self.queue.update_entry(entry)

    def _unreadable(self, entry_id: int, err: ImageError, counted: bool) -> None:
        """Mark a file that cannot be read as failed, once: Upscale skips it from now on."""
        entry = self.session.get(entry_id)
        if entry is None:
            return
        if counted:  # in the run's "Finished: ..." line
            self._run_counts[Status.FAILED] = self._run_counts.get(Status.FAILED, 0) + 1
        text = str(err)
        if err.path and text.startswith(f"{err.path}: "):
            text = text[len(err.path) + 2:]  # the queue row names the file already
        entry.status, entry.message, entry.input_error = Status.FAILED, text, str(err)
        self.queue.update_entry(entry)
        if entry is self.current_entry():
            self.compare.view.placeholder = f"{entry.path.name} cannot be read: {text}"
            self.compare.view.viewport().update()

    def _upscaled(self, job: Job, result: tasks.Upscaled) -> None:
        entry_id = job.tag.entry_id
        entry = self.session.get(entry_id)
        if entry is None:
            return  # removed while it ran
        entry.inputs = result.inputs
        out = result.output
        entry.outputs[out.key] = out
        short = f"{Path(out.key.model).stem} {out.info.precision_label}"  # the queue is narrow
        self._set_entry_status(entry_id, Status.DONE, f"{short} in {out.seconds:.1f} s")
        if self.queue.current_entry_id() == entry_id and self.cfg.benchmark == out.key.benchmark:
            a, b = compute.sides_after_upscale(entry, out.key)
            self.compare.show_entry(entry, self.cfg.benchmark, self.cfg.input_view, a=a, b=b)
        self.request_metrics(entry, out.key.benchmark)


def _percent(p: Progress) -> str:
    return f"{p.fraction:.0%}" if p.total > 0 else ""
