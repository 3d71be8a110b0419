"""Settings > Advanced: where the engine runs, and the long jobs (QAT retraining, sensitivity sweeps).

Every engine call goes through the window's :class:`~app.worker.JobRunner`, including the short
measuring job that comes before a long job on the CPU (the user is told its expected duration and
can decline). Finished results reach the main window's precision picker through the ``use_plan``
callback the dialog passes in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
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
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.jobs.device import cuda_available, runs_on_cpu
from app.jobs.eta import eta_text
from app.jobs.qat import qat_estimate_job, qat_job
from app.jobs.sweep import sweep_estimate_job, sweep_job
from app.settings import AppSettings
from app.worker import Job, JobRunner
from engine.errors import MPSRError
from engine.jobs import Progress

BUILTIN_MODELS = ("esrgan", "srgan")
ARTIFACT_SUFFIX = ".safetensors"
SWEEP_SPACES = (("stages", "Stage subsets (17 plans)"), ("grid", "Stage grid (81 plans)"),
                ("blocks", "Per block (all int8, one block at 16 bits)"))

UsePlan = Callable[[str], None]


# ----------------------------------------------------------------------------- forms
def _path_row(edit: QLineEdit, folder: bool, parent: QWidget, file_filter: str = "") -> QWidget:
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


class QatForm(JobForm):
    title = "QAT retraining"
    start_text = "Start QAT"

    def _add_fields(self) -> None:
        self.plan = QLineEdit("mixed")
        self.plan.setToolTip("int8, mixed, 16,8,8,16 or a plan file: the precision the generator is trained for")
        self.form.addRow("Plan", self.plan)
        self.data.setPlaceholderText("A folder of high-resolution photos (never the evaluation set)")
        self.form.addRow("Training photos", _path_row(self.data, True, self))
        self.steps.setValue(200)
        self.form.addRow("Steps", self.steps)
        self.out.setPlaceholderText("The quantized generator to write (.safetensors)")
        self.form.addRow("Output file", _path_row(self.out, False, self, f"Quantized generator (*{ARTIFACT_SUFFIX})"))

    def values(self) -> dict:
        out = self.out.text().strip()
        if out and not out.endswith(ARTIFACT_SUFFIX):
            out += ARTIFACT_SUFFIX
            self.out.setText(out)
        return {"model": self.model.currentText().strip(), "plan": self.plan.text().strip(),
                "data": self.data.text().strip(), "steps": self.steps.value(), "out": out}

    def _check(self, values: dict) -> str | None:
        if not values["plan"]:
            return "Choose a plan first (for example mixed or 16,8,8,16)."
        if values["out"] and Path(values["out"]).is_dir():
            return f"{values['out']} is a folder: choose a file name for the quantized generator."
        return super()._check(values)

    def _needs_warning(self) -> bool:
        return runs_on_cpu(self._device())

    def _estimate(self, values: dict):
        return qat_estimate_job(values, self._device())

    def _job(self, values: dict):
        return qat_job(values, self._device())

    def _resume_note(self, values: dict) -> str | None:
        from engine.train.loop import CHECKPOINT

        work = Path(values["out"] + ".work")
        if (work / CHECKPOINT).is_file():
            return f"Found a checkpoint in {work}: resuming from it."
        return None

    def _show_result(self, result: Path) -> None:
        size = result.stat().st_size / 1e6
        self.results.setMarkdown(f"**Quantized generator**: `{result}` ({size:.2f} MB)\n\n"
                                 f"Training log and checkpoint: `{result}.work`")
        self.results.setMinimumHeight(60)
        self.results.setMaximumHeight(90)
        self.results.show()
        self._offer_plan(str(result), "Use this plan",
                         "Add this quantized generator to the main window's precision picker and select it")


class SweepForm(JobForm):
    title = "Sensitivity sweep"
    start_text = "Run sweep"

    def _add_fields(self) -> None:
        self.method = QComboBox()
        self.method.addItem("PTQ (calibrate each plan)", "ptq")
        self.method.addItem("QAT (retrain each plan)", "qat")
        self.method.currentIndexChanged.connect(self._method_changed)
        self.form.addRow("Method", self.method)
        self.space = QComboBox()
        for key, text in SWEEP_SPACES:
            self.space.addItem(text, key)
        self.form.addRow("Plans", self.space)
        self.data.setPlaceholderText("Evaluation photos (HR; downscaled x4 for the generator)")
        self.form.addRow("Evaluation photos", _path_row(self.data, True, self))
        self.steps.setValue(200)
        self.steps.setToolTip("QAT training steps per plan")
        self.form.addRow("QAT steps", self.steps)
        self.recommend = QCheckBox("Recommend the fastest plan losing at most")
        self.recommend.setChecked(True)
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.0, 10.0)
        self.budget.setSingleStep(0.05)
        self.budget.setDecimals(2)
        self.budget.setValue(0.1)
        self.budget.setSuffix(" dB PSNR-Y")
        self.recommend.toggled.connect(self.budget.setEnabled)
        row = QHBoxLayout()
        row.addWidget(self.recommend)
        row.addWidget(self.budget)
        row.addStretch(1)
        self.form.addRow("Budget", row)
        self.out.setPlaceholderText("A folder for sweep.json, sweep.md and the plots")
        self.form.addRow("Output folder", _path_row(self.out, True, self))
        self._method_changed()

    def _method_changed(self) -> None:
        self.steps.setEnabled(self.method.currentData() == "qat")

    def values(self) -> dict:
        method = self.method.currentData()
        return {"model": self.model.currentText().strip(), "method": method, "space": self.space.currentData(),
                "data": self.data.text().strip(), "steps": self.steps.value() if method == "qat" else None,
                "budget": self.budget.value() if self.recommend.isChecked() else None, "out": self.out.text().strip()}

    def _needs_warning(self) -> bool:
        # Sweeps upscale and score on the CPU whatever the device setting (engine.sweep measures CPU latency).
        return True

    def _estimate(self, values: dict):
        return sweep_estimate_job(values)

    def _job(self, values: dict):
        return sweep_job(values)

    def _resume_note(self, values: dict) -> str | None:
        from engine.sweep import load_sweep

        path = Path(values["out"]) / "sweep.json"
        if not path.is_file():
            return None
        try:
            rows = len(load_sweep(path).rows)
        except MPSRError:
            return None  # run_sweep reports what is wrong with it
        return f"Found a sweep with {rows} measured plans in {path.parent}: they are reused, only missing plans run."

    def _show_result(self, result: Path) -> None:
        """The sweep's table, recommendation and plots, and a button per recommended plan."""
        from engine.sweep import load_sweep

        sweep = load_sweep(result)
        folder = result.parent
        self.results.setMaximumHeight(16777215)
        self.results.setMinimumHeight(320)
        self.results.setHtml(sweep_html(sweep, folder))
        # Setting the text drops a document's resources: the scaled plots go in after it, then a relayout.
        doc = self.results.document()
        width = max(320, self.results.viewport().width() - 30)
        for name in sweep.files.get("plots", {}).values():
            image = QImage(str(folder / name))
            if not image.isNull():
                scaled = image.scaledToWidth(min(width, image.width()), Qt.TransformationMode.SmoothTransformation)
                doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), scaled)
        doc.markContentsDirty(0, doc.characterCount())
        self.results.show()
        for kind, label in (("stage", "stage plan"), ("block", "per-block plan")):
            plan = sweep.recommendations.get(kind, {}).get("plan")
            if plan:
                self._offer_plan(plan, f"Use this plan: {plan}",
                                 f"Add the recommended {label} to the main window's precision picker and select it")


