"""On a laptop screen (1366x768, 1280x720) every button of the main window and of Settings can be reached."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QRect, QSettings, QStandardPaths
from PySide6.QtWidgets import QAbstractButton, QComboBox, QScrollArea, QToolBar, QWidget

from app import screen_fit
from app.main_window import MainWindow

QStandardPaths.setTestModeEnabled(True)


@pytest.fixture(params=[(1366, 768), (1280, 720)], ids=["1366x768", "1280x720"])
def area(request, monkeypatch) -> QRect:
    rect = QRect(0, 0, *request.param)
    monkeypatch.setattr(screen_fit, "available_geometry", lambda widget: rect)
    return rect


@pytest.fixture
def store(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _settle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.busy, timeout=120_000)


def _global_rect(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _scroll_area_of(widget: QWidget) -> QScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    return parent


def out_of_reach(window: QWidget, area: QRect) -> list[str]:
    """Every shown button and drop-down of ``window`` that is not inside ``area``; one in a scrolling pane
    counts where scrolling brings it."""
    if not area.contains(window.frameGeometry()):
        return [f"the window itself: {window.frameGeometry()} in {area}"]
    problems = []
    for control in window.findChildren(QAbstractButton) + window.findChildren(QComboBox):
        if not control.isVisible():
            continue
        if (scroll := _scroll_area_of(control)) is not None:
            scroll.ensureWidgetVisible(control, 0, 0)
            if not _global_rect(scroll.viewport()).contains(_global_rect(control)):
                problems.append(f"{control.text() if hasattr(control, 'text') else control.objectName()}: "
                                f"cannot be scrolled into view")
                continue
        if not area.contains(_global_rect(control)):
            name = getattr(control, "text", control.objectName)() or control.toolTip() or type(control).__name__
            problems.append(f"{name!r} at {_global_rect(control)}")
    return problems


def test_main_window_fits_with_every_button(qtbot, store, area):
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.show()
    _settle(qtbot, window)
    window.notice.show_message("a message with its close button")
    window._set_busy(True)  # the progress bar and Cancel, as during a run
    qtbot.wait(50)
    toolbar = window.findChild(QToolBar, "mainToolbar")
    hidden = [a.text() for a in toolbar.actions()
              if not a.isSeparator() and not toolbar.widgetForAction(a).isVisible()]
    assert hidden == [], f"toolbar overflows: {hidden}"
    assert out_of_reach(window, area) == []
    assert window.cancel_button.isEnabled() and window.progress_bar.isVisible()
    window._set_busy(False)


def test_settings_dialog_fits_with_every_button_on_each_tab(qtbot, store, area):
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.show()
    _settle(qtbot, window)
    dialog = window.open_settings()
    qtbot.waitExposed(dialog)
    heights = []
    for tab in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(tab)
        qtbot.wait(50)
        assert out_of_reach(dialog, area) == [], dialog.tabs.tabText(tab)
        heights.append(dialog.height())
    assert heights[0] < heights[1]  # General is short: no empty half-screen under its five rows
    labels = {b.text().replace("&", "") for b in dialog.findChildren(QAbstractButton) if b.isVisible()}
    assert {"OK", "Apply", "Close"} <= labels
    dialog.close()


def test_a_window_saved_on_a_larger_screen_comes_back_inside_this_one(qtbot, store, area, monkeypatch):
    big = QRect(0, 0, 2560, 1440)
    monkeypatch.setattr(screen_fit, "available_geometry", lambda widget: big)
    first = MainWindow(store)
    qtbot.addWidget(first)
    first.show()
    first.setGeometry(300, 200, 2000, 1100)
    _settle(qtbot, first)
    first.close()

    monkeypatch.setattr(screen_fit, "available_geometry", lambda widget: area)
    again = MainWindow(QSettings(store.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.show()
    _settle(qtbot, again)
    assert out_of_reach(again, area) == []
