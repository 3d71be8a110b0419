"""Settings > Advanced: where the engine runs, and the long jobs (QAT retraining, sensitivity sweeps).

The long-job forms are live only when the engine modules behind them are part of this build
(engine.train for QAT, engine.sweep for sweeps); otherwise they say so and stay disabled.
A launched job goes through the window's :class:`~app.worker.JobRunner` like every other engine call.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.settings import AppSettings
from app.worker import Job, JobRunner
from engine.errors import MPSRError


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass(frozen=True)
class LongJob:
    """A long engine job the pane can launch: ``module.function(**form values, progress, cancel)``."""

    key: str
    title: str
    module: str
    function: str
    issue: str

    def missing(self) -> str | None:
        """Why this job cannot run in this build, or None. Checked without importing the module."""
        if importlib.util.find_spec(self.module) is None:
            return (f"{self.title} is not available in this build: it needs the {self.module} module "
                    f"({self.issue}), which this build does not have yet.")
        return None

    def call(self, values: dict, progress, cancel):
        module = importlib.import_module(self.module)
        fn = getattr(module, self.function, None)
        if fn is None:
            raise MPSRError(f"{self.module} has no {self.function}(): this app does not match the engine build")
        return fn(**values, progress=progress, cancel=cancel)


QAT = LongJob("qat", "QAT retraining", "engine.train", "run_qat", "issue 5")
SWEEP = LongJob("sweep", "Sensitivity sweep", "engine.sweep", "run_sweep", "issue 6")


def _path_row(edit: QLineEdit, folder: bool, parent: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse\u2026")

    def browse() -> None:
        if folder:
            name = QFileDialog.getExistingDirectory(parent, "Choose a folder", edit.text())
        else:
            name, _ = QFileDialog.getSaveFileName(parent, "Choose a file", edit.text())
        if name:
            edit.setText(name)

    button.clicked.connect(browse)
    layout.addWidget(button)
    return row


class JobForm(QGroupBox):
    """Fields, Launch/Cancel, live progress and log for one :class:`LongJob`."""

    def __init__(self, job: LongJob, runner: JobRunner, device: Callable[[], str], parent=None) -> None:
        super().__init__(job.title, parent)
        self.job, self.runner, self._device = job, runner, device
        self.running: Job | None = None
        self.fields: dict[str, QWidget] = {}
        form = QFormLayout()
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(["srgan", "esrgan"])
        form.addRow("Generator", self.model)
        self.fields["model"] = self.model
        if job is QAT:
            self.plan = QLineEdit("mixed")
            self.plan.setToolTip("fp32, int8, mixed, 16,8,8,16 or a plan file")
            form.addRow("Plan", self.plan)
            self.fields["plan"] = self.plan
        else:
            self.method = QComboBox()
            self.method.addItems(["ptq", "qat"])
            form.addRow("Method", self.method)
            self.fields["method"] = self.method
        self.data = QLineEdit()
        form.addRow("Data folder", _path_row(self.data, True, self))
        self.fields["data"] = self.data
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.steps.setValue(200 if job is QAT else 1)
        form.addRow("Steps", self.steps)
        self.fields["steps"] = self.steps
        self.out = QLineEdit()
        form.addRow("Output" + (" file" if job is QAT else " folder"), _path_row(self.out, job is not QAT, self))
        self.fields["out"] = self.out

        self.launch = QPushButton("Start" if job is QAT else "Run sweep")
        self.launch.clicked.connect(self.start)
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self._cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.launch)
        buttons.addWidget(self.cancel)
        self.progress = QProgressBar()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFixedHeight(80)
        self.results = QTextBrowser()
        self.results.hide()

        self.notice = QLabel()
        self.notice.setObjectName("unavailable")
        self.notice.setWordWrap(True)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(form)
        body.addLayout(buttons)
        body.addWidget(self.progress)
        body.addWidget(self.log)
        body.addWidget(self.results)
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(self.body)

        self.reason = job.missing()
        self.notice.setText(self.reason or "")
        self.notice.setVisible(self.reason is not None)
        self.body.setEnabled(self.reason is None)
        # An unavailable job shows what it would ask for, without an empty log and progress bar.
        self.progress.setVisible(self.reason is None)
        self.log.setVisible(self.reason is None)
        runner.progress.connect(self._progress)
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        runner.cancelled.connect(self._cancelled)

    def values(self) -> dict:
        out = {}
        for name, w in self.fields.items():
            if isinstance(w, QSpinBox):
                out[name] = w.value()
            elif isinstance(w, QComboBox):
                out[name] = w.currentText()
            else:
                out[name] = w.text().strip()
        return out

    def start(self) -> Job | None:
        if self.reason is not None or self.running is not None:
            return None
        values = self.values()
        if not values["data"] or not Path(values["data"]).is_dir():
            self.log.appendPlainText(f"Choose a data folder first ({values['data'] or 'none given'}).")
            return None
        if not values["out"]:
            self.log.appendPlainText("Choose where the results go first.")
            return None
        if not self._confirm_cpu(values):
            return None
        job = self.job
        self.running = self.runner.submit(job.title, lambda p, c: job.call(values, p, c), tag=("advanced", job.key))
        self.launch.setEnabled(False)
        self.cancel.setEnabled(True)
        self.log.appendPlainText(f"Started {job.title.lower()}: {values}")
        return self.running

    def _confirm_cpu(self, values: dict) -> bool:
        device = self._device()
        if device == "cuda" or (device == "auto" and cuda_available()):
            return True
        text = (f"{self.job.title} will run on the CPU for {values['steps']} steps. On this kind of machine a "
                "training step of the SRGAN generator takes seconds and one of ESRGAN about ten times longer, "
                "so this can take hours. It runs in the background and can be cancelled and resumed. Start?")
        answer = QMessageBox.question(self, self.job.title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _cancel(self) -> None:
        if self.running is not None:
            self.running.cancel.cancel()
            self.log.appendPlainText("Cancelling\u2026")

    def _mine(self, job: Job) -> bool:
        return self.running is not None and job.id == self.running.id

    def _progress(self, job: Job, p) -> None:
        if not self._mine(job):
            return
        if p.total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.fraction))
        else:
            self.progress.setRange(0, 0)
        if p.message:
            extras = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.info.items())
            self.log.appendPlainText(f"[{p.done:g}/{p.total:g}] {p.message} {extras}".rstrip())

    def _end(self, line: str) -> None:
        self.running = None
        self.launch.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.setRange(0, 1000)
        self.log.appendPlainText(line)

    def _finished(self, job: Job, result) -> None:
        if self._mine(job):
            self._end(f"Done: {result}")
            self._show_results(Path(self.values()["out"]))

    def _failed(self, job: Job, message: str) -> None:
        if self._mine(job):
            self._end(f"Failed: {message}")

    def _cancelled(self, job: Job) -> None:
        if self._mine(job):
            self._end("Cancelled; start again with the same output to resume.")

    def _show_results(self, out: Path) -> None:
        """The job's human-readable report (Markdown) and plots (PNG) from its output folder."""
        folder = out if out.is_dir() else out.parent
        parts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))]
        html = "".join(f'<p><img src="{p.as_uri()}" width="420"></p>' for p in sorted(folder.glob("*.png")))
        if not parts and not html:
            return
        self.results.setMarkdown("\n\n".join(parts))
        self.results.append(html)
        self.results.show()