def _cell(value, digits: int, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def sweep_html(sweep, folder: Path) -> str:
    """A compact view of a finished sweep for the pane; sweep.md beside it has the full report."""
    from engine.sweep.plans import FP32, INT8, MIXED
    from engine.sweep.recommend import MB, quality_loss

    c = sweep.config
    rec = sweep.recommendations
    chosen = {rec[k]["plan"]: f"recommended ({k})" for k in ("stage", "block") if "plan" in rec.get(k, {})}
    presets = {FP32: "fp32", INT8: "int8", MIXED: "mixed (paper)"}
    reference = sweep.row(FP32)
    optional = [(key, title) for key, title in (("niqe", "NIQE"), ("pi", "PI"))
                if any(r.get(key) is not None for r in sweep.rows)]
    head = ["plan", "", "size (MB)", "latency (ms)", "PSNR-Y (dB)", "loss (dB)", "PSNR to fp32 (dB)",
            *(title for _, title in optional)]
    lines = []
    for r in sweep.rows:
        loss = quality_loss(r, reference) if reference else None
        name = ", ".join(filter(None, (presets.get(r["plan"]), chosen.get(r["plan"]))))
        cells = [f"<code>{escape(r['plan'])}</code>", name, _cell(r["size_bytes"], 3, 1 / MB),
                 _cell(r["latency_s"], 1, 1000), _cell(r.get("psnr_y"), 3), _cell(loss, 3),
                 "-" if r["plan"] == FP32 else _cell(r.get("psnr_fp32"), 2),
                 *(_cell(r.get(key), 3) for key, _ in optional)]
        style = ' style="background-color:#e3f2e1; font-weight:bold"' if r["plan"] in chosen else ""
        lines.append(f"<tr{style}>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    qat = f", {c['steps']} QAT steps per plan" if c["method"] == "qat" else ""
    title = (f"<p><b>{escape(c['model_name'])}</b> ({escape(c['arch'])}), {c['method'].upper()}{qat}, "
             f"{len(c['images'])} images of {escape(c['dataset'])}: {len(sweep.rows)} plans measured.</p>")
    table = ('<table cellspacing="0" cellpadding="3" border="1" style="border-collapse:collapse"><tr>'
             + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(lines) + "</table>")
    report = folder / sweep.files.get("markdown", "sweep.md")
    link = f'<p>Full report with definitions: <a href="{report.as_uri()}">{escape(str(report))}</a></p>'
    plots = [f'<p><img src="{escape(name)}"></p>' for name in sweep.files.get("plots", {}).values()]
    notes = [f"<p><i>{escape(note)}</i></p>" for note in sweep.notes]
    return "".join([title, _recommendation_html(rec), table, *plots, *notes, link])


def _recommendation_html(rec: dict) -> str:
    from engine.sweep.recommend import MB

    if not rec:
        return "<p>No plan recommended: run the sweep with a budget to get one.</p>"
    out = []
    for kind, label in (("stage", "Stage plan"), ("block", "Per-block plan")):
        entry = rec.get(kind, {})
        if "plan" in entry:
            m = entry["measured"]
            out.append(f"<b>{label}</b> for {escape(rec['budget']['text'])} ({rec['budget']['objective']}): "
                       f"<code>{escape(entry['plan'])}</code>, {_cell(m['size_bytes'], 3, 1 / MB)} MB, "
                       f"{_cell(m['latency_s'], 1, 1000)} ms, loss {_cell(m['quality_loss'], 3)} dB (measured)")
        elif "error" in entry:
            out.append(f"<b>{label}</b>: {escape(entry['error'])}")
    return "<p>" + "<br>".join(out) + "</p>"


class AdvancedPane(QWidget):
    def __init__(self, runner: JobRunner, use_plan: UsePlan | None = None, parent=None) -> None:
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
        self.qat = QatForm(runner, self.device.currentData, use_plan)
        self.sweep = SweepForm(runner, self.device.currentData, use_plan)
        self.jobs = QTabWidget()
        self.jobs.addTab(self.qat, QatForm.title)
        self.jobs.addTab(self.sweep, SweepForm.title)
        layout = QVBoxLayout(self)
        layout.addWidget(run)
        layout.addWidget(self.jobs, 1)

    def load(self, cfg: AppSettings) -> None:
        self.device.setCurrentIndex(max(0, self.device.findData(cfg.device)))
        self.threads.setValue(cfg.threads)
        self.tile.setValue(cfg.tile)
        self.overlap.setValue(cfg.overlap)
        for form in (self.qat, self.sweep):
            form.set_models(cfg.extra_models, cfg.model)

    def store(self, cfg: AppSettings) -> None:
        cfg.device = self.device.currentData()
        cfg.threads = self.threads.value()
        cfg.tile = self.tile.value()
        cfg.overlap = self.overlap.value()
