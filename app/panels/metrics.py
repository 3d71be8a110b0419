"""Under the compare view: one column of numbers per side (A, B)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

from app.compute import panel_metrics

# Rows below the metrics of the engine's registry (app.compute.panel_metrics), with their tooltips.
RUN_ROWS = {
    "Inference time": "Time spent in the generator for this image, excluding reading and writing.",
    "Model size": "Size on disk of the weights or quantized artifact.",
    "Runs on": "",
}


def _rows() -> dict[str, str]:
    """Row name -> tooltip: each metric by its label, then the run's facts."""
    return {**{m.label: f"{m.description}." if m.description else "" for m in panel_metrics()}, **RUN_ROWS}


class SideMetrics(QGroupBox):
    def __init__(self, side: str, parent=None) -> None:
        super().__init__(side, parent)
        self.side = side
        self._values: dict[str, QLabel] = {}
        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setVerticalSpacing(2)
        for name, tip in _rows().items():
            label = QLabel(name)
            value = QLabel("-")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName(f"metric_{side}_{name}")
            label.setToolTip(tip)
            form.addRow(label, value)
            self._values[name] = value

    def show_values(self, title: str, values: dict[str, tuple[str, str]]) -> None:
        """``values``: row name -> (text, tooltip); rows not given show '-'."""
        self.setTitle(f"{self.side}: {title}" if title else self.side)
        for name, label in self._values.items():
            text, tip = values.get(name, ("-", ""))
            label.setText(text)
            label.setToolTip(tip)

    def value(self, name: str) -> str:
        return self._values[name].text()


class MetricsPanel(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.a = SideMetrics("A")
        self.b = SideMetrics("B")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.a)
        row.addWidget(self.b)

    def side(self, name: str) -> SideMetrics:
        return self.a if name == "A" else self.b
