"""Tools > Settings: saving and display preferences, and the Advanced pane."""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.advanced_pane import AdvancedPane, UsePlan
from app.screen_fit import fit_to_screen
from app.settings import SAVE_FORMATS, AppSettings
from app.worker import JobRunner


WIDTH, ADVANCED_HEIGHT = 720, 820


class SettingsDialog(QDialog):
    applied = Signal()

    def __init__(self, cfg: AppSettings, runner: JobRunner, parent=None, use_plan: UsePlan | None = None) -> None:
        """``use_plan(spec)``: puts a plan or artifact produced in the Advanced pane into the precision picker."""
        super().__init__(parent)
        self.cfg = cfg
        self.setWindowTitle("Settings")

        general = QWidget()
        form = QFormLayout(general)
        self.output_dir = QLineEdit()
        self.output_dir.setPlaceholderText("The folder saved to last (at first: next to the input)")
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse_output)
        row = QHBoxLayout()
        row.addWidget(self.output_dir, 1)
        row.addWidget(browse)
        form.addRow("Save outputs in", row)
        self.save_format = QComboBox()
        self.save_format.addItems(list(SAVE_FORMATS))
        form.addRow("Default format", self.save_format)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setToolTip("JPEG and WebP quality")
        form.addRow("JPEG/WebP quality", self.quality)
        self.input_view = QComboBox()
        self.input_view.addItem("Bicubic x4", "bicubic")
        self.input_view.addItem("Nearest x4 (true pixels)", "nearest")
        form.addRow("Show the input as", self.input_view)
        self.compute_pi = QCheckBox("Compute PI (needs the Ma model; about 15 s per 512x512 output on 2 cores)")
        form.addRow("Metrics", self.compute_pi)

        self.advanced = AdvancedPane(runner, use_plan)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.advanced)

        self.tabs = QTabWidget()
        self.tabs.addTab(general, "General")
        self.tabs.addTab(scroll, "Advanced")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Close
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.load(cfg)
        self.tabs.currentChanged.connect(self._fit_tab)
        self._fit_tab()

    def _fit_tab(self) -> None:
        """As tall as the tab shown needs, where the screen has room: the Advanced pane scrolls, the buttons stay."""
        height = ADVANCED_HEIGHT if self.tabs.currentIndex() == 1 else self.sizeHint().height()
        fit_to_screen(self, QSize(WIDTH, height), centre=not self.isVisible())

    def load(self, cfg: AppSettings) -> None:
        self.output_dir.setText(cfg.output_dir)
        self.save_format.setCurrentText(cfg.save_format)
        self.quality.setValue(cfg.quality)
        self.input_view.setCurrentIndex(max(0, self.input_view.findData(cfg.input_view)))
        self.compute_pi.setChecked(cfg.compute_pi)
        self.advanced.load(cfg)

    def apply(self) -> None:
        c = self.cfg
        c.output_dir = self.output_dir.text().strip()
        c.save_format = self.save_format.currentText()
        c.quality = self.quality.value()
        c.input_view = self.input_view.currentData()
        c.compute_pi = self.compute_pi.isChecked()
        self.advanced.store(c)
        self.applied.emit()

    def accept(self) -> None:
        self.apply()
        super().accept()

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save outputs in", self.output_dir.text())
        if folder:
            self.output_dir.setText(folder)
