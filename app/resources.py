"""Files the app ships beside the code: the icon and the style sheet."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
ICON = RESOURCES / "icons" / "mpsr.svg"
STYLE = RESOURCES / "style" / "app.qss"


def app_icon() -> QIcon:
    return QIcon(str(ICON)) if ICON.is_file() else QIcon()


def style_sheet() -> str:
    return STYLE.read_text(encoding="utf-8") if STYLE.is_file() else ""
