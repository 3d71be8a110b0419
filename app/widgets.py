"""Small widgets shared by the window and dialogs."""

from __future__ import annotations

from pathlib import Path

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
    """Where and how to save an output: path, format (from the extension) and quality."""

    def __init__(self, default_path: Path, fmt: str, quality: int, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save output")
        self.path_edit = QLineEdit(str(default_path))
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(SAVE_FORMATS))
        self.format_combo.setCurrentText(fmt if fmt in SAVE_FORMATS else "PNG")
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(quality)
        self.quality_spin.setToolTip("JPEG and WebP only")
        form = QFormLayout(self)
        form.addRow("File", path_row)
        form.addRow("Format", self.format_combo)
        form.addRow("Quality", self.quality_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.format_combo.currentTextChanged.connect(self._format_changed)
        self._format_changed(self.format_combo.currentText())

    def _format_changed(self, fmt: str) -> None:
        self.quality_spin.setEnabled(fmt in LOSSY)
        path = Path(self.path_edit.text())
        if path.suffix.lower() != SAVE_FORMATS[fmt]:
            self.path_edit.setText(str(path.with_suffix(SAVE_FORMATS[fmt])))

    def _browse(self) -> None:
        fmt = self.format_combo.currentText()
        name, _ = QFileDialog.getSaveFileName(
            self, "Save output", self.path_edit.text(), f"{fmt} (*{SAVE_FORMATS[fmt]})"
        )
        if name:
            self.path_edit.setText(name)

    def chosen(self) -> tuple[Path, str, int]:
        """(path, format, quality); the path's extension always agrees with the chosen format."""
        fmt = self.format_combo.currentText()
        path = Path(self.path_edit.text()).expanduser()
        if path.suffix.lower() not in _EXTENSIONS[fmt]:
            path = path.with_suffix(SAVE_FORMATS[fmt])
        return path, fmt, self.quality_spin.value()


_EXTENSIONS = {fmt: {ext, {".jpg": ".jpeg", ".tif": ".tiff"}.get(ext, ext)} for fmt, ext in SAVE_FORMATS.items()}
