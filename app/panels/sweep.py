"""Sensitivity sweeps: every plan of a space measured, the fastest within a quality budget recommended."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
)

from app.jobs.kind import Values
from app.jobs.sweep import SWEEP
from app.panels.job_form import JobForm, UsePlan, path_row
from app.worker import JobRunner

SWEEP_SPACES = (("stages", "Stage subsets (17 plans)"), ("grid", "Stage grid (81 plans)"),
                ("blocks", "Per block (all int8, one block at 16 bits)"))


class SweepFields:
    def __init__(self, form: JobForm) -> None:
        self.form = form
        self.method = QComboBox()
        self.method.addItem("PTQ (calibrate each plan)", "ptq")
        self.method.addItem("QAT (retrain each plan)", "qat")
        self.method.currentIndexChanged.connect(self._method_changed)
        form.form.addRow("Method", self.method)
        self.space = QComboBox()
        for key, text in SWEEP_SPACES:
            self.space.addItem(text, key)
        form.form.addRow("Plans", self.space)
        form.data.setPlaceholderText("Evaluation photos (HR; downscaled x4 for the generator)")
        form.form.addRow("Evaluation photos", path_row(form.data, True, form))
        form.steps.setValue(200)
        form.steps.setToolTip("QAT training steps per plan")
        form.form.addRow("QAT steps", form.steps)
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
        form.form.addRow("Budget", row)
        form.out.setPlaceholderText("A folder for sweep.json, sweep.md and the plots")
        form.form.addRow("Output folder", path_row(form.out, True, form))
        self._method_changed()

    def _method_changed(self) -> None:
        self.form.steps.setEnabled(self.method.currentData() == "qat")

    def values(self) -> Values:
        form, method = self.form, self.method.currentData()
        return {"model": form.model.currentText().strip(), "method": method, "space": self.space.currentData(),
                "data": form.data.text().strip(), "steps": form.steps.value() if method == "qat" else None,
                "budget": self.budget.value() if self.recommend.isChecked() else None, "out": form.out.text().strip()}

    def show_result(self, result: Path) -> None:
        """The sweep's table, recommendation and plots, and a button per recommended plan."""
        from engine.sweep import load_sweep

        sweep = load_sweep(result)
        folder, results = result.parent, self.form.results
        results.setMaximumHeight(16777215)
        results.setMinimumHeight(320)
        report = folder / sweep.files.get("markdown", "sweep.md")
        # The engine's own report, as written beside sweep.json; the plots are its images.
        text = report.read_text(encoding="utf-8") if report.is_file() else f"{report} is missing: run the sweep again."
        results.setMarkdown(f"Report: [{report}]({report.as_uri()})\n\n{text}")
        # Setting the text drops a document's resources: the scaled plots go in after it, then a relayout.
        doc = results.document()
        width = max(320, results.viewport().width() - 30)
        for name in sweep.files.get("plots", {}).values():
            image = QImage(str(folder / name))
            if not image.isNull():
                scaled = image.scaledToWidth(min(width, image.width()), Qt.TransformationMode.SmoothTransformation)
                doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), scaled)
        doc.markContentsDirty(0, doc.characterCount())
        results.show()
        for kind, label in (("stage", "stage plan"), ("block", "per-block plan")):
            plan = sweep.recommendations.get(kind, {}).get("plan")
            if plan:
                self.form.offer_plan(plan, f"Use this plan: {plan}",
                                     f"Add the recommended {label} to the main window's precision picker and "
                                     "select it")


def sweep_form(runner: JobRunner, device: Callable[[], str], use_plan: UsePlan | None) -> JobForm:
    return JobForm(runner, SWEEP, SweepFields, device, use_plan)
