"""The window's response times with ESRGAN on a 500x480 photo: Upscale -> first tile progress, Cancel -> idle.

Run: .venv/bin/python bench/bench_gui_latency.py [--precision fp32|int8|mixed] [--photo FILE] [--repeat N]
     (or `make bench`)
     in a real window when there is a display, else offscreen.

Drives the real MainWindow through its public calls, as a user clicking would: the photo is added and shown
(its input metrics start on their own thread, as they do for a user), Upscale is pressed, and Cancel is
pressed once the first tile is a fifth done, in the middle of the generator's forward pass. The first press
also loads the model (and calibrates a quantized precision not cached yet); later presses find it loaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import REPO

BABOON = REPO.parent / "shared" / "data" / "Set14" / "baboon.png"  # 500x480, the photo of issue 18


def wait(app, condition, timeout: float = 900.0) -> float:
    """Seconds until ``condition()`` holds, turning the event loop meanwhile."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.002)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", type=Path, default=BABOON)
    ap.add_argument("--repeat", type=int, default=3, help="presses of Upscale (each cancelled)")
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    if not args.photo.is_file():
        print(f"skipped: {args.photo} not found (pass --photo)")
        return 0

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="mpsr-latency-"))
    window = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window.show()
    wait(app, lambda: not window.runner.busy)  # the engine import
    window.set_model("esrgan")
    window.set_precision(args.precision)
    entry = window.add_paths([args.photo])[0]
    wait(app, lambda: entry.inputs is not None)  # read and shown; its metrics begin now

    reports = []
    window.runner.progress.connect(lambda job, p: reports.append((time.perf_counter(), p)))
    to_tile, to_idle = [], []
    for press in range(args.repeat):
        reports.clear()
        pressed = time.perf_counter()
        window.upscale()
        wait(app, lambda: any("tile" in p.message and p.done > 0 for _, p in reports))
        to_tile.append(next(t for t, p in reports if "tile" in p.message and p.done > 0) - pressed)
        wait(app, lambda: reports[-1][1].done >= 0.2)
        window.cancel()
        to_idle.append(wait(app, lambda: not window.runner.busy))
        print(f"press {press + 1}: first tile progress {to_tile[-1]:.2f} s after Upscale, "
              f"idle {to_idle[-1]:.2f} s after Cancel (pressed at {reports[-1][1].done:.0%} of tile 1)", flush=True)
        assert entry.status.value == "cancelled", entry.status
    print(f"{args.photo.name}, ESRGAN {args.precision}: Upscale -> first tile progress: first press {to_tile[0]:.2f} s (loads the model), "
          f"median of later presses {statistics.median(to_tile[1:] or to_tile):.2f} s; "
          f"Cancel -> idle: median {statistics.median(to_idle):.2f} s, max {max(to_idle):.2f} s")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
