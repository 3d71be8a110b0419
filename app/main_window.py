"""The main window: queue on the left, A/B comparison in the centre, one worker for the engine."""

from __future__ import annotations

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import resources, tasks
from app.panels.compare import ComparePanel
from app.panels.queue import QueuePanel
from app.screen_fit import restore_geometry
from app.session import ImageEntry, Session, Status
from app.settings import AppSettings
from app.widgets import NoticeBar
from app.window.choices import ChoicesMixin
from app.window.inputs import InputsMixin
from app.window.menus import MenusMixin
from app.window.metrics import MetricsMixin
from app.window.saving import SavingMixin
from app.window.upscaling import UpscalingMixin
from app.window.work import Work
from app.worker import Job, JobRunner
from engine.errors import ImageError

# What the window asks for on a first launch; smaller screens get less (app/screen_fit.py).
PREFERRED_SIZE = QSize(1280, 820)
QUEUE_WIDTH = 380


class MainWindow(MenusMixin, ChoicesMixin, InputsMixin, UpscalingMixin, MetricsMixin, SavingMixin,
                 QMainWindow):
    def __init__(self, store: QSettings | None = None) -> None:
        super().__init__()
        self.store = store if store is not None else QSettings()
        self.cfg = AppSettings.load(self.store)
        self.session = Session()
        self.engine = tasks.Engine()  # used only inside worker jobs
        self.runner = JobRunner(self)
        # Metrics run on a thread of their own, only while no upscale is queued, and give way to a new one.
        self.metrics_runner = JobRunner(self, name="mpsr-metrics")
        # QAT and sweeps (the Lab, Settings > Advanced) run for hours: on a thread of their own, so that upscales
        # do not queue behind them and the main window's Cancel does not stop them.
        self.lab_runner = JobRunner(self, name="mpsr-lab")
        self._metrics_pending: set[tuple[int, bool, str]] = set()
        self._metrics_later: dict[tuple[int, bool], None] = {}  # (entry id, benchmark) to score once upscales end
        self._gave_way: set[int] = set()  # metrics jobs stopped to let an upscale start
        self._run_counts: dict[Status, int] = {}
        self._summary = "Ready"  # the status line once everything has ended
        self._settings_dialog = None
        self._lab = None

        self.setWindowTitle("MPSR")
        self.setWindowIcon(resources.app_icon())
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        self._connect_runner()
        self._restore_geometry()
        self._set_busy(False)
        self.runner.submit("Starting the engine", tasks.warmup_job(), tag=Work("warmup"))
        self.metrics_runner.submit("Starting the metrics", tasks.metrics_warmup_job(),
                                   tag=Work("metrics-warmup"))

    @property
    def busy(self) -> bool:
        """A job is queued or running, on the engine's thread, the metrics' one or the Lab's."""
        return self.runner.busy or self.metrics_runner.busy or self.lab_runner.busy
    # ===================================================================== construction
    def _build_widgets(self) -> None:
        self.queue = QueuePanel()
        self.queue.entrySelected.connect(self._show_entry)
        self.queue.removeRequested.connect(self.remove_entries)
        dock = QDockWidget("Queue", self)
        dock.setObjectName("queueDock")
        dock.setWidget(self.queue)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.queue_dock = dock

        self.notice = NoticeBar()
        self.compare = ComparePanel()
        self.compare.pending = self._metrics_pending
        self.compare.later = self._metrics_later
        self.compare.compute_pi = self.cfg.compute_pi
        self.compare.input_view = self.cfg.input_view
        self.compare.sourcesChanged.connect(self._request_metrics_current)
        self.compare.view.setAcceptDrops(False)
        self.queue.setAcceptDrops(False)
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.notice)
        layout.addWidget(self.compare, 1)
        self.setCentralWidget(centre)

        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelCombo")
        self.model_combo.setToolTip("Generator: the built-in ones, or a weights file you load")
        self.precision_combo = QComboBox()
        self.precision_combo.setObjectName("precisionCombo")
        self.precision_combo.setToolTip("fp32, int8, mixed (16-bit head and tail, int8 body), a plan or an artifact")
        self._fill_model_combo()
        self._fill_precision_combo()
        self.model_combo.activated.connect(self._model_activated)
        self.precision_combo.activated.connect(self._precision_activated)

        self.status_label = QLabel("Ready")
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(260)
        # The percentage goes in the label beside the bar: drawn over the fill it cannot be read.
        self.progress_bar.setTextVisible(False)
        self.eta_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job and everything queued (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        bar = self.statusBar()
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.eta_label)
        bar.addPermanentWidget(self.cancel_button)

    def _connect_runner(self) -> None:
        # The metrics thread's jobs are background work: the engine's own keep the status bar.
        for r, background in ((self.runner, False), (self.metrics_runner, True)):
            r.started.connect(lambda job, b=background: self._job_started(job, b))
            r.progress.connect(lambda job, p, b=background: self._job_progress(job, p, b))
            r.failed.connect(self._job_failed)
        self.runner.idle.connect(self._jobs_idle)
        self.metrics_runner.idle.connect(self._update_busy)

    def _restore_geometry(self) -> None:
        if not restore_geometry(self, self.store.value("geometry"), PREFERRED_SIZE):
            self.resizeDocks([self.queue_dock], [QUEUE_WIDTH], Qt.Orientation.Horizontal)
        state = self.store.value("windowState")
        if state is not None:
            self.restoreState(state)

    # ===================================================================== showing
    def _show_entry(self, entry_id: int) -> None:
        entry = self.session.get(entry_id)
        self.setWindowTitle(f"MPSR \u2014 {entry.path.name}" if entry else "MPSR")
        self.compare.show_entry(entry, self.cfg.benchmark, self.cfg.input_view)
        if entry is not None:
            self._ensure_loaded(entry)
            self.request_metrics(entry, self.cfg.benchmark)

    def _ensure_loaded(self, entry: ImageEntry) -> None:
        """Read the shown image in the worker so it can be looked at before it is upscaled."""
        benchmark = self.cfg.benchmark
        if entry.input_for(benchmark) is not None or entry.status is Status.FAILED:
            return
        if any(j.tag.kind in ("load", "upscale") and j.tag.entry_id == entry.id for j in self.runner.pending()):
            return
        self.compare.view.placeholder = f"Reading {entry.path.name}\u2026"
        self.compare.view.viewport().update()
        self.runner.submit(f"Reading {entry.path.name}", tasks.load_job(entry.path, benchmark, entry.inputs),
                           tag=Work("load", entry.id, benchmark), on_done=self._loaded, on_failed=self._load_failed)

    def _load_failed(self, job: Job, message: str) -> None:
        if isinstance(job.error, ImageError):
            self._unreadable(job.tag.entry_id, job.error, counted=False)

    def _loaded(self, job: Job, inputs) -> None:
        benchmark = job.tag.key
        entry = self.session.get(job.tag.entry_id)
        if entry is None:
            return
        if entry.input_for(benchmark) is None:
            entry.inputs = inputs
        self.queue.update_entry(entry)
        if entry is self.current_entry():
            self.compare.show_entry(entry, self.cfg.benchmark, self.cfg.input_view)
            self.request_metrics(entry, self.cfg.benchmark)

    def current_entry(self) -> ImageEntry | None:
        entry_id = self.queue.current_entry_id()
        return None if entry_id is None else self.session.get(entry_id)

    def set_benchmark(self, on: bool) -> None:
        self.cfg.benchmark = bool(on)
        if self.bench_action.isChecked() != on:
            self.bench_action.setChecked(on)
        entry = self.current_entry()
        if on:
            self.status_label.setText("Benchmark mode: images are downscaled x4 and scored against the original")
        self.compare.show_entry(entry, self.cfg.benchmark, self.cfg.input_view)
        if entry is not None:
            self._ensure_loaded(entry)
            self.request_metrics(entry, self.cfg.benchmark)

    def set_input_view(self, mode: str) -> None:
        self.cfg.input_view = mode
        self.input_view_actions[mode].setChecked(True)
        self.compare.show_entry(self.current_entry(), self.cfg.benchmark, mode)
        self._request_metrics_current()

    def _toggle_difference(self, on: bool) -> None:
        self.compare.set_mode("difference" if on else "split")

    # ===================================================================== dialogs
    def open_settings(self):
        from app.settings_dialog import SettingsDialog

        if self._settings_dialog is None:
            self._settings_dialog = SettingsDialog(self.cfg, self.lab_runner, self, use_plan=self.set_precision)
            self._settings_dialog.applied.connect(self._settings_applied)
        self._settings_dialog.load(self.cfg)
        self._settings_dialog.show()
        self._settings_dialog.raise_()
        return self._settings_dialog

    def open_lab(self):
        """Tools > Lab: the QAT and sweep forms in a window beside this one (they are in Settings too)."""
        from app.lab_window import LabWindow

        if self._lab is None:
            self._lab = LabWindow(self.lab_runner, lambda: self.cfg.device, self.set_precision, self.store, self)
        self._lab.set_models(self.cfg.extra_models, self.cfg.model)
        self._lab.show()
        self._lab.raise_()
        return self._lab

    def _settings_applied(self) -> None:
        self.compare.compute_pi = self.cfg.compute_pi
        self.compare.show_entry(self.current_entry(), self.cfg.benchmark, self.cfg.input_view)
        self.input_view_actions[self.cfg.input_view].setChecked(True)
        self.cfg.save(self.store)
        self._request_metrics_current()  # PI, if it was just turned on

    def show_about(self):
        from app.about import AboutDialog

        dialog = AboutDialog(self)
        dialog.open()
        return dialog

    # ===================================================================== closing
    def closeEvent(self, event) -> None:
        if self._lab is not None:
            self._lab.close()  # it keeps its place too; a child window gets no close event of its own
        self.store.setValue("geometry", self.saveGeometry())
        self.store.setValue("windowState", self.saveState())
        self.cfg.save(self.store)
        self.metrics_runner.cancel_all()
        self.runner.shutdown()
        self.metrics_runner.shutdown()
        self.lab_runner.shutdown()  # a QAT run keeps its checkpoint, a sweep its measured rows: both resume
        super().closeEvent(event)