class AdvancedPane(QWidget):
    def __init__(self, runner: JobRunner, parent=None) -> None:
        super().__init__(parent)
        self.device = QComboBox()
        self.device.addItem("Automatic (CUDA if available)", "auto")
        self.device.addItem("CPU", "cpu")
        self.device.addItem("CUDA", "cuda")
        if not cuda_available():
            item = self.device.model().item(2)
            item.setEnabled(False)
            item.setToolTip("No CUDA device is available on this machine")
            self.device.setItemData(2, "CUDA (not available on this machine)", Qt.ItemDataRole.DisplayRole)
        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, os.cpu_count() or 1))
        self.threads.setSpecialValueText("Automatic")
        self.threads.setToolTip("CPU threads for inference; int8 and mixed always run on the CPU")
        self.tile = QSpinBox()
        self.tile.setRange(0, 4096)
        self.tile.setSingleStep(32)
        self.tile.setSpecialValueText("No tiling")
        self.tile.setSuffix(" px")
        self.tile.setToolTip("Input pixels per tile; smaller tiles use less memory and report progress more often")
        self.overlap = QSpinBox()
        self.overlap.setRange(0, 128)
        self.overlap.setSuffix(" px")
        run = QGroupBox("Inference")
        form = QFormLayout(run)
        form.addRow("Device", self.device)
        form.addRow("Threads", self.threads)
        form.addRow("Tile size", self.tile)
        form.addRow("Tile overlap", self.overlap)
        self.qat = JobForm(QAT, runner, self.device.currentData)
        self.sweep = JobForm(SWEEP, runner, self.device.currentData)
        layout = QVBoxLayout(self)
        layout.addWidget(run)
        layout.addWidget(self.qat)
        layout.addWidget(self.sweep)
        layout.addStretch(1)

    def load(self, cfg: AppSettings) -> None:
        self.device.setCurrentIndex(max(0, self.device.findData(cfg.device)))
        self.threads.setValue(cfg.threads)
        self.tile.setValue(cfg.tile)
        self.overlap.setValue(cfg.overlap)

    def store(self, cfg: AppSettings) -> None:
        cfg.device = self.device.currentData()
        cfg.threads = self.threads.value()
        cfg.tile = self.tile.value()
        cfg.overlap = self.overlap.value()
