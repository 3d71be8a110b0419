"""The desktop app driven through its real widgets, offscreen, with a tiny generator."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6")

from PySide6.QtCore import (
    QMimeData,
    QPointF,
    QSettings,
    QStandardPaths,
    Qt,
    QTimer,
    QUrl,
)
from PySide6.QtGui import QDropEvent, QGuiApplication, QImage, QKeySequence

from app.main_window import MainWindow
from app.session import ResultKey, Status
from engine import archs
from engine.weights import save_model

QStandardPaths.setTestModeEnabled(True)
JOB_TIMEOUT_MS = 120_000


def _photo(path: Path, w: int, h: int, seed: int = 0) -> Path:
    """A smooth image with some texture: enough structure for NIQE, quick for a tiny generator."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([x / w, y / h, 0.5 + 0.4 * np.sin(x / 3.0) * np.cos(y / 5.0)], axis=2)
    rgb = np.clip(rgb + rng.normal(0, 0.03, rgb.shape), 0, 1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = archs.build("rrdbnet", num_feat=8, num_block=1, num_grow=4).eval()
    return save_model(net, tmp_path / "tiny_rrdb.safetensors", {"name": "tiny_rrdb", "display_name": "Tiny RRDB"})


@pytest.fixture
def store(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.busy, timeout=JOB_TIMEOUT_MS)


@pytest.fixture
def window(qtbot, store, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "models"))  # quantized artifacts are cached there
    w = MainWindow(store)
    qtbot.addWidget(w)
    w.show()
    _idle(qtbot, w)  # the engine warm-up job
    w.set_model(str(tiny_model))
    w.cfg.tile = 0
    return w


