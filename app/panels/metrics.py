"""Under the compare view: one column of numbers per side (A, B)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

ROWS = ("PI", "NIQE", "PSNR-Y", "SSIM-Y", "PSNR to fp32", "Inference time", "Model size", "Runs on")
ROW_TIPS = {
    "PI": "Perceptual Index, 0.5*((10 - Ma) + NIQE); lower looks more natural. Needs the Ma (NRQM) model file.",
    "NIQE": "Naturalness Image Quality Evaluator; lower looks more natural. No reference needed.",
    "PSNR-Y": "PSNR on luma against the reference, benchmark mode only (the image is downscaled x4 first).",
    "SSIM-Y": "SSIM on luma against the reference, benchmark mode only.",
    "PSNR to fp32": "How close this output is to the same generator's fp32 output (higher = closer).",
    "Inference time": "Time spent in the generator for this image, excluding reading and writing.",
    "Model size": "Size on disk of the weights or quantized artifact.",
}


class SideMetrics(QGroupBox):
    def __init__(self, side: str, parent=None) -> None:
        super().__init__(side, parent)
        self.side = side
        self._values: dict[str, QLabel] = {}
        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setVerticalSpacing(2)
        for name in ROWS:
            label = QLabel(name)
            value = QLabel("-")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName(f"metric_{side}_{name}")
            label.setToolTip(ROW_TIPS.get(name, ""))
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
