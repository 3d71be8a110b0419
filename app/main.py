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


def main(files: list[str] | None = None, smoke_test: bool = False) -> int:
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
    if smoke_test:
        _smoke_test(app, window)
    return app.exec()


def _smoke_test(app, window, timeout_s: float = 300.0) -> None:
    """Print the seconds from process start until the window is exposed and until the start-up jobs
    (the engine import) have ended, then close the window as a user would once both happened. The exit
    code is 1 if a start-up job failed or ``timeout_s`` passed first."""
    import time

    import psutil
    from PySide6.QtCore import QTimer

    started = psutil.Process().create_time()
    failures: list[str] = []
    pending = {"window", "engine"}
    poll = QTimer(window, interval=10)

    def done(what: str, message: str) -> None:
        print(f"smoke-test: {message} after {time.time() - started:.2f} s", flush=True)
        pending.discard(what)
        if not pending:
            window.close()
            app.exit(1 if failures else 0)

    def poll_exposed() -> None:
        handle = window.windowHandle()
        if handle is not None and handle.isExposed():
            poll.stop()
            done("window", "window visible")

    def idle() -> None:
        for message in failures:
            print(f"smoke-test: start-up job failed: {message}", flush=True)
        done("engine", "engine failed" if failures else "engine ready")

    def timed_out() -> None:
        print(f"smoke-test: still waiting for {', '.join(sorted(pending))} after {timeout_s:.0f} s", flush=True)
        window.close()
        app.exit(1)

    window.runner.failed.connect(lambda job, message: failures.append(f"{job.label}: {message}"))
    window.runner.idle.connect(idle)
    poll.timeout.connect(poll_exposed)
    poll.start()
    QTimer.singleShot(int(timeout_s * 1000), window, timed_out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
