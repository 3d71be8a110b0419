"""Sensitivity sweeps: every plan of a space measured, the fastest within a quality budget recommended."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
)

from app.jobs.sweep import sweep_estimate_job, sweep_job
from app.panels.job_form import JobForm, path_row
from engine.errors import MPSRError

SWEEP_SPACES = (("stages", "Stage subsets (17 plans)"), ("grid", "Stage grid (81 plans)"),
                ("blocks", "Per block (all int8, one block at 16 bits)"))


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
        self.form.addRow("Evaluation photos", path_row(self.data, True, self))
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
        self.form.addRow("Output folder", path_row(self.out, True, self))
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
        from engine.sweep.store import FILE, load_sweep

        path = Path(values["out"]) / FILE
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
        report = folder / sweep.files.get("markdown", "sweep.md")
        # The engine's own report, as written beside sweep.json; the plots are its images.
        text = report.read_text(encoding="utf-8") if report.is_file() else f"{report} is missing: run the sweep again."
        self.results.setMarkdown(f"Report: [{report}]({report.as_uri()})\n\n{text}")
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
