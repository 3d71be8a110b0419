"""Settings > Advanced driven through its real widgets: QAT and sweeps on a tiny generator, offscreen."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QRect, QSettings, QStandardPaths, Qt, QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QMessageBox

from app import screen_fit
from app.main_window import MainWindow
from engine.quant.precision import parse_precision

QStandardPaths.setTestModeEnabled(True)
REPO = Path(__file__).resolve().parents[1]
# A bound for a hung job, not a timing check: a tiny sweep took over 120 s on a loaded 2-core machine.
JOB_TIMEOUT_MS = 600_000


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    w = _main_window(qtbot, tmp_path, monkeypatch)
    yield w
    w.close()


def _main_window(qtbot, tmp_path, monkeypatch) -> MainWindow:
    """A main window on ``tmp_path``'s settings file: a second one sees what the first saved there."""
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no Ma model: PI is n/a, not 15 s an image
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    _idle(qtbot, w)
    return w


@pytest.fixture
def answers(monkeypatch):
    """The CPU warning's questions, answered from ``answers.reply`` (Yes unless a test says otherwise)."""

    class Answers:
        def __init__(self) -> None:
            self.reply = QMessageBox.StandardButton.Yes
            self.asked: list[str] = []

    answers = Answers()

    def question(parent, title, text, *args):
        answers.asked.append(text)
        return answers.reply

    monkeypatch.setattr(QMessageBox, "question", question)
    return answers


def _idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.busy, timeout=JOB_TIMEOUT_MS)


def _pane(window):
    dialog = window.open_settings()
    pane = dialog.advanced
    pane.device.setCurrentIndex(pane.device.findData("cpu"))  # the CPU warning applies on any machine
    return pane


def _qat(pane, model: Path, data: Path, out: Path, steps: int):
    form = pane.qat
    form.model.setCurrentText(str(model))
    form.fields.plan.setText("mixed")
    form.data.setText(str(data))
    form.steps.setValue(steps)
    form.out.setText(str(out))
    return form


def test_qat_runs_and_its_artifact_goes_to_the_precision_picker(qtbot, window, tiny_rrdb_file, hr_dir, tmp_path):
    form = _qat(_pane(window), tiny_rrdb_file, hr_dir, tmp_path / "qat" / "tiny-mixed", steps=1)
    assert form.start(confirm=False) is form.running
    _idle(qtbot, window)
    artifact = tmp_path / "qat" / "tiny-mixed.safetensors"
    assert form.out.text() == str(artifact)  # the suffix the artifact needs is added
    log = form.log.toPlainText()
    assert "step 1/1 loss" in log and f"Done: {artifact}" in log
    assert form.result == artifact and artifact.is_file()
    assert str(artifact) in form.results.toPlainText()

    qtbot.mouseClick(form.offered[str(artifact)], Qt.MouseButton.LeftButton)
    combo = window.precision_combo
    assert combo.currentData() == str(artifact) == window.cfg.precision
    assert combo.currentText() == artifact.name
    assert not form.offered[str(artifact)].isEnabled()


def test_the_lab_window_runs_qat_beside_the_main_window(qtbot, window, tiny_rrdb_file, hr_dir, tmp_path):
    """Tools > Lab: a window of its own (not modal), on a thread of its own, feeding the main precision picker."""
    window.cfg.device = "cpu"
    window.lab_action.trigger()
    lab = window._lab
    assert lab.isVisible() and not lab.isModal() and lab.isWindow()
    form = _qat(lab, tiny_rrdb_file, hr_dir, tmp_path / "lab" / "tiny-mixed", steps=1)
    assert form.start(confirm=False) is form.running
    assert window.busy and window.lab_runner.busy
    assert not window.runner.busy  # upscales do not queue behind a Lab job, and the main Cancel leaves it alone
    _idle(qtbot, window)
    artifact = tmp_path / "lab" / "tiny-mixed.safetensors"
    assert form.result == artifact and artifact.is_file()
    qtbot.mouseClick(form.offered[str(artifact)], Qt.MouseButton.LeftButton)
    assert window.precision_combo.currentData() == str(artifact) == window.cfg.precision
    assert window.open_lab() is lab  # one lab window, brought back


