"""The app's building blocks on their own: compare view, imaging helpers, worker, settings."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QPixmap

from app import imaging, qimage
from app.compare_view import CompareView, Layer
from app.settings import AppSettings
from app.worker import JobRunner, describe_error
from engine.errors import ImageError
from engine.jobs import Cancelled, Progress


def _layer(w: int, h: int, label: str, scale: int = 1, value: int = 128) -> Layer:
    rgb = np.full((h, w, 3), value, np.uint8)
    return Layer(QPixmap.fromImage(qimage.to_qimage(rgb)), label, scale)


@pytest.fixture
def view(qtbot):
    v = CompareView()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    qtbot.waitExposed(v)
    v.set_sides(_layer(50, 40, "input", scale=4), _layer(200, 160, "output", value=200))
    v.zoom_fit()
    return v


def test_split_line_drags_with_the_mouse(qtbot, view):
    x = round(view._split_x())
    y = view.viewport().height() // 2
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseMove(view.viewport(), QPoint(x - 60, y))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x - 60, y))
    assert view.split < 0.45
    view.set_split(2.0)
    assert view.split == 1.0


def test_zoom_fit_steps_and_limits(view):
    assert view.is_fit() and view.scene_size() == (200, 160)
    view.set_zoom(1.0)
    assert view.zoom() == pytest.approx(1.0) and not view.is_fit()
    view.zoom_in()
    assert view.zoom() == pytest.approx(1.5)
    for _ in range(20):
        view.zoom_in()
    assert view.zoom() == pytest.approx(8.0)  # 800% is the top
    view.set_zoom(100)
    assert view.zoom() == pytest.approx(8.0)
    view.zoom_fit()
    assert view.is_fit() and view.zoom() < 2.0


def test_modes(view):
    with pytest.raises(ValueError):
        view.set_mode("sideways")
    view.set_mode("difference")
    assert view.mode == "difference"


def test_heatmap_is_black_for_identical_images_and_bright_where_they_differ():
    a = np.zeros((10, 10, 3), np.float32)
    b = a.copy()
    heat, full = imaging.heatmap(a, b)
    assert full == 1.0 and (heat == heat[0, 0]).all() and heat[0, 0].sum() < 10
    b[5, 5] = 1.0
    b[:, :2] = 0.1
    heat, full = imaging.heatmap(a, b)
    assert heat[5, 5].sum() > heat[0, 0].sum() > heat[0, 5].sum()
    with pytest.raises(ValueError):
        imaging.heatmap(a, np.zeros((5, 5, 3)))


def test_enlarge_nearest_repeats_pixels_and_qimage_round_trip():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    big = imaging.enlarge(rgb, 4, "nearest")
    assert big.shape == (8, 12, 3) and (big[:4, :4] == rgb[0, 0]).all()
    assert imaging.enlarge(rgb, 4, "bicubic").shape == (8, 12, 3)
    assert (qimage.qimage_to_array(qimage.to_qimage(rgb)) == rgb).all()


def test_errors_become_one_readable_line():
    assert describe_error(ImageError("cannot decode", "/x/a.png")) == "/x/a.png: cannot decode"
    assert describe_error(MemoryError()).startswith("Out of memory: try a smaller tile size")
    text = describe_error(RuntimeError("boom\n  at line 3"))
    assert "\n" not in text and "RuntimeError" in text


def test_runner_reports_results_failures_and_cancellation(qtbot):
    runner = JobRunner()
    seen = []
    runner.finished.connect(lambda job, result: seen.append(("ok", result)))
    runner.failed.connect(lambda job, msg: seen.append(("failed", msg)))
    runner.cancelled.connect(lambda job: seen.append(("cancelled", job.label)))

    def report(progress, cancel):
        progress(Progress(1, 2, "half"))
        return 42

    def fail(progress, cancel):
        raise ValueError("bad value")

    def stop(progress, cancel):
        raise Cancelled()

    with qtbot.waitSignal(runner.idle, timeout=10000):
        runner.submit("a", report)
        runner.submit("b", fail)
        runner.submit("c", stop)
        queued = runner.submit("d", report)
        queued.cancel.cancel()  # cancelled before it starts: never runs
    assert seen == [("ok", 42), ("failed", "Unexpected error (ValueError): bad value"), ("cancelled", "c"),
                    ("cancelled", "d")]
    assert not runner.busy
    runner.shutdown()


def test_settings_round_trip_through_an_ini_file(tmp_path):
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    cfg = AppSettings(tile=64, benchmark=True, extra_models=["/m/one.safetensors"])
    for i in range(15):
        cfg.add_recent(f"/photos/{i}.png")
    cfg.save(store)
    again = AppSettings.load(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert again.tile == 64 and again.benchmark is True
    assert again.extra_models == ["/m/one.safetensors"]
    assert len(again.recent_files) == 10 and again.recent_files[0] == "/photos/14.png"
    store.setValue("tile", "not a number")
    assert AppSettings.load(store).tile == AppSettings().tile
