"""A long job's form: its fields, a measured estimate before a CPU run, progress, log and results.

Every engine call goes through the window's :class:`~app.worker.JobRunner`, including the short
measuring job that comes before a long job on the CPU (the user is told its expected duration and
can decline). Finished results reach the main window's precision picker through ``use_plan``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
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

from app.jobs.eta import eta_text
from app.jobs.kind import JobKind, Values
from app.window.work import Work
from app.worker import Job, JobRunner
from engine.jobs import Progress

BUILTIN_MODELS = ("esrgan", "srgan")

UsePlan = Callable[[str], None]


def path_row(edit: QLineEdit, folder: bool, parent: QWidget, file_filter: str = "") -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse\u2026")

    def browse() -> None:
        if folder:
            name = QFileDialog.getExistingDirectory(parent, "Choose a folder", edit.text())
        else:
            name, _ = QFileDialog.getSaveFileName(parent, "Choose a file", edit.text(), file_filter)
        if name:
            edit.setText(name)

    button.clicked.connect(browse)
    layout.addWidget(button)
    return row


class Fields(Protocol):
    """A job kind's own widgets in a :class:`JobForm`: built into its form layout when made."""

    def values(self) -> Values:
        """Every field's value, the form's shared fields included, in the order the log lists them."""

    def show_result(self, result: Path) -> None:
        """Fill the form's results (and offer plans) for a finished job's result."""


