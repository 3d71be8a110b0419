"""Small widgets shared by the window and dialogs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app.screen_fit import available_geometry
from app.settings import LOSSY, SAVE_FORMATS


class NoticeBar(QFrame):
    """A dismissable line above the view for errors and results: never a modal box mid-workflow."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("\u2715")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self._label, 1)
        row.addWidget(close)
        self.hide()

    def show_message(self, text: str, error: bool = False) -> None:
        self.setProperty("kind", "error" if error else "info")
        self.style().unpolish(self)
        self.style().polish(self)
        self._label.setText(text)
        self.show()

    def text(self) -> str:
        return self._label.text() if self.isVisible() else ""

    def is_error(self) -> bool:
        return self.isVisible() and self.property("kind") == "error"


class SaveDialog(QDialog):
    """Which output to save (it says which side of the comparison it is), where, and how."""

    def __init__(self, choices: list[tuple[Any, str]], default_path: Callable[[Any], Path], fmt: str, quality: int,
                 parent=None) -> None:
        """``choices``: (output, label) for each output that may be meant, the first the default;
        ``default_path(output)``: where that output goes unless the user says otherwise."""
        super().__init__(parent)
        self.setWindowTitle("Save output")
        self._default_path = default_path
        self.output_combo = QComboBox()
        for choice, label in choices:
            self.output_combo.addItem(label, choice)
        self.output_combo.setToolTip("The output written to the file; A and B are the sides of the comparison")
        self.folder_edit = QLineEdit()
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        folder_row = QWidget()
        row = QHBoxLayout(folder_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        self.name_edit = QLineEdit()
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(SAVE_FORMATS))
        self.format_combo.setCurrentText(fmt if fmt in SAVE_FORMATS else "PNG")
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(quality)
        self.quality_spin.setToolTip("JPEG and WebP only")
        form = QFormLayout(self)
        form.addRow("Output", self.output_combo)
        form.addRow("Folder", folder_row)
        form.addRow("File name", self.name_edit)
        form.addRow("Format", self.format_combo)
        form.addRow("Quality", self.quality_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._set_path(default_path(self.output_combo.currentData()))
        self.output_combo.currentIndexChanged.connect(self._output_changed)
        self.format_combo.currentTextChanged.connect(self._format_changed)
        self._format_changed(self.format_combo.currentText())
        # Wide enough to read a whole file name and most folders.
        self.setMinimumWidth(min(self.fontMetrics().averageCharWidth() * 80, available_geometry(self).width() - 40))

    def path(self) -> Path:
        return Path(self.folder_edit.text().strip()).expanduser() / self.name_edit.text().strip()

    def _set_path(self, path: Path) -> None:
        self.folder_edit.setText(str(path.parent))
        self.name_edit.setText(path.name)
        self.folder_edit.setCursorPosition(0)

    def _output_changed(self) -> None:
        """Another output gets its own name, in the folder already chosen."""
        name = self._default_path(self.output_combo.currentData()).name
        suffix = SAVE_FORMATS[self.format_combo.currentText()]
        self.name_edit.setText(str(Path(name).with_suffix(suffix)))

    def _format_changed(self, fmt: str) -> None:
        self.quality_spin.setEnabled(fmt in LOSSY)
        name = Path(self.name_edit.text())
        if name.name and name.suffix.lower() != SAVE_FORMATS[fmt]:
            self.name_edit.setText(str(name.with_suffix(SAVE_FORMATS[fmt])))

    def _browse(self) -> None:
        fmt = self.format_combo.currentText()
        name, _ = QFileDialog.getSaveFileName(self, "Save output", str(self.path()), f"{fmt} (*{SAVE_FORMATS[fmt]})")
        if name:
            self._set_path(Path(name))

    def chosen(self) -> tuple[Any, Path, str, int]:
        """(output, path, format, quality); the path's extension always agrees with the chosen format."""
        fmt = self.format_combo.currentText()
        path = self.path()
        if path.suffix.lower() not in _EXTENSIONS[fmt]:
            path = path.with_suffix(SAVE_FORMATS[fmt])
        return self.output_combo.currentData(), path, fmt, self.quality_spin.value()


_EXTENSIONS = {fmt: {ext, {".jpg": ".jpeg", ".tif": ".tiff"}.get(ext, ext)} for fmt, ext in SAVE_FORMATS.items()}
