"""QAT retraining: a generator trained for a precision plan, written as a quantized artifact."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QLineEdit,
)

from app.jobs.device import runs_on_cpu
from app.jobs.qat import qat_estimate_job, qat_job
from app.panels.job_form import JobForm, path_row

ARTIFACT_SUFFIX = ".safetensors"


class QatForm(JobForm):
    title = "QAT retraining"
    start_text = "Start QAT"

    def _add_fields(self) -> None:
        self.plan = QLineEdit("mixed")
        self.plan.setToolTip("int8, mixed, 16,8,8,16 or a plan file: the precision the generator is trained for")
        self.form.addRow("Plan", self.plan)
        self.data.setPlaceholderText("A folder of high-resolution photos (never the evaluation set)")
        self.form.addRow("Training photos", path_row(self.data, True, self))
        self.steps.setValue(200)
        self.form.addRow("Steps", self.steps)
        self.out.setPlaceholderText("The quantized generator to write (.safetensors)")
        self.form.addRow("Output file", path_row(self.out, False, self, f"Quantized generator (*{ARTIFACT_SUFFIX})"))

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