def _drop(window, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def _quant_ready() -> bool:
    if importlib.util.find_spec("engine.quant") is None:
        return False
    try:
        from engine.quant import load_precision  # noqa: F401
    except ImportError:
        return False
    return True


def test_drop_upscale_shows_output_and_metrics(qtbot, window, tmp_path):
    src = _photo(tmp_path / "photo.png", 40, 32)
    _drop(window, [src])
    assert [e.path for e in window.session] == [src]
    window.set_precision("fp32")
    assert window.precision_combo.currentData() == "fp32"
    assert window.upscale() == 1
    _idle(qtbot, window)

    entry = next(iter(window.session))
    assert entry.status is Status.DONE, entry.message
    assert window.queue.status_text(entry.id).startswith("done")
    out = entry.outputs[ResultKey(str(window.cfg.model), "fp32", False)]
    assert out.picture.rgb.shape == (128, 160, 3)
    view = window.compare.view
    assert view.b is not None and view.b.label.startswith("Tiny RRDB fp32")
    assert view.a is not None and view.a.label.startswith("Input")
    b = window.compare.metrics.b
    # A number, or 'n/a: reason' (a random tiny generator can give a flat image NIQE rejects).
    for name in ("NIQE", "PI"):
        text = b.value(name)
        assert (text.startswith("n/a: ") and len(text) > 8) or float(text) > 0, (name, text)
    assert b.value("Inference time").endswith(" s")
    assert b.value("Model size").endswith(" MB")
    float(window.compare.metrics.a.value("NIQE"))  # the bicubic input is scored too


def test_precision_other_than_fp32(qtbot, window, tmp_path):
    _drop(window, [_photo(tmp_path / "p.png", 40, 32)])
    window.set_precision("fp32")
    window.upscale()
    _idle(qtbot, window)
    window.set_precision("int8")
    window.upscale()
    _idle(qtbot, window)
    entry = next(iter(window.session))
    if _quant_ready():
        assert entry.status is Status.DONE, entry.message
        assert window.compare.view.b.label.endswith("int8")
        assert window.compare.view.a.label.endswith("fp32")  # A is the fp32 output to compare against
        assert window.compare.metrics.b.value("PSNR to fp32").endswith("dB")
    else:
        assert entry.status is Status.FAILED
        assert "engine.quant" in entry.message and "Traceback" not in entry.message
        assert window.notice.is_error()


def test_a_precision_is_read_once_where_it_is_typed(window):
    """"FP32" and "32,32,32,32" are fp32 (one result key, the float path), not a quantized plan."""
    for text in ("FP32", "32,32,32,32"):
        window.set_precision("int8")
        assert window.set_precision(text)
        assert window.cfg.precision == window.precision_combo.currentData() == "fp32"
        assert window.current_key().precision == "fp32"
    assert window.precision_combo.findData("FP32") < 0 and window.precision_combo.findData("32,32,32,32") < 0


def test_a_precision_that_names_nothing_is_a_notice_and_the_choice_stays(window):
    window.set_precision("mixed")
    assert not window.set_precision("12,8,8,16")
    assert window.notice.is_error() and "unknown precision '12'" in window.notice.text()
    assert window.cfg.precision == window.precision_combo.currentData() == "mixed"


def test_unreadable_file_shows_error_and_queue_goes_on(qtbot, window, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("this is not a picture")
    good = _photo(tmp_path / "good.png", 32, 32)
    window.add_paths([bad, good])
    assert window.upscale() == 2
    _idle(qtbot, window)
    by_name = {e.path.name: e for e in window.session}
    broken = by_name["broken.png"]
    assert broken.status is Status.FAILED
    assert "cannot read" in broken.message and "broken.png" in broken.input_error
    assert "\n" not in broken.input_error and "Traceback" not in broken.input_error
    assert window.queue.status_text(broken.id).startswith("failed: cannot read")
    assert by_name["good.png"].status is Status.DONE
    assert "broken.png" in window.notice.text()
    assert "1 done" in window.status_label.text() and "1 failed" in window.status_label.text()
    # Marked once: the next Upscale skips it, without the error banner again.
    window.notice.hide()
    window.remove_entries([by_name["good.png"].id])
    window.add_paths([_photo(tmp_path / "other.png", 32, 32, seed=2)])
    assert window.upscale() == 1
    _idle(qtbot, window)
    assert not window.notice.is_error()
    assert {e.path.name: e.status for e in window.session} == {"broken.png": Status.FAILED, "other.png": Status.DONE}


def test_input_is_shown_before_upscaling(qtbot, window, tmp_path):
    window.add_paths([_photo(tmp_path / "look.png", 30, 20)])
    _idle(qtbot, window)
    entry = next(iter(window.session))
    assert entry.inputs is not None and entry.status is Status.WAITING
    assert window.queue.topLevelItem(0).text(1) == "30x20"
    view = window.compare.view
    assert view.a is not None and view.scene_size() == (120, 80)  # shown x4, like the outputs will be
    window.clear_queue()
    assert not view.has_content() and len(window.session) == 0


def test_unsupported_file_is_refused_when_added(window, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    assert window.add_paths([other]) == []
    assert window.notice.is_error() and "notes.txt" in window.notice.text()


def test_cancel_mid_run(qtbot, window, tmp_path):
    first = _photo(tmp_path / "big.png", 256, 256)
    second = _photo(tmp_path / "next.png", 64, 64, seed=1)
    window.add_paths([first, second])
    window.cfg.tile = 32  # 64 tiles: cancel lands between two of them
    cancelled_at = []

    def on_progress(job, p):
        if p.total > 0 and p.done >= 1 and not cancelled_at:
            cancelled_at.append(p.done)
            window.cancel()

    window.runner.progress.connect(on_progress)
    window.upscale()
    _idle(qtbot, window)
    statuses = {e.path.name: e.status for e in window.session}
    assert statuses == {"big.png": Status.CANCELLED, "next.png": Status.CANCELLED}
    assert all(not e.outputs for e in window.session)
    assert not window.cancel_button.isEnabled()
    # The app is usable again afterwards.
    window.cfg.tile = 0
    window.remove_entries([e.id for e in window.session if e.path.name == "big.png"])
    assert window.upscale() == 1
    _idle(qtbot, window)
    assert next(iter(window.session)).status is Status.DONE


def test_event_loop_keeps_turning_during_a_job(qtbot, window, tmp_path):
    window.add_paths([_photo(tmp_path / "big.png", 128, 128)])
    window.cfg.tile = 32
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(window.runner.busy))
    timer.start(5)
    window.upscale()
    _idle(qtbot, window)
    timer.stop()
    # The timer fired many times while the worker was busy: the GUI thread was never blocked.
    assert sum(ticks) >= 5
    assert next(iter(window.session)).status is Status.DONE


def test_save_never_over_the_input(qtbot, window, tmp_path):
    src = _photo(tmp_path / "photo.png", 32, 24)
    before = src.read_bytes()
    window.add_paths([src])
    window.upscale()
    _idle(qtbot, window)

    window.save_output(src)
    _idle(qtbot, window)
    assert src.read_bytes() == before
    assert window.notice.is_error() and "photo.png" in window.notice.text()

    target = tmp_path / "out" / "photo_x4.jpg"
    window.save_output(target, quality=80)
    _idle(qtbot, window)
    assert not window.notice.is_error(), window.notice.text()
    with Image.open(target) as im:
        assert im.size == (128, 96) and im.format == "JPEG"
    default = window.default_save_path(*window.output_to_save())
    assert default != src and default.parent == src.parent and "_x4" in default.stem


def test_benchmark_mode_scores_against_the_original(qtbot, window, tmp_path):
    window.add_paths([_photo(tmp_path / "hr.png", 128, 104)])
    window.set_benchmark(True)
    window.upscale()
    _idle(qtbot, window)
    entry = next(iter(window.session))
    assert entry.status is Status.DONE, entry.message
    assert entry.inputs.lr.rgb.shape == (26, 32, 3)
    assert entry.inputs.reference.rgb.shape == (104, 128, 3)
    b = window.compare.metrics.b
    assert b.value("PSNR-Y").endswith("dB")
    assert 0 < float(b.value("SSIM-Y")) <= 1
    # The original is offered as a source, and plain mode keeps its own (empty) results.
    assert "reference" in [sid for sid, _ in window.compare.sources()]
    window.set_benchmark(False)
    assert window.compare.view.b is not None and window.compare.view.b.label.startswith("Input")


def test_compare_flip_and_difference(qtbot, window, tmp_path):
    window.add_paths([_photo(tmp_path / "p.png", 32, 32)])
    window.upscale()
    _idle(qtbot, window)
    a, b = window.compare.current_ids()
    window.flip_action.trigger()
    assert window.compare.current_ids() == (b, a)
    window.diff_action.setChecked(True)
    view = window.compare.view
    assert view.mode == "difference" and view.diff is not None
    assert view.diff.pixmap.width() == 128
    window.diff_action.setChecked(False)
    assert view.mode == "split"


def test_keyboard_shortcuts(qtbot, window, tmp_path):
    window.add_paths([_photo(tmp_path / "p.png", 32, 32)])
    window.upscale()
    _idle(qtbot, window)
    window.activateWindow()
    qtbot.waitActive(window)
    window.compare.view.setFocus()
    a, b = window.compare.current_ids()
    qtbot.keyClick(window.compare.view, Qt.Key.Key_Space)
    assert window.compare.current_ids() == (b, a)
    qtbot.keyClick(window.compare.view, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.compare.view.zoom() == pytest.approx(2.0)
    qtbot.keyClick(window.compare.view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.compare.view.is_fit()
    qtbot.keyClick(window.compare.view, Qt.Key.Key_D)
    assert window.compare.view.mode == "difference"
    exact = QKeySequence.SequenceMatch.ExactMatch
    assert window.open_action.shortcut().matches(QKeySequence(QKeySequence.StandardKey.Open)) == exact
    assert window.save_action.shortcut().matches(QKeySequence(QKeySequence.StandardKey.Save)) == exact


def test_paste_an_image(qtbot, window):
    image = QImage(24, 20, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.darkCyan)
    QGuiApplication.clipboard().setImage(image)
    window.paste()
    entries = list(window.session)
    assert len(entries) == 1 and entries[0].path.suffix == ".png" and entries[0].path.is_file()


def test_settings_dialog_and_persistence(qtbot, store, tiny_model, tmp_path):
    w = MainWindow(store)
    qtbot.addWidget(w)
    _idle(qtbot, w)
    src = _photo(tmp_path / "remember.png", 16, 16)
    w.add_paths([src])
    w.set_model(str(tiny_model))
    dialog = w.open_settings()
    assert dialog.isVisible() and dialog.tabs.count() == 2
    adv = dialog.advanced
    adv.tile.setValue(96)
    adv.threads.setValue(1)
    dialog.apply()
    assert w.cfg.tile == 96 and w.cfg.threads == 1
    # The long-job forms work only with the engine modules behind them, and say why not otherwise.
    for form, module in ((adv.qat, "engine.train"), (adv.sweep, "engine.sweep")):
        present = importlib.util.find_spec(module) is not None
        assert form.launch.isEnabled() == present
        if not present:
            assert module in form.notice.text() and not form.notice.isHidden()
            assert form.start() is None
    dialog.close()
    w.close()

    again = MainWindow(QSettings(store.fileName(), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.cfg.tile == 96
    assert str(src.resolve()) in again.cfg.recent_files
    assert again.model_combo.currentData() == str(tiny_model)
    _idle(qtbot, again)


def test_about_box_lists_versions_and_models(qtbot, window):
    dialog = window.show_about()
    html = dialog.text.toPlainText()
    assert "torch" in html and "PySide6" in html and "Models" in html
    assert "Tiny RRDB" in html  # the loaded model file's card
    dialog.close()


def test_fetch_metric_models_offline_message(qtbot, window, tmp_path, monkeypatch):
    from engine.metrics import iqa

    monkeypatch.setattr(iqa, "ma_model_path", lambda: tmp_path / "metrics" / iqa.MA_MODEL_FILE)
    monkeypatch.setattr(iqa, "_ma_model_url", lambda: "http://127.0.0.1:9/NRQM_model.mat")
    window.fetch_metric_models()
    _idle(qtbot, window)
    text = window.notice.text()
    assert window.notice.is_error() and "offline" in text and "Traceback" not in text
    assert not (tmp_path / "metrics" / iqa.MA_MODEL_FILE).exists()


@pytest.fixture
def no_ma_model(tmp_path, monkeypatch):
    """PI's Ma model is not installed, whatever this machine has."""
    from engine.metrics import iqa

    monkeypatch.setattr(iqa, "ma_model_path", lambda: tmp_path / "no-metrics" / iqa.MA_MODEL_FILE)


def test_the_upscale_runs_first_and_its_metrics_after_it(qtbot, window, tmp_path, monkeypatch, no_ma_model):
    from app import tasks

    events = []
    window.runner.started.connect(lambda job: events.append(("start", job.tag[0])))
    window.runner.finished.connect(lambda job, _: events.append(("end", job.tag[0])))
    window.metrics_runner.started.connect(lambda job: events.append(("start", "metrics")))
    score, sample = tasks._score, tasks._sample
    scored = []  # appended on the metrics thread, read after it is idle: each source, then its metrics
    monkeypatch.setattr(tasks, "_sample", lambda r, iqa: scored.append(r.label) or sample(r, iqa))
    monkeypatch.setattr(tasks, "_score", lambda s, metric: scored.append(metric.label) or score(s, metric))
    window.add_paths([_photo(tmp_path / "p.png", 40, 32)])
    window.upscale()  # pressed before the input was even read
    _idle(qtbot, window)
    assert events[:4] == [("start", "load"), ("end", "load"), ("start", "upscale"), ("end", "upscale")]
    assert events[4:] == [("start", "metrics")]
    # The new output is scored first, the input last.
    assert scored == ["Tiny RRDB fp32", "NIQE", "PI", "the input", "NIQE", "PI"]


def test_an_upscale_does_not_wait_for_metrics_that_are_running(qtbot, window, tmp_path, monkeypatch, no_ma_model):
    import threading

    from app import tasks

    gate, entered = threading.Event(), threading.Event()
    score = tasks._score

    def slow_first_metric(*args):
        entered.set()
        gate.wait(60)  # a metric call that takes long: it cannot be interrupted
        return score(*args)

    monkeypatch.setattr(tasks, "_score", slow_first_metric)
    window.add_paths([_photo(tmp_path / "first.png", 40, 32)])
    qtbot.waitUntil(entered.is_set, timeout=JOB_TIMEOUT_MS)  # the input's metrics are being computed
    first = next(iter(window.session))
    window.add_paths([_photo(tmp_path / "second.png", 40, 32, seed=3)])
    assert window.upscale() == 2
    assert all(job.cancel.cancelled for job in window.metrics_runner.pending())
    window.queue.select_entry(first.id)
    assert window.compare.metrics.a.value("NIQE") == "after the upscale"
    # Both upscales end while the metric call is still blocked on its own thread.
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=JOB_TIMEOUT_MS)
    assert all(e.status is Status.DONE for e in window.session) and not gate.is_set()
    monkeypatch.setattr(tasks, "_score", score)
    gate.set()
    _idle(qtbot, window)
    # Computed again once the upscales were done: the input's and the outputs' scores are all there.
    scores = first.metrics[False]
    assert set(scores) == {"input:bicubic", "out:" + window.cfg.model + "|fp32"}
    assert all("niqe" in v and "pi" in v for v in scores.values())


def test_one_notice_for_pi_and_a_reason_for_every_blank(qtbot, window, tmp_path, no_ma_model):
    window.add_paths([_photo(tmp_path / "p.png", 40, 32)])
    window.upscale()
    _idle(qtbot, window)
    metrics = window.compare.metrics
    for side in (metrics.a, metrics.b):
        assert side.value("PI") == "n/a: model missing"
        assert side.value("PSNR-Y") == side.value("SSIM-Y") == "needs benchmark mode"
    assert metrics.a.value("PSNR to fp32") == "only for outputs"
    assert metrics.b.value("PSNR to fp32") == "(this is fp32)"
    notice = window.compare.metrics_notice
    assert not notice.isHidden() and "Fetch metric models" in notice.text()
    window.cfg.compute_pi = False
    window._settings_applied()
    assert notice.isHidden() and metrics.b.value("PI") == "off"


def test_save_dialog_names_the_side_and_remembers_the_folder(qtbot, window, tmp_path):
    src = _photo(tmp_path / "in" / "photo.png", 32, 24) if (tmp_path / "in").mkdir() is None else None
    window.add_paths([src])
    window.upscale()
    _idle(qtbot, window)
    a, b = window.compare.current_ids()
    window.compare.show_entry(window.current_entry(), False, "bicubic", a=b, b=a)  # the output on side A
    dialog = window.make_save_dialog()
    assert [dialog.output_combo.itemText(i) for i in range(dialog.output_combo.count())] == ["A: Tiny RRDB fp32"]
    assert dialog.folder_edit.text() == str(src.parent)
    assert dialog.name_edit.text() == "photo_tiny_rrdb_fp32_x4.png"
    dialog.folder_edit.setText(str(tmp_path / "outputs"))
    window.save_chosen(dialog)
    _idle(qtbot, window)
    assert (tmp_path / "outputs" / "photo_tiny_rrdb_fp32_x4.png").is_file()
    assert window.make_save_dialog().folder_edit.text() == str(tmp_path / "outputs")  # remembered


def test_queue_shows_what_was_added_and_keeps_the_ends_of_long_text(qtbot, window, tmp_path):
    long_name = "a-photo-with-a-very-long-name-taken-on-holiday-somewhere-by-the-sea-2024.png"
    first, second = _photo(tmp_path / "first.png", 24, 24), _photo(tmp_path / long_name, 24, 24)
    window.add_paths([first])
    window.add_paths([second])
    _idle(qtbot, window)
    entry = window.current_entry()
    assert entry.path == second and window.queue.selected_entry_ids() == [entry.id]
    assert window.compare.view.a is not None and window.windowTitle().endswith(long_name)  # shown
    assert window.queue.textElideMode() == Qt.TextElideMode.ElideMiddle
    item = window.queue.topLevelItem(1)
    assert all(str(second) in item.toolTip(column) for column in range(3))
    window.add_paths([first])  # already queued: shown again, not added twice
    assert window.current_entry().path == first and len(window.session) == 2


def test_status_line_says_each_thing_once_and_the_percentage_beside_the_bar(qtbot, store, tiny_model, tmp_path):
    w = MainWindow(store)
    qtbot.addWidget(w)
    texts, percents = [], []
    w.runner.progress.connect(lambda job, p: (texts.append(w.status_label.text()), percents.append(w.eta_label.text())))
    _idle(qtbot, w)
    assert texts and all(t.count("Starting the engine") == 1 for t in texts), texts
    w.set_model(str(tiny_model))
    w.cfg.tile = 16
    entry = w.add_paths([_photo(tmp_path / "p.png", 64, 48)])[0]
    queue = []
    w.runner.progress.connect(lambda job, p: queue.append(w.queue.status_text(entry.id)))
    w.upscale()
    _idle(qtbot, w)
    assert "running: loading model" in queue and any(re.fullmatch(r"running: \d+%", t) for t in queue), queue
    assert not w.progress_bar.isTextVisible()
    assert any(t.startswith("p.png (1/1): Loading tiny_rrdb.safetensors at fp32") for t in texts), texts
    assert any(t.startswith("p.png (1/1): Upscaling: tile") for t in texts), texts
    assert any(p.split(" ")[0].endswith("%") for p in percents), percents


def test_an_x2_generator_upscales_x2_and_benchmark_mode_says_it_scores_x4_only(qtbot, window, x2_model, tmp_path):
    weights = save_model(x2_model, tmp_path / "tiny2.safetensors", {"name": "tiny2", "display_name": "Tiny x2"})
    window.set_model(str(weights))
    window.add_paths([_photo(tmp_path / "p.png", 50, 50)])
    window.upscale()
    _idle(qtbot, window)
    entry = window.current_entry()
    out = entry.outputs[ResultKey(str(weights), "fp32", False)]
    assert out.picture.rgb.shape == (100, 100, 3) and out.info.scale == 2
    assert window.default_save_path(entry, out).name == "p_tiny2_fp32_x2.png"
    # NIQE needs 96x96 after the border crop: the x2 protocol shaves 2 px (an x4 one would leave 92x92).
    assert window.compare.metrics.b.value("NIQE") not in ("-", "n/a: image too small")

    window.set_benchmark(True)
    window.upscale()
    _idle(qtbot, window)
    assert entry.status is Status.FAILED and "benchmark mode scores x4 generators" in entry.message