def test_the_lab_reopens_where_it_was_left_on_the_tab_left_open(qtbot, tmp_path, monkeypatch):
    first = _main_window(qtbot, tmp_path, monkeypatch)
    lab = first.open_lab()
    lab.setGeometry(60, 50, 620, 480)  # inside the offscreen platform's 800x600 screen
    lab.jobs.setCurrentWidget(lab.sweep)
    placed = lab.geometry()
    first.close()  # with the Lab still open: quitting keeps its place too

    second = _main_window(qtbot, tmp_path, monkeypatch)
    lab = second.open_lab()
    assert lab.geometry() == placed
    assert lab.jobs.currentWidget() is lab.sweep
    lab.jobs.setCurrentWidget(lab.qat)
    lab.setGeometry(20, 30, 760, 560)
    lab.close()
    second.close()

    # The screen it was left on is gone: the saved place is brought inside the smaller one.
    screen = QRect(0, 0, 700, 480)
    monkeypatch.setattr(screen_fit, "available_geometry", lambda widget: screen)
    third = _main_window(qtbot, tmp_path, monkeypatch)
    lab = third.open_lab()
    assert screen.contains(lab.frameGeometry()) and lab.jobs.currentWidget() is lab.qat
    third.close()


def test_closing_the_lab_leaves_its_job_running_and_reopening_shows_it(qtbot, window, tiny_rrdb_file, hr_dir,
                                                                       tmp_path):
    window.cfg.device = "cpu"
    lab = window.open_lab()
    out = tmp_path / "lab.safetensors"
    form = _qat(lab, tiny_rrdb_file, hr_dir, out, steps=400)
    job = form.start(confirm=False)
    qtbot.waitUntil(lambda: "loss" in form.log.toPlainText(), timeout=JOB_TIMEOUT_MS)
    lab.close()
    assert not lab.isVisible() and not job.cancel.cancelled
    shown = form.progress.value()
    qtbot.waitUntil(lambda: form.progress.value() > shown, timeout=JOB_TIMEOUT_MS)  # it goes on while closed
    # The main window stays in use: an image is upscaled while the Lab's job runs on its own thread.
    window.set_model(str(tiny_rrdb_file))
    window.add_paths([hr_dir / "coffee.png"])
    assert window.upscale() == 1
    qtbot.waitUntil(lambda: bool(window.current_entry().outputs), timeout=JOB_TIMEOUT_MS)
    assert form.running is job and not job.cancel.cancelled

    assert window.open_lab() is lab and lab.isVisible()
    assert form.running is job and not form.launch.isEnabled() and form.cancel.isEnabled()
    assert form.progress.value() > shown and re.search(r"^step \d+/400", form.log.toPlainText(), re.MULTILINE)
    form.cancel.click()
    _idle(qtbot, window)
    assert "Cancelled" in form.log.toPlainText().splitlines()[-1]
    assert not out.exists() and (tmp_path / "lab.safetensors.work" / "checkpoint.pt").is_file()


def test_cancel_mid_qat_leaves_no_artifact_and_the_rerun_resumes(qtbot, window, tiny_rrdb_file, hr_dir, tmp_path):
    out = tmp_path / "cancel.safetensors"
    form = _qat(_pane(window), tiny_rrdb_file, hr_dir, out, steps=400)
    form.start(confirm=False)
    qtbot.waitUntil(lambda: "loss" in form.log.toPlainText(), timeout=JOB_TIMEOUT_MS)
    qtbot.mouseClick(form.cancel, Qt.MouseButton.LeftButton)
    _idle(qtbot, window)
    assert form.running is None and form.launch.isEnabled()
    assert "Cancelled" in form.log.toPlainText().splitlines()[-1]
    assert not out.exists() and (tmp_path / "cancel.safetensors.work" / "checkpoint.pt").is_file()

    form.log.clear()
    form.start(confirm=False)
    qtbot.waitUntil(lambda: re.search(r"^step \d+/400", form.log.toPlainText(), re.MULTILINE) is not None,
                    timeout=JOB_TIMEOUT_MS)
    form.cancel.click()
    _idle(qtbot, window)
    log = form.log.toPlainText()
    assert "Found a checkpoint" in log
    first = int(re.search(r"^step (\d+)/400", log, re.MULTILINE).group(1))
    assert first >= 1  # continued from the checkpoint, not from step 0
    assert not out.exists()


