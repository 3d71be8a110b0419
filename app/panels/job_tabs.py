"""The long jobs' forms side by side: in Settings > Advanced and in the Lab window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QTabWidget

from app.panels.job_form import UsePlan
from app.panels.sweep import sweep_form
from app.panels.training import qat_form
from app.worker import JobRunner


class JobTabs(QTabWidget):
    def __init__(self, runner: JobRunner, device: Callable[[], str], use_plan: UsePlan | None, parent=None) -> None:
        super().__init__(parent)
        self.qat = qat_form(runner, device, use_plan)
        self.sweep = sweep_form(runner, device, use_plan)
        for form in (self.qat, self.sweep):
            self.addTab(form, form.title)

    def set_models(self, models: list[str], current: str) -> None:
        for form in (self.qat, self.sweep):
            form.set_models(models, current)
