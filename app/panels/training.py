"""QAT retraining: a generator trained for a precision plan, written as a quantized artifact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QLineEdit

from app.jobs.kind import Values
from app.jobs.qat import ARTIFACT_SUFFIX, QAT
from app.panels.job_form import JobForm, UsePlan, path_row
from app.worker import JobRunner


class QatFields:
    def __init__(self, form: JobForm) -> None:
        self.form = form
        self.plan = QLineEdit("mixed")
        self.plan.setToolTip("int8, mixed, 16,8,8,16 or a plan file: the precision the generator is trained for")
        form.form.addRow("Plan", self.plan)
        form.data.setPlaceholderText("A folder of high-resolution photos (never the evaluation set)")
        form.form.addRow("Training photos", path_row(form.data, True, form))
        form.steps.setValue(200)
        form.form.addRow("Steps", form.steps)
        form.out.setPlaceholderText("The quantized generator to write (.safetensors)")
        form.form.addRow("Output file", path_row(form.out, False, form, f"Quantized generator (*{ARTIFACT_SUFFIX})"))

    def values(self) -> Values:
        form = self.form
        out = form.out.text().strip()
        if out and not out.endswith(ARTIFACT_SUFFIX):
            out += ARTIFACT_SUFFIX
            form.out.setText(out)
        return {"model": form.model.currentText().strip(), "plan": self.plan.text().strip(),
                "data": form.data.text().strip(), "steps": form.steps.value(), "out": out}

    def show_result(self, result: Path) -> None:
        results = self.form.results
        size = result.stat().st_size / 1e6
        results.setMarkdown(f"**Quantized generator**: `{result}` ({size:.2f} MB)\n\n"
                            f"Training log and checkpoint: `{result}.work`")
        results.setMinimumHeight(60)
        results.setMaximumHeight(90)
        results.show()
        self.form.offer_plan(str(result), "Use this plan",
                             "Add this quantized generator to the main window's precision picker and select it")


def qat_form(runner: JobRunner, device: Callable[[], str], use_plan: UsePlan | None) -> JobForm:
    return JobForm(runner, QAT, QatFields, device, use_plan)