def test_cpu_warning_no_aborts_the_start(qtbot, window, answers, tiny_rrdb_file, hr_dir, tmp_path):
    answers.reply = QMessageBox.StandardButton.No
    out = tmp_path / "never.safetensors"
    form = _qat(_pane(window), tiny_rrdb_file, hr_dir, out, steps=5000)
    qtbot.mouseClick(form.launch, Qt.MouseButton.LeftButton)
    assert form.measuring is not None and form.running is None  # one step is timed in the worker before asking
    _idle(qtbot, window)
    assert len(answers.asked) == 1
    assert re.search(r"on the CPU: about [\d.]+ (minutes|hours) \(measured: \d+\.\d\d s per step x 5000 steps\)",
                     answers.asked[0])
    assert form.log.toPlainText().splitlines()[-1] == "Not started."
    assert form.running is None and form.launch.isEnabled()
    assert not out.exists() and not (tmp_path / "never.safetensors.work").exists()


def test_sweep_shows_its_table_and_plots_and_offers_the_recommended_plan(qtbot, window, answers, tiny_rrdb_file, hr_dir,
                                                                         tmp_path):
    pane = _pane(window)
    form = pane.sweep
    pane.jobs.setCurrentWidget(form)
    form.model.setCurrentText(str(tiny_rrdb_file))
    form.fields.method.setCurrentIndex(form.fields.method.findData("ptq"))
    assert not form.steps.isEnabled()  # steps are for QAT sweeps
    form.data.setText(str(hr_dir))
    form.fields.recommend.setChecked(True)
    form.fields.budget.setValue(0.5)
    out = tmp_path / "sweep"
    form.out.setText(str(out))
    qtbot.mouseClick(form.launch, Qt.MouseButton.LeftButton)
    _idle(qtbot, window)
    assert "17 plans to measure, each on 3 images" in answers.asked[0]
    assert form.result == out / "sweep.json"
    data = json.loads(form.result.read_text())
    assert data["complete"] and len(data["rows"]) == 17

    plan = data["recommendations"]["stage"]["plan"]
    text = form.results.toPlainText()
    assert all(row["plan"] in text for row in data["rows"])
    # The pane shows the engine's sweep.md: its recommendation table names the plan as the stage plan.
    assert "Recommendation for quality loss <= 0.5 dB PSNR-Y (fastest)" in text and "sweep.md" in text
    assert re.search(rf"{re.escape(plan)}\s+stage plan, exact search over 17 measured rows", text)
    doc = form.results.document()
    for name in data["files"]["plots"].values():
        image = doc.resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
        assert image is not None and not image.isNull()
    assert list(form.offered) == [plan]
    qtbot.mouseClick(form.offered[plan], Qt.MouseButton.LeftButton)
    # The picker holds the plan's key: an all-32-bit recommendation is fp32 (the float path).
    assert window.precision_combo.currentData() == parse_precision(plan).key == window.cfg.precision

    # The same output again: every row is reused, only the report is rewritten.
    form.start()
    _idle(qtbot, window)
    assert "0 plans to measure (17 already measured in the output folder are reused)" in answers.asked[1]
    assert "Found a sweep with 17 measured plans" in form.log.toPlainText()
    assert form.result == out / "sweep.json" and list(form.offered) == [plan]

    # A QAT sweep into the PTQ sweep's folder: the estimate refuses it as the sweep would, before asking.
    form.fields.method.setCurrentIndex(form.fields.method.findData("qat"))
    form.steps.setValue(2)
    form.start()
    _idle(qtbot, window)
    assert len(answers.asked) == 2
    assert re.search(r"Failed: .*sweep\.json: holds a sweep of another run \(different method, steps",
                     form.log.toPlainText().splitlines()[-1])
    assert form.running is None and json.loads((out / "sweep.json").read_text())["rows"] == data["rows"]
