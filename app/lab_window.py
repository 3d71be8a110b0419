"""Tools > Lab: QAT retraining and sensitivity sweeps in a window of their own.

A long run can be watched here while the main window is used; the same forms stay in Settings > Advanced.
Jobs run on the main window's Lab thread (upscales do not wait for them), and a finished plan reaches its precision picker (``use_plan``).
Closing the window only hides it: a running job goes on, and opening the Lab again shows it. Its size,
place and tab are kept in the app's settings.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import resources
from app.panels.job_form import UsePlan
from app.panels.job_tabs import JobTabs
from app.screen_fit import restore_geometry
from app.worker import JobRunner

PREFERRED_SIZE = QSize(760, 820)
GEOMETRY_KEY, TAB_KEY = "lab/geometry", "lab/tab"


class LabWindow(QWidget):
    def __init__(self, runner: JobRunner, device: Callable[[], str], use_plan: UsePlan | None, store: QSettings,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.store = store
        self.setWindowTitle("MPSR Lab")
        self.setWindowIcon(resources.app_icon())
        self.jobs = JobTabs(runner, device, use_plan)
        self.qat, self.sweep = self.jobs.qat, self.jobs.sweep
        layout = QVBoxLayout(self)
        layout.addWidget(self.jobs)
        restore_geometry(self, store.value(GEOMETRY_KEY), PREFERRED_SIZE)
        self.jobs.setCurrentIndex(int(store.value(TAB_KEY, 0)))

    def set_models(self, models: list[str], current: str) -> None:
        self.jobs.set_models(models, current)

    def closeEvent(self, event) -> None:
        self.store.setValue(GEOMETRY_KEY, self.saveGeometry())
        self.store.setValue(TAB_KEY, self.jobs.currentIndex())
        super().closeEvent(event)