class JobForm(QWidget):
    """Fields, Start/Cancel, live progress, log and results of one long job of ``kind``.

    ``fields`` makes the kind's own widgets (given this form) and is kept as :attr:`fields`.
    """

    def __init__(self, runner: JobRunner, kind: JobKind, fields: Callable[[JobForm], Fields],
                 device: Callable[[], str], use_plan: UsePlan | None, parent=None) -> None:
        super().__init__(parent)
        self.runner, self.kind, self._device, self._use_plan = runner, kind, device, use_plan
        self.title = kind.title
        self.running: Job | None = None
        self.measuring: Job | None = None
        self.result: Path | None = None
        self.offered: dict[str, QPushButton] = {}  # plan or artifact -> its "use this plan" button
        self._pending: dict | None = None  # the values a measuring job is estimating
        self._last_message = ""
        self._models_set = False
        self.form = QFormLayout()
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(BUILTIN_MODELS)
        self.model.setToolTip("esrgan, srgan or a generator weights file")
        self.form.addRow("Generator", self.model)
        self.data = QLineEdit()
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.out = QLineEdit()
        self.fields = fields(self)

        self.launch = QPushButton(kind.start_text)
        self.launch.clicked.connect(lambda: self.start())  # clicked(bool) must not become ``confirm``
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self._cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.launch)
        buttons.addWidget(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.eta = QLabel()
        self.eta.setMinimumWidth(150)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.eta)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.log.setFixedHeight(90)
        self.results = QTextBrowser()
        self.results.setOpenExternalLinks(True)
        self.results.setMinimumHeight(320)
        self.results.hide()
        self.plan_buttons = QHBoxLayout()
        self.plan_buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addLayout(bar)
        layout.addWidget(self.log)
        layout.addLayout(self.plan_buttons)
        layout.addWidget(self.results, 1)
        layout.addStretch(0)  # keeps the form at the top while there are no results to fill the space

    # --- running -------------------------------------------------------------------------
    def set_models(self, models: list[str], current: str) -> None:
        """The generators the main window knows; the window's choice until the user picks one here."""
        text = self.model.currentText() if self._models_set else current
        self.model.clear()
        self.model.addItems(list(dict.fromkeys([*BUILTIN_MODELS, *models])))
        self.model.setCurrentText(text)
        self._models_set = True

    def busy(self) -> bool:
        return self.running is not None or self.measuring is not None

    def start(self, confirm: bool = True) -> Job | None:
        """Check the fields and start; on the CPU, first measure and ask (unless ``confirm`` is False)."""
        if self.busy():
            return None
        values = self.fields.values()
        problem = self.kind.check(values)
        if problem:
            self.log.appendPlainText(problem)
            return None
        self._clear_results()
        self._set_running(True)
        if confirm and self.kind.warns(self._device()):
            self._pending = values
            self.log.appendPlainText(f"This runs on the CPU: estimating how long {self.title.lower()} takes\u2026")
            self.measuring = self.runner.submit(
                f"Estimating {self.title.lower()}", self.kind.estimate(values, self._device()), tag=Work("lab"),
                on_progress=self._progress, on_done=self._measured, on_failed=self._failed,
                on_cancelled=lambda job: self._end("Not started."))
            return self.measuring
        return self._launch(values)

    def _launch(self, values: Values) -> Job:
        note = self.kind.resume_note(values)
        if note:
            self.log.appendPlainText(note)
        self.log.appendPlainText(f"Started {self.title.lower()}: "
                                 + ", ".join(f"{k}={v}" for k, v in values.items()))
        self.running = self.runner.submit(
            self.title, self.kind.job(values, self._device()), tag=Work("lab"), on_progress=self._progress,
            on_done=self._done, on_failed=self._failed,
            on_cancelled=lambda job: self._end("Cancelled; start again with the same output to continue where "
                                               "it stopped."))
        return self.running

    def _confirm(self, estimate: str) -> bool:
        text = (f"{self.title} will run on the CPU: {estimate}.\n\nIt runs in the background, can be cancelled, "
                "and continues where it stopped when started again with the same output. Start it now?")
        answer = QMessageBox.question(self, self.title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _cancel(self) -> None:
        for job in (self.running, self.measuring):
            if job is not None:
                job.cancel.cancel()
                self.log.appendPlainText("Cancelling\u2026")

    def _set_running(self, on: bool) -> None:
        self.launch.setEnabled(not on)
        self.cancel.setEnabled(on)
        self.eta.clear()
        if not on:
            self.progress.setRange(0, 1000)

    def _end(self, line: str) -> None:
        self.running = self.measuring = None
        self._pending = None
        self._last_message = ""
        self._set_running(False)
        self.log.appendPlainText(line)

    def _progress(self, job: Job, p: Progress) -> None:
        if p.total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.fraction))
        else:
            self.progress.setRange(0, 0)
        eta = eta_text(p.eta_s)
        self.eta.setText(eta)
        if p.message and p.message != self._last_message:
            self._last_message = p.message
            extras = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in p.info.items() if k not in p.message]
            self.log.appendPlainText("  ".join([p.message, *extras, eta]).rstrip())

    def _measured(self, job: Job, estimate: str) -> None:
        values = self._pending
        self.measuring = self._pending = None
        self.log.appendPlainText(f"Expected: {estimate}.")
        if self._confirm(estimate):
            self._launch(values)
        else:
            self._end("Not started.")

    def _done(self, job: Job, result) -> None:
        self._end(f"Done: {result}")
        self.result = Path(result)
        self.fields.show_result(self.result)

    def _failed(self, job: Job, message: str) -> None:
        self._end(f"Failed: {message}")

    # --- results -----------------------------------------------------------------------
    def _clear_results(self) -> None:
        self.result = None
        self.results.clear()
        self.results.hide()
        for button in self.offered.values():
            self.plan_buttons.removeWidget(button)
            button.deleteLater()
        self.offered = {}

    def offer_plan(self, spec: str, text: str, tip: str) -> QPushButton | None:
        """A button that puts ``spec`` into the main window's precision picker (when there is one)."""
        if self._use_plan is None:
            return None
        button = QPushButton(text)
        button.setToolTip(tip)

        def use() -> None:
            self._use_plan(spec)
            button.setText("Added to the precision picker")
            button.setEnabled(False)
            self.log.appendPlainText(f"Precision picker: {spec} selected.")

        button.clicked.connect(use)
        self.plan_buttons.addWidget(button)
        self.offered[spec] = button
        return button
