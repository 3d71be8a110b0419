"""The toolbar's generator and precision pickers, and the recent choices they keep."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
)

from app import tasks
from app.session import ResultKey
from engine.errors import MPSRError

BUILTIN_MODELS = (("ESRGAN", "esrgan"), ("SRGAN", "srgan"))
BUILTIN_PRECISIONS = ("fp32", "int8", "mixed")
_BROWSE_MODEL = "__browse_model__"
_CUSTOM_PLAN = "__custom_plan__"
_BROWSE_PLAN = "__browse_plan__"

class ChoicesMixin:
    """Model and precision choice for :class:`~app.main_window.MainWindow`."""

    def _fill_model_combo(self) -> None:
        combo = self.model_combo
        combo.clear()
        for label, spec in BUILTIN_MODELS:
            combo.addItem(label, spec)
        _add_kept(combo, self.cfg.extra_models)
        combo.insertSeparator(combo.count())
        combo.addItem("Load model file\u2026", _BROWSE_MODEL)
        combo.setCurrentIndex(max(0, combo.findData(self.cfg.model)))

    def _fill_precision_combo(self) -> None:
        combo = self.precision_combo
        combo.clear()
        for p in BUILTIN_PRECISIONS:
            combo.addItem(p, p)
        # A kept precision is a PrecisionSpec key: a plan's name (no "/"), or a file's path shown by its name, as
        # PrecisionSpec.label does; read here without parsing, before torch is loaded.
        _add_kept(combo, self.cfg.extra_precisions)
        combo.insertSeparator(combo.count())
        combo.addItem("Per-stage plan\u2026", _CUSTOM_PLAN)
        combo.addItem("Plan or artifact file\u2026", _BROWSE_PLAN)
        combo.setCurrentIndex(max(0, combo.findData(self.cfg.precision)))

    def set_model(self, spec: str) -> None:
        """Choose a generator: "esrgan", "srgan" or a weights file (remembered in the picker)."""
        spec = str(spec)
        if self.model_combo.findData(spec) < 0:
            self.cfg.extra_models = [spec] + [m for m in self.cfg.extra_models if m != spec][:9]
            self._fill_model_combo()
        self.cfg.model = spec
        self.model_combo.setCurrentIndex(self.model_combo.findData(spec))

    def set_precision(self, text: str) -> bool:
        """Choose a precision: "fp32", "int8", "mixed", a plan like "16,8,8,16", or a plan/artifact file.

        The text is read once, here: the picker, the settings and result keys hold the precision's key, so
        "FP32" or "32,32,32,32" is fp32. Text that names no precision is a one-line notice; the choice stays.
        """
        # engine.quant loads torch: imported when a precision is chosen, not when the window starts.
        from engine.quant.precision import parse_precision

        try:
            spec = parse_precision(str(text)).key
        except MPSRError as err:
            self.notice.show_message(str(err), error=True)
            self.precision_combo.setCurrentIndex(max(0, self.precision_combo.findData(self.cfg.precision)))
            return False
        if self.precision_combo.findData(spec) < 0:
            self.cfg.extra_precisions = [spec] + [p for p in self.cfg.extra_precisions if p != spec][:9]
            self._fill_precision_combo()
        self.cfg.precision = spec
        self.precision_combo.setCurrentIndex(self.precision_combo.findData(spec))
        return True

    def _model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == _BROWSE_MODEL:
            name, _ = QFileDialog.getOpenFileName(
                self, "Load a generator", "", "Weights (*.safetensors *.pth *.pt);;All files (*)"
            )
            if name:
                self.set_model(name)
            else:
                self.model_combo.setCurrentIndex(self.model_combo.findData(self.cfg.model))
        else:
            self.cfg.model = data

    def _precision_activated(self, index: int) -> None:
        data = self.precision_combo.itemData(index)
        spec = None
        if data == _CUSTOM_PLAN:
            text, ok = QInputDialog.getText(
                self, "Per-stage plan",
                "Bits for feature extraction, body, upsampling, reconstruction (32, 16 or 8):", text="16,8,8,16",
            )
            spec = text.strip() if ok and text.strip() else None
        elif data == _BROWSE_PLAN:
            name, _ = QFileDialog.getOpenFileName(self, "Plan or quantized generator", "", "All files (*)")
            spec = name or None
        else:
            self.cfg.precision = data
            return
        if spec:
            self.set_precision(spec)  # on bad text: a notice, and the picker goes back
        else:
            self.precision_combo.setCurrentIndex(self.precision_combo.findData(self.cfg.precision))

    def current_key(self) -> ResultKey:
        return ResultKey(self.cfg.model, self.cfg.precision, self.cfg.benchmark)

    def run_settings(self) -> tasks.RunSettings:
        c = self.cfg
        return tasks.RunSettings(device=c.device, threads=c.threads, tile=c.tile, overlap=c.overlap)


def _add_kept(combo, values: list[str]) -> None:
    """The user's earlier choices (files, plans): each by its name, the whole text in its tooltip."""
    for value in values:
        combo.addItem(Path(value).name, value)
        combo.setItemData(combo.count() - 1, value, Qt.ItemDataRole.ToolTipRole)
