"""Which metrics the shown image still needs, scored on the metrics thread after the upscales."""

from __future__ import annotations

from app import compute, tasks
from app.session import ImageEntry
from app.window.work import Work
from app.worker import Job
from engine.metrics import MetricUnavailable


class MetricsMixin:
    """Metric requests of :class:`~app.main_window.MainWindow`."""

    def _request_metrics_current(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.request_metrics(entry, self.cfg.benchmark)

    def _upscales_queued(self) -> bool:
        return any(job.tag.kind == "upscale" for job in self.runner.pending())

    def _defer_metrics(self) -> None:
        """Make way for an upscale: stop the metrics and compute them again once the upscales have ended.

        A metric call already running cannot be interrupted; it finishes on its own thread, beside the upscale.
        """
        for job in self.metrics_runner.pending():
            if job.tag.kind == "metrics" and not job.cancel.cancelled:
                job.cancel.cancel()
                self._gave_way.add(job.id)
                self._metrics_later[(job.tag.entry_id, job.tag.key)] = None
        self.compare.refresh()

    def request_metrics(self, entry: ImageEntry, benchmark: bool) -> None:
        """Score every source of ``entry`` that has no score yet, on the metrics thread: newest output first,
        the input last. While upscales are queued this waits for them (they come first)."""
        if entry.input_for(benchmark) is None:
            return
        if self._upscales_queued():
            self._metrics_later[(entry.id, benchmark)] = None
            self.compare.refresh()
            return
        busy = {item[2] for item in self._metrics_pending if item[:2] == (entry.id, benchmark)}
        requests = compute.metric_requests(entry, benchmark, compute_pi=self.cfg.compute_pi,
                                           input_view=self.cfg.input_view, busy=busy)
        if not requests:
            return
        pending = {(entry.id, benchmark, f"{r.name}/{n}") for r in requests for n in r.want}
        self._metrics_pending |= pending
        self.compare.refresh()
        scored: dict[str, dict[str, tasks.Score]] = {}
        self.metrics_runner.submit(
            f"Metrics for {entry.path.name}", tasks.metrics_job(requests, self.cfg.device, scored),
            tag=Work("metrics", entry.id, benchmark),
            on_done=lambda job, _: self._metrics_ended(job, pending, scored),
            on_failed=lambda job, message: self._metrics_ended(job, pending, scored, message),
            on_cancelled=lambda job: self._metrics_ended(job, pending, scored))

    def _metrics_ended(self, job: Job, pending: set, scored: dict, failure: str = "") -> None:
        """Keep what a metrics job scored, finished or not; on a failure the rest say why."""
        entry_id, benchmark = job.tag.entry_id, job.tag.key
        self._metrics_pending.difference_update(pending)
        entry = self.session.get(entry_id)
        if entry is not None:
            for source, values in scored.items():
                entry.metrics[benchmark].setdefault(source, {}).update(values)
            if failure:
                for item in pending:
                    source, name = item[2].rsplit("/", 1)
                    entry.metrics[benchmark].setdefault(source, {}).setdefault(
                        name, tasks.Score(None, failure, tasks.FAILED))
        self.compare.refresh()
        if job.id in self._gave_way:  # stopped for an upscale: the rest is computed after it
            self._gave_way.discard(job.id)
            if entry is not None:
                self.request_metrics(entry, benchmark)

    def fetch_metric_models(self) -> None:
        self.status_label.setText("Fetching metric models\u2026")
        self.runner.submit("Fetching metric models", tasks.fetch_metrics_job(), tag=Work("fetch"),
                           on_done=lambda job, files: self._fetched(files))
        self._set_busy(True)

    def _fetched(self, files: list) -> None:
        if not files:
            self.notice.show_message("All metric models are already installed.")
            return
        self.notice.show_message("Installed " + ", ".join(str(f) for f in files) + "; the metrics that needed them "
                                 "will be computed now.")
        for entry in self.session:
            for scores in entry.metrics.values():
                for values in scores.values():
                    for key in [k for k, score in values.items() if score.code == MetricUnavailable.MODEL_MISSING]:
                        del values[key]
        self._request_metrics_current()
