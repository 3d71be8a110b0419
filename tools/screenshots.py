"""Take the app's screenshots for docs/screenshots/ under a real X server at a laptop's size.

    Xvfb :99 -screen 0 1366x768x24 & DISPLAY=:99 .venv/bin/python tools/screenshots.py [--only main|settings|advanced|lab]
        [--photo FILE] [--out docs/screenshots]

Drives the real window, which fills the screen as a maximized one would: queues a crop of a real photo,
upscales it with the default ESRGAN in fp32 and (when this build has the quantization engine) in the paper's
mixed precision, and grabs the screen:
  main_running.png      during the fp32 upscale, its progress and Cancel in view,
  main_ab_split.png     the main window with an A/B split (fp32 | mixed, or input | fp32),
  difference_view.png   the |A-B| heat map of the same pair,
  settings_dialog.png   Tools > Settings over the window, its OK / Close / Apply in view,
  lab_running.png       Tools > Lab over the main window while a PTQ sweep (as below) runs in it,
and, as the pane alone:
  advanced_pane.png     Settings > Advanced after a real PTQ sweep run from the pane: with the trained
                        SRGAN on three small Set14 images when models/srgan.safetensors exists, else on a
                        tiny random-weight RRDBNet and three crops of the bundled samples (the pane's
                        report names the generator, so the shot says which).
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
SRGAN = REPO / "models" / "srgan.safetensors"
SET14 = REPO.parent / "shared" / "data" / "Set14"
SWEEP_IMAGES = ("face.png", "comic.png", "foreman.png")  # the smallest of Set14
SAMPLE_CROPS = (("coffee", (60, 20)), ("chelsea", (70, 30)), ("astronaut", (40, 10)))


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
    while window.busy:
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


def grab_screen(widget, path: Path) -> None:
    """The whole screen the widget is on, as a person sees it (windows, dialogs over them)."""
    from PySide6.QtCore import QCoreApplication

    for _ in range(20):
        QCoreApplication.processEvents()
        time.sleep(0.01)
    screen = widget.screen()
    if not screen.grabWindow(0).save(str(path)):
        raise SystemExit(f"could not write {path}")
    size = screen.geometry().size()
    print(f"wrote {path} ({size.width()}x{size.height()})")


def wait_progress(window, fraction: float, timeout: float = 900.0) -> None:
    """Until the running job's progress bar passes ``fraction``."""
    from PySide6.QtCore import QCoreApplication

    end = time.monotonic() + timeout
    bar = window.progress_bar
    while not (bar.maximum() > 0 and bar.value() >= fraction * bar.maximum()):
        if time.monotonic() > end or not window.busy:
            raise SystemExit("the upscale ended before its progress could be shown")
        QCoreApplication.processEvents()
        time.sleep(0.02)


def sweep_inputs(folder: Path) -> tuple[str, Path]:
    """(generator, evaluation folder) for the Advanced pane's sweep; see the module docstring."""
    import shutil

    data = folder / "sweep-images"
    data.mkdir()
    if SRGAN.is_file():
        for name in SWEEP_IMAGES:
            shutil.copy(SET14 / name, data / name)
        return "srgan", data
    import torch
    from PIL import Image

    from engine import archs
    from engine.weights import save_model

    for name, (x, y) in SAMPLE_CROPS:
        with Image.open(REPO / "resources" / "samples" / f"{name}.png") as im:
            im.convert("RGB").crop((x, y, x + 116, y + 112)).save(data / f"{name}.png")
    torch.manual_seed(0)
    net = archs.build("rrdbnet", num_feat=8, num_block=2, num_grow=4).eval()
    card = {"name": "tiny_rrdb", "display_name": "tiny RRDBNet, random weights (screenshot demo)"}
    return str(save_model(net, folder / "tiny_rrdb.safetensors", card)), data


def shoot_main(window, photo: Path, tmp: Path, out: Path) -> None:
    from app.panels.compare import INPUT, output_id
    from app.session import ResultKey

    window.add_paths([make_input(photo, tmp)])
    window.set_model("esrgan")
    window.set_precision("fp32")
    window.upscale()
    wait_progress(window, 0.3)
    grab_screen(window, out / "main_running.png")
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
    grab_screen(window, out / "main_ab_split.png")

    window.diff_action.setChecked(True)
    wait_idle(window)
    grab_screen(window, out / "difference_view.png")
    window.diff_action.setChecked(False)


def shoot_settings(window, out: Path) -> None:
    dialog = window.open_settings()
    dialog.tabs.setCurrentIndex(1)
    grab_screen(dialog, out / "settings_dialog.png")
    dialog.close()


def start_sweep(form, model: str, data: Path, out: Path) -> None:
    """A real PTQ per-stage sweep with a recommendation, started from ``form`` (the pane's or the Lab's)."""
    form.model.setCurrentText(model)
    form.fields.method.setCurrentIndex(form.fields.method.findData("ptq"))
    form.fields.space.setCurrentIndex(form.fields.space.findData("stages"))
    form.data.setText(str(data))
    form.fields.recommend.setChecked(True)
    form.fields.budget.setValue(0.1)
    form.out.setText(str(out))
    # The CPU warning is a modal question; the shots are of the sweep itself, so it is not asked here.
    if form.start(confirm=False) is None:
        raise SystemExit("the sweep did not start: " + form.log.toPlainText())


def shoot_advanced(window, tmp: Path, out: Path) -> None:
    model, data = sweep_inputs(tmp)
    dialog = window.open_settings()
    dialog.tabs.setCurrentIndex(1)
    dialog.resize(860, 1400)
    form = dialog.advanced.sweep
    dialog.advanced.jobs.setCurrentWidget(form)
    start_sweep(form, model, data, tmp / "sweep")
    wait_idle(window)
    if form.result is None:
        raise SystemExit("the sweep failed: " + form.log.toPlainText().splitlines()[-1])
    grab(dialog, out / "advanced_pane.png")
    dialog.close()


def shoot_lab(window, tmp: Path, out: Path) -> None:
    """Tools > Lab over the main window while a sweep runs in it (the main window stays usable meanwhile)."""
    from PySide6.QtWidgets import QApplication

    model, data = sweep_inputs(tmp)
    lab = window.open_lab()
    lab.setGeometry(lab.screen().availableGeometry().adjusted(300, 60, -40, -60))
    lab.jobs.setCurrentWidget(lab.sweep)
    start_sweep(lab.sweep, model, data, tmp / "lab-sweep")
    deadline = time.monotonic() + 900
    while lab.sweep.progress.value() < 300 and window.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.05)
    grab_screen(window, out / "lab_running.png")
    lab.sweep.cancel.click()
    wait_idle(window)
    lab.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("main", "settings", "advanced", "lab"), help="take only these shots")
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if args.only in (None, "main") and not args.photo.is_file():
        raise SystemExit(f"{args.photo}: photo not found (pass --photo)")
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app import resources
    from app.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    app.setApplicationName("mpsr-screenshots")
    app.setWindowIcon(resources.app_icon())
    app.setStyleSheet(resources.style_sheet())
    tmp = Path(tempfile.mkdtemp(prefix="mpsr-shots-"))
    window = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window.setGeometry(window.screen().availableGeometry())  # as maximized (Xvfb has no window manager)
    window.show()
    wait_idle(window)
    if args.only in (None, "main"):
        shoot_main(window, args.photo, tmp, args.out)
    if args.only in (None, "settings"):
        shoot_settings(window, args.out)
    if args.only in (None, "advanced"):
        shoot_advanced(window, tmp, args.out)
    if args.only in (None, "lab"):
        shoot_lab(window, tmp, args.out)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
