"""The list of queued images with a status per file."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
)

from app.session import ImageEntry, Status

_COLOURS = {
    Status.DONE: QColor(60, 150, 75),
    Status.FAILED: QColor(200, 60, 50),
    Status.CANCELLED: QColor(170, 120, 30),
    Status.RUNNING: QColor(40, 110, 200),
}


class QueuePanel(QTreeWidget):
    entrySelected = Signal(int)  # entry id
    removeRequested = Signal(list)  # entry ids

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("queue")
        self.setColumnCount(3)
        self.setHeaderLabels(["File", "Size", "Status"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # Long names and messages keep their start and their end; the tooltip has the whole text.
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._items: dict[int, QTreeWidgetItem] = {}
        self.currentItemChanged.connect(self._on_current)

    def add_entry(self, entry: ImageEntry) -> None:
        item = QTreeWidgetItem([entry.path.name, "", ""])
        item.setData(0, Qt.ItemDataRole.UserRole, entry.id)
        self._items[entry.id] = item
        self.addTopLevelItem(item)
        self.update_entry(entry)

    def update_entry(self, entry: ImageEntry) -> None:
        item = self._items.get(entry.id)
        if item is None:
            return
        if entry.inputs is not None:
            w, h = entry.inputs.picture.size
            item.setText(1, f"{w}x{h}")
        text = entry.status.value + (f": {entry.message}" if entry.message else "")
        item.setText(2, text)
        tip = f"{entry.path}\n{entry.status.value}: {entry.input_error or entry.message}".rstrip(": ")
        for column in range(self.columnCount()):
            item.setToolTip(column, tip)
        colour = _COLOURS.get(entry.status)
        item.setForeground(2, QBrush(colour) if colour else QBrush())

    def remove_entry(self, entry_id: int) -> None:
        item = self._items.pop(entry_id, None)
        if item is not None:
            self.takeTopLevelItem(self.indexOfTopLevelItem(item))

    def select_entry(self, entry_id: int) -> None:
        """Make ``entry_id`` the current row (which shows it) and the only selected one, scrolled into view."""
        item = self._items.get(entry_id)
        if item is not None:
            self.setCurrentItem(item)
            self.clearSelection()
            item.setSelected(True)
            self.scrollToItem(item)

    def current_entry_id(self) -> int | None:
        item = self.currentItem()
        return None if item is None else item.data(0, Qt.ItemDataRole.UserRole)

    def selected_entry_ids(self) -> list[int]:
        return [i.data(0, Qt.ItemDataRole.UserRole) for i in self.selectedItems()]

    def status_text(self, entry_id: int) -> str:
        return self._items[entry_id].text(2)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selectedItems():
            self.removeRequested.emit(self.selected_entry_ids())
            return
        super().keyPressEvent(event)

    def _on_current(self, current: QTreeWidgetItem | None, _previous) -> None:
        if current is not None:
            self.entrySelected.emit(current.data(0, Qt.ItemDataRole.UserRole))
