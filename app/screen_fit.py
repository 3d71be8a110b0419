"""Top-level windows sized to the screen they open on.

A laptop's 1366x768, less a panel and a title bar, must still show every button: windows take their
preferred size only where it fits the screen's available area, and panes that can grow long scroll.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

# Room for the window manager's title bar and borders while a window is not shown yet (its frame is unknown).
DECORATION = QMargins(8, 40, 8, 8)


def available_geometry(widget: QWidget) -> QRect:
    """The part of the widget's screen (else the primary screen) not taken by panels and docks."""
    window = widget.window()
    screen = window.screen() if window is not None else None
    return (screen or QGuiApplication.primaryScreen()).availableGeometry()


def _frame(window: QWidget) -> QMargins:
    """The decoration around ``window``: measured once it is shown, else :data:`DECORATION`."""
    if window.isVisible():
        outer, inner = window.frameGeometry(), window.geometry()
        measured = QMargins(inner.left() - outer.left(), inner.top() - outer.top(),
                            outer.right() - inner.right(), outer.bottom() - inner.bottom())
        if not measured.isNull():
            return measured
    return DECORATION


def fit_to_screen(window: QWidget, preferred: QSize | None = None, centre: bool = True) -> None:
    """Resize ``window`` to ``preferred`` (default: its current size) shrunk to fit the available area with its
    frame, never below its minimum size, and move it inside that area (centred when ``centre``)."""
    area = available_geometry(window)
    frame = _frame(window)
    room = area.marginsRemoved(frame).size()
    want = preferred if preferred is not None else window.size()
    size = want.boundedTo(room).expandedTo(window.minimumSizeHint().boundedTo(room))
    window.resize(size)
    outer = QSize(size.width() + frame.left() + frame.right(), size.height() + frame.top() + frame.bottom())
    if centre:
        x = area.left() + max(0, (area.width() - outer.width()) // 2)
        y = area.top() + max(0, (area.height() - outer.height()) // 2)
    else:
        inner = window.geometry().topLeft()
        if area.contains(QRect(inner.x() - frame.left(), inner.y() - frame.top(), outer.width(), outer.height())):
            # Already inside: a window not shown yet has a guessed frame, and moving it by that guess would
            # shift a restored window a little at every start.
            return
        x = min(max(window.x(), area.left()), max(area.left(), area.right() + 1 - outer.width()))
        y = min(max(window.y(), area.top()), max(area.top(), area.bottom() + 1 - outer.height()))
    window.move(x, y)


def restore_geometry(window: QWidget, saved, preferred: QSize) -> bool:
    """Put ``window`` where ``saved`` (a saveGeometry() value, or None) had it, brought inside the screen it opens
    on; without a usable one, ``preferred`` fitted and centred. True when the saved geometry was used."""
    if saved is not None and window.restoreGeometry(saved):
        fit_to_screen(window, centre=False)  # saved on a larger screen, or with another panel
        return True
    fit_to_screen(window, preferred)
    return False
