"""Start the desktop app: ``mpsr gui [FILES...]`` or ``python -m app``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def _log_file() -> Path:
    from PySide6.QtCore import QStandardPaths

    folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "mpsr.log"


def main(files: list[str] | None = None) -> int:
    """Open the main window with ``files`` queued; returns the Qt exit code."""
    from PySide6.QtWidgets import QApplication

    from app import resources
    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("MPSR")
    app.setApplicationName("mpsr")
    app.setApplicationDisplayName("MPSR")
    app.setWindowIcon(resources.app_icon())
    app.setStyleSheet(resources.style_sheet())
    # Tracebacks of failed jobs go here; the window shows one readable line.
    logging.basicConfig(filename=_log_file(), level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    window = MainWindow()
    window.show()
    if files:
        window.add_paths(files)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
