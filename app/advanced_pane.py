"""Settings > Advanced: where the engine runs, and the long jobs (QAT retraining, sensitivity sweeps)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.jobs.device import cuda_available
from app.panels.job_form import UsePlan
from app.panels.job_tabs import JobTabs
from app.settings import AppSettings
from app.worker import JobRunner


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
        self.jobs = JobTabs(runner, self.device.currentData, use_plan)
        self.qat, self.sweep = self.jobs.qat, self.jobs.sweep
        layout = QVBoxLayout(self)
        layout.addWidget(run)
        layout.addWidget(self.jobs, 1)

    def load(self, cfg: AppSettings) -> None:
        self.device.setCurrentIndex(max(0, self.device.findData(cfg.device)))
        self.threads.setValue(cfg.threads)
        self.tile.setValue(cfg.tile)
        self.overlap.setValue(cfg.overlap)
        self.jobs.set_models(cfg.extra_models, cfg.model)

    def store(self, cfg: AppSettings) -> None:
        cfg.device = self.device.currentData()
        cfg.threads = self.threads.value()
        cfg.tile = self.tile.value()
        cfg.overlap = self.overlap.value()
