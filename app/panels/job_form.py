"""A long job's form: its fields, a measured estimate before a CPU run, progress, log and results.

Every engine call goes through the window's :class:`~app.worker.JobRunner`, including the short
measuring job that comes before a long job on the CPU (the user is told its expected duration and
can decline). Finished results reach the main window's precision picker through ``use_plan``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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


class JobForm(QWidget):
    """Fields, Start/Cancel, live progress, log and results of one long job; subclasses add the fields."""

    title = ""
    start_text = "Start"

    def __init__(self, runner: JobRunner, device: Callable[[], str], use_plan: UsePlan | None,
                 parent=None) -> None:
        super().__init__(parent)
        self.runner, self._device, self._use_plan = runner, device, use_plan
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
        self._add_fields()

        self.launch = QPushButton(self.start_text)
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
        runner.progress.connect(self._progress)
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        runner.cancelled.connect(self._cancelled)

    # --- what subclasses provide -------------------------------------------------------
    def _add_fields(self) -> None:
        raise NotImplementedError

    def values(self) -> dict:
        raise NotImplementedError

    def _check(self, values: dict) -> str | None:
        """Why these values cannot start, or None."""
        if not values["data"] or not Path(values["data"]).is_dir():
            return f"Choose a data folder first ({values['data'] or 'none given'})."
        if not values["out"]:
            return "Choose where the results go first."
        return None

    def _needs_warning(self) -> bool:
        raise NotImplementedError

    def _estimate(self, values: dict):
        raise NotImplementedError

    def _job(self, values: dict):
        raise NotImplementedError

    def _resume_note(self, values: dict) -> str | None:
        raise NotImplementedError

    def _show_result(self, result: Path) -> None:
        raise NotImplementedError

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
        values = self.values()
        problem = self._check(values)
        if problem:
            self.log.appendPlainText(problem)
            return None
        self._clear_results()
        self._set_running(True)
        if confirm and self._needs_warning():
            self._pending = values
            self.log.appendPlainText(f"This runs on the CPU: estimating how long {self.title.lower()} takes\u2026")
            self.measuring = self.runner.submit(f"Estimating {self.title.lower()}", self._estimate(values),
                                                tag=("advanced", "estimate"))
            return self.measuring
        return self._launch(values)

    def _launch(self, values: dict) -> Job:
        note = self._resume_note(values)
        if note:
            self.log.appendPlainText(note)
        self.log.appendPlainText(f"Started {self.title.lower()}: "
                                 + ", ".join(f"{k}={v}" for k, v in values.items()))
        self.running = self.runner.submit(self.title, self._job(values), tag=("advanced", self.title))
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

    def _mine(self, job: Job) -> bool:
        return job is self.running or job is self.measuring

    def _progress(self, job: Job, p: Progress) -> None:
        if not self._mine(job):
            return
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

    def _finished(self, job: Job, result) -> None:
        if job is self.measuring:
            values = self._pending
            self.measuring = self._pending = None
            self.log.appendPlainText(f"Expected: {result}.")
            if self._confirm(result):
                self._launch(values)
            else:
                self._end("Not started.")
        elif job is self.running:
            self._end(f"Done: {result}")
            self.result = Path(result)
            self._show_result(self.result)

    def _failed(self, job: Job, message: str) -> None:
        if self._mine(job):
            self._end(f"Failed: {message}")

    def _cancelled(self, job: Job) -> None:
        if job is self.measuring:
            self._end("Not started.")
        elif job is self.running:
            self._end("Cancelled; start again with the same output to continue where it stopped.")

    # --- results -----------------------------------------------------------------------
    def _clear_results(self) -> None:
        self.result = None
        self.results.clear()
        self.results.hide()
        for button in self.offered.values():
            self.plan_buttons.removeWidget(button)
            button.deleteLater()
        self.offered = {}

    def _offer_plan(self, spec: str, text: str, tip: str) -> QPushButton | None:
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
