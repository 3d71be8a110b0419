"""Take the app's screenshots for docs/screenshots/ (run under a real X server, e.g. xvfb-run).

    xvfb-run -a .venv/bin/python tools/screenshots.py [--photo FILE] [--out docs/screenshots]

Drives the real window: queues a crop of a real photo, upscales it with the default ESRGAN in fp32
and (when this build has the quantization engine) in the paper's mixed precision, and grabs
  main_ab_split.png     the main window with an A/B split (fp32 | mixed, or input | fp32),
  difference_view.png   the |A-B| heat map of the same pair,
  advanced_pane.png     Settings > Advanced.
Uses a throw-away settings file, so your own settings are untouched.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "data" / "train" / "photos" / "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg"
# The dragonfly, in the photo's own pixels; shrunk /8 it is a 211x158 input (an 844x632 output).
CROP = (1690, 898, 3379, 2165)
SHRINK = 8


def make_input(photo: Path, folder: Path) -> Path:
    from PIL import Image

    with Image.open(photo) as im:
        region = im.convert("RGB").crop(CROP)
    w, h = region.size
    small = region.resize((w // SHRINK, h // SHRINK), Image.Resampling.LANCZOS)
    target = folder / "dragonfly.png"
    small.save(target)
    return target


def wait_idle(window, timeout: float = 900.0) -> None:
    from PySide6.QtCore import QCoreApplication

    end = time.monotonic() + timeout
    while window.runner.busy:
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the worker")
        QCoreApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):  # let repaints settle
        QCoreApplication.processEvents()
        time.sleep(0.01)


def grab(widget, path: Path) -> None:
    from PySide6.QtCore import QCoreApplication

    QCoreApplication.processEvents()
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if not args.photo.is_file():
        raise SystemExit(f"{args.photo}: photo not found (pass --photo)")
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app import resources
    from app.compare_panel import INPUT, output_id
    from app.main_window import MainWindow
    from app.session import ResultKey

    app = QApplication(sys.argv[:1])
    app.setApplicationName("mpsr-screenshots")
    app.setWindowIcon(resources.app_icon())
    app.setStyleSheet(resources.style_sheet())
    tmp = Path(tempfile.mkdtemp(prefix="mpsr-shots-"))
    window = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1440, 920)
    window.show()
    wait_idle(window)

    window.add_paths([make_input(args.photo, tmp)])
    window.set_model("esrgan")
    window.set_precision("fp32")
    window.upscale()
    wait_idle(window)
    window.set_precision("mixed")
    window.upscale()
    wait_idle(window)

    entry = window.current_entry()
    fp32, mixed = ResultKey("esrgan", "fp32"), ResultKey("esrgan", "mixed")
    if fp32 not in entry.outputs:
        raise SystemExit(f"ESRGAN fp32 failed: {entry.message}")
    if mixed in entry.outputs:
        a, b = output_id(fp32), output_id(mixed)
    else:
        print(f"note: no mixed-precision output ({entry.message}); showing input | fp32")
        a, b = INPUT, output_id(fp32)
    panel = window.compare
    panel.show_entry(entry, False, window.cfg.input_view, a=a, b=b)
    panel.view.zoom_fit()
    panel.view.set_split(0.5)
    wait_idle(window)  # metrics for the pair
    grab(window, args.out / "main_ab_split.png")

    window.diff_action.setChecked(True)
    wait_idle(window)
    grab(window, args.out / "difference_view.png")
    window.diff_action.setChecked(False)

    dialog = window.open_settings()
    dialog.tabs.setCurrentIndex(1)
    dialog.resize(680, 900)
    wait_idle(window)
    grab(dialog, args.out / "advanced_pane.png")
    dialog.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
