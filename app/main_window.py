"""The main window: queue on the left, A/B comparison in the centre, one worker for the engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import os

from PySide6.QtCore import QSettings, QSize, QStandardPaths, Qt
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import imaging, resources, tasks
from app.jobs.eta import eta_text
from app.compare_panel import INPUT, REFERENCE, ComparePanel, output_id
from app.queue_panel import QueuePanel
from app.screen_fit import fit_to_screen
from app.session import ImageEntry, ResultKey, Session, Status, precision_label
from app.settings import SAVE_FORMATS, AppSettings
from app.widgets import NoticeBar, SaveDialog
from app.worker import Job, JobRunner
from engine.errors import ImageError, MPSRError
from engine.jobs import Progress

BUILTIN_MODELS = (("ESRGAN", "esrgan"), ("SRGAN", "srgan"))
BUILTIN_PRECISIONS = ("fp32", "int8", "mixed")
_BROWSE_MODEL = "__browse_model__"
_CUSTOM_PLAN = "__custom_plan__"
_BROWSE_PLAN = "__browse_plan__"
# What the window asks for on a first launch; smaller screens get less (app/screen_fit.py).
PREFERRED_SIZE = QSize(1280, 820)
QUEUE_WIDTH = 380


class Work(NamedTuple):
    """What a job is about, for looking through the pending jobs (its outcome goes to its own handlers)."""

    kind: str
    entry_id: int | None = None
    key: object = None  # an upscale's ResultKey; the benchmark flag of a load or metrics job


class MainWindow(QMainWindow):
    def __init__(self, store: QSettings | None = None) -> None:
        super().__init__()
        self.store = store if store is not None else QSettings()
        self.cfg = AppSettings.load(self.store)
        self.session = Session()
        self.engine = tasks.Engine()  # used only inside worker jobs
        self.runner = JobRunner(self)
        # Metrics run on a thread of their own, only while no upscale is queued, and give way to a new one.
        self.metrics_runner = JobRunner(self, name="mpsr-metrics")
        self._metrics_pending: set[tuple[int, bool, str]] = set()
        self._metrics_later: dict[tuple[int, bool], None] = {}  # (entry id, benchmark) to score once upscales end
        self._gave_way: set[int] = set()  # metrics jobs stopped to let an upscale start
        self._run_counts: dict[Status, int] = {}
        self._summary = "Ready"  # the status line once everything has ended
        self._settings_dialog = None

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
        """A job is queued or running, on the engine's thread or the metrics' one."""
        return self.runner.busy or self.metrics_runner.busy

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

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        icon = self.style().standardIcon
        SP = QStyle.StandardPixmap
        self.open_action = self._action("&Open images\u2026", self.open_files_dialog, K.Open, "Add images to the queue")
        self.open_folder_action = self._action("Open &folder\u2026", self.open_folder_dialog, "Ctrl+Shift+O")
        self.paste_action = self._action("&Paste image", self.paste, K.Paste,
                                         "Add an image or files from the clipboard")
        self.save_action = self._action("&Save output as\u2026", self.save_dialog, K.Save,
                                        "Save an output (B, or A) as an image file")
        quit_action = self._action("&Quit", self.close, K.Quit)
        self.upscale_action = self._action("&Upscale", self.upscale, "Ctrl+Return", "Upscale every queued image")
        self.open_action.setIcon(icon(SP.SP_DialogOpenButton))
        self.save_action.setIcon(icon(SP.SP_DialogSaveButton))
        self.upscale_action.setIcon(icon(SP.SP_MediaPlay))
        self.cancel_action = self._action("&Cancel", self.cancel, "Esc")
        self.clear_action = self._action("Clear &queue", self.clear_queue)
        self.fit_action = self._action("&Fit", self.compare.view.zoom_fit, "Ctrl+0", "Fit the image in the view")
        zooms = [self._action(f"{p}%", lambda _=False, p=p: self.compare.view.set_zoom(p / 100), f"Ctrl+{k}")
                 for p, k in ((100, 1), (200, 2), (400, 4), (800, 8))]
        self.zoom_in_action = self._action("Zoom &in", self.compare.view.zoom_in, [K.ZoomIn, "Ctrl+="])
        self.zoom_out_action = self._action("Zoom &out", self.compare.view.zoom_out, K.ZoomOut)
        self.flip_action = self._action("&Swap A and B", self.compare.flip, "Space")
        self.diff_action = self._action("&Difference view", self._toggle_difference, "D", checkable=True)
        self.bench_action = self._action(
            "&Benchmark mode", self.set_benchmark, "Ctrl+B", checkable=True,
            tip="Downscale each image x4 first and measure PSNR-Y/SSIM-Y against the original",
        )
        self.bench_action.setChecked(self.cfg.benchmark)
        view_group = QActionGroup(self)
        self.input_view_actions = {}
        for mode, text in (("nearest", "Input as &nearest x4"), ("bicubic", "Input as &bicubic x4")):
            act = QAction(text, view_group, checkable=True)
            act.setChecked(self.cfg.input_view == mode)
            act.triggered.connect(lambda _=False, m=mode: self.set_input_view(m))
            self.input_view_actions[mode] = act
        self.fetch_action = self._action("&Fetch metric models", self.fetch_metric_models,
                                         tip="Download the Ma (NRQM) model that PI needs (online only)")
        self.settings_action = self._action("&Settings\u2026", self.open_settings, [K.Preferences, "Ctrl+,"])
        self.about_action = self._action("&About MPSR", self.show_about, K.HelpContents)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.open_action, self.open_folder_action, self.paste_action])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        run_menu = menu.addMenu("&Run")
        run_menu.addActions([self.upscale_action, self.cancel_action, self.clear_action])
        view_menu = menu.addMenu("&View")
        view_menu.addActions([self.fit_action, *zooms, self.zoom_in_action, self.zoom_out_action])
        view_menu.addSeparator()
        view_menu.addActions([self.flip_action, self.diff_action, *self.input_view_actions.values()])
        view_menu.addSeparator()
        view_menu.addAction(self.bench_action)
        tools_menu = menu.addMenu("&Tools")
        tools_menu.addActions([self.fetch_action, self.settings_action])
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.about_action)

        tools = QToolBar("Main")
        tools.setObjectName("mainToolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tools.addAction(self.open_action)
        tools.addAction(self.save_action)
        tools.addSeparator()
        tools.addWidget(QLabel(" Generator "))
        tools.addWidget(self.model_combo)
        tools.addWidget(QLabel(" Precision "))
        tools.addWidget(self.precision_combo)
        tools.addAction(self.upscale_action)
        tools.addSeparator()
        tools.addAction(self.fit_action)
        tools.addAction(zooms[0])
        tools.addAction(self.zoom_in_action)
        tools.addAction(self.zoom_out_action)
        tools.addSeparator()
        tools.addAction(self.bench_action)
        self.addToolBar(tools)

    def _connect_runner(self) -> None:
        # The metrics thread's jobs are background work: the engine's own keep the status bar.
        for r, background in ((self.runner, False), (self.metrics_runner, True)):
            r.started.connect(lambda job, b=background: self._job_started(job, b))
            r.progress.connect(lambda job, p, b=background: self._job_progress(job, p, b))
            r.failed.connect(self._job_failed)
        self.runner.idle.connect(self._jobs_idle)
        self.metrics_runner.idle.connect(self._update_busy)

    def _restore_geometry(self) -> None:
        geometry, state = self.store.value("geometry"), self.store.value("windowState")
        if geometry is not None and self.restoreGeometry(geometry):
            fit_to_screen(self, centre=False)  # saved on a larger screen, or with another panel
        else:
            fit_to_screen(self, PREFERRED_SIZE)
            self.resizeDocks([self.queue_dock], [QUEUE_WIDTH], Qt.Orientation.Horizontal)
        if state is not None:
            self.restoreState(state)

    # ===================================================================== model and precision
    def _fill_model_combo(self) -> None:
        combo = self.model_combo
        combo.clear()
        for label, spec in BUILTIN_MODELS:
            combo.addItem(label, spec)
        for path in self.cfg.extra_models:
            combo.addItem(Path(path).name, path)
            combo.setItemData(combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        combo.insertSeparator(combo.count())
        combo.addItem("Load model file\u2026", _BROWSE_MODEL)
        combo.setCurrentIndex(max(0, combo.findData(self.cfg.model)))

    def _fill_precision_combo(self) -> None:
        combo = self.precision_combo
        combo.clear()
        for p in BUILTIN_PRECISIONS:
            combo.addItem(p, p)
        for spec in self.cfg.extra_precisions:
            combo.addItem(precision_label(spec), spec)
            combo.setItemData(combo.count() - 1, spec, Qt.ItemDataRole.ToolTipRole)
        combo.insertSeparator(combo.count())
        combo.addItem("Per-stage plan\u2026", _CUSTOM_PLAN)
        combo.addItem("Plan or artifact file\u2026", _BROWSE_PLAN)
        combo.setCurrentIndex(max(0, combo.findData(self.cfg.precision)))

    def set_model(self, spec: str) -> None:
        """Choose a generator: "esrgan", "srgan" or a weights file (remembered in the picker)."""
        spec = str(spec)
        if self.model_combo.findData(spec) < 0:
            self.cfg.extra_models = [spec] + [m for m in self.cfg.extra_models if m != spec][:9]
            self._fill_model_combo()
        self.cfg.model = spec
        self.model_combo.setCurrentIndex(self.model_combo.findData(spec))

    def set_precision(self, spec: str) -> None:
        """Choose a precision: "fp32", "int8", "mixed", a plan like "16,8,8,16", or a plan/artifact file."""
        spec = str(spec)
        if self.precision_combo.findData(spec) < 0:
            self.cfg.extra_precisions = [spec] + [p for p in self.cfg.extra_precisions if p != spec][:9]
            self._fill_precision_combo()
        self.cfg.precision = spec
        self.precision_combo.setCurrentIndex(self.precision_combo.findData(spec))

    def _model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == _BROWSE_MODEL:
            name, _ = QFileDialog.getOpenFileName(
                self, "Load a generator", "", "Weights (*.safetensors *.pth *.pt);;All files (*)"
            )
            if name:
                self.set_model(name)
            else:
                self.model_combo.setCurrentIndex(self.model_combo.findData(self.cfg.model))
        else:
            self.cfg.model = data

    def _precision_activated(self, index: int) -> None:
        data = self.precision_combo.itemData(index)
        spec = None
        if data == _CUSTOM_PLAN:
            text, ok = QInputDialog.getText(
                self, "Per-stage plan",
                "Bits for feature extraction, body, upsampling, reconstruction (32, 16 or 8):", text="16,8,8,16",
            )
            spec = text.strip() if ok and text.strip() else None
        elif data == _BROWSE_PLAN:
            name, _ = QFileDialog.getOpenFileName(self, "Plan or quantized generator", "", "All files (*)")
            spec = name or None
        else:
            self.cfg.precision = data
            return
        if spec:
            self.set_precision(spec)
        else:
            self.precision_combo.setCurrentIndex(self.precision_combo.findData(self.cfg.precision))

    def current_key(self) -> ResultKey:
        return ResultKey(self.cfg.model, self.cfg.precision, self.cfg.benchmark)

    def run_settings(self) -> tasks.RunSettings:
        c = self.cfg
        return tasks.RunSettings(device=c.device, threads=c.threads, tile=c.tile, overlap=c.overlap)

    # ===================================================================== adding images
    def add_paths(self, items) -> list[ImageEntry]:
        """Queue files, folders and glob patterns; problems are reported, the rest is queued."""
        from engine import imageio

        added, errors = [], []
        first: ImageEntry | None = None  # what to show: the first file given, new or already queued
        for item in items:
            try:
                paths = imageio.collect_inputs([item])
            except MPSRError as err:
                errors.append(str(err))
                continue
            self.cfg.add_recent(str(Path(item).resolve()))
            for path in paths:
                entry = self.session.add(path)
                if entry is not None:
                    self.queue.add_entry(entry)
                    added.append(entry)
                first = first or entry or self.session.find(path)
        if first is not None:
            self.queue.select_entry(first.id)
        if errors:
            self.notice.show_message("\n".join(errors), error=True)
        if added:
            self.status_label.setText(f"{len(added)} image(s) added; press Upscale (Ctrl+Enter)")
        return added

    def open_files_dialog(self) -> None:
        from engine.imageio import SUPPORTED_EXTENSIONS

        patterns = " ".join(f"*{e}" for e in sorted(SUPPORTED_EXTENSIONS))
        names, _ = QFileDialog.getOpenFileNames(self, "Open images", self._last_dir(), f"Images ({patterns})")
        if names:
            self.add_paths(names)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._last_dir())
        if folder:
            self.add_paths([folder])

    def _last_dir(self) -> str:
        if self.cfg.recent_files:
            last = Path(self.cfg.recent_files[0])
            return str(last if last.is_dir() else last.parent)
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.cfg.recent_files:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.add_paths([p]))
        self.recent_menu.setEnabled(bool(self.cfg.recent_files))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self._add_mime(event.mimeData())
        event.acceptProposedAction()

    def paste(self) -> None:
        if not self._add_mime(QGuiApplication.clipboard().mimeData()):
            self.notice.show_message("The clipboard holds no image and no image files.", error=True)

    def _add_mime(self, mime) -> bool:
        files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
        if not files and mime.hasText():
            files = [line.strip() for line in mime.text().splitlines() if line.strip() and Path(line.strip()).exists()]
        if files:
            self.add_paths(files)
            return True
        if mime.hasImage():
            image = mime.imageData()
            if image is not None and not image.isNull():
                self.add_paths([self._save_pasted(image)])
                return True
        return False

    def _save_pasted(self, image) -> Path:
        """Keep a pasted image as a PNG, so it is an input file like any other."""
        from engine.imageio import Picture, write_image

        folder = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)) / "pasted"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / time.strftime("pasted-%Y%m%d-%H%M%S.png")
        n = 1
        while target.exists():
            target = target.with_name(f"{target.stem.split('~')[0]}~{n}.png")
            n += 1
        rgb = imaging.qimage_to_array(image).astype("float32") / 255.0
        return write_image(target, Picture(rgb=rgb, alpha=None, bits=8))

    def remove_entries(self, ids: list[int]) -> None:
        for job in self.runner.pending():
            if job.tag.entry_id in ids:
                job.cancel.cancel()
        for entry_id in ids:
            self.session.remove(entry_id)
            self.queue.remove_entry(entry_id)
            self.compare.forget(entry_id)
        current = self.queue.current_entry_id()
        if current is not None:
            self._show_entry(current)
        else:
            self.compare.show_entry(None, False, self.cfg.input_view)

    def clear_queue(self) -> None:
        self.remove_entries([e.id for e in self.session])

    # ===================================================================== upscaling
    def upscale(self) -> int:
        """Queue a job per image that has no output for the chosen generator and precision yet.

        Files found unreadable are skipped (they are marked failed in the queue once). Metrics being
        computed give way: the upscale starts at once and they are computed again after it.
        """
        key = self.current_key()
        queued = {j.tag.entry_id for j in self.runner.pending() if j.tag == Work("upscale", j.tag.entry_id, key)}
        todo = [e for e in self.session if key not in e.outputs and e.id not in queued and not e.input_error]
        if not len(self.session):
            self.notice.show_message("Add images first: drop them on the window, paste, or press Ctrl+O.", error=True)
            return 0
        unreadable = sum(1 for e in self.session if e.input_error)
        if not todo:
            self.status_label.setText(
                "Every image already has this output; pick another generator or precision."
                + (f" {unreadable} unreadable file(s) skipped." if unreadable else ""))
            return 0
        self.notice.hide()
        self._run_counts = {}
        self._defer_metrics()
        settings = self.run_settings()
        for n, entry in enumerate(todo, 1):
            entry.status, entry.message = Status.WAITING, ""
            self.queue.update_entry(entry)
            label = f"{entry.path.name} ({n}/{len(todo)})"
            fn = tasks.upscale_job(self.engine, entry.path, key, settings, entry.inputs)
            self.runner.submit(label, fn, tag=Work("upscale", entry.id, key), on_started=self._upscale_started,
                               on_progress=self._upscale_progress, on_done=self._upscaled,
                               on_failed=self._upscale_failed, on_cancelled=self._upscale_cancelled)
        if unreadable:
            self.status_label.setText(f"Upscaling {len(todo)} image(s); {unreadable} unreadable file(s) skipped")
        self._set_busy(True)
        return len(todo)

    def cancel(self) -> None:
        """Stop the running job, everything queued, and the metrics (which are not computed again by themselves)."""
        self._metrics_later.clear()
        self._gave_way.clear()
        if self.runner.busy or self.metrics_runner.working:
            self.runner.cancel_all()
            self.metrics_runner.cancel_all()
            self.status_label.setText("Cancelling\u2026")

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy)
        self.progress_bar.setVisible(busy)
        self.eta_label.setVisible(busy)
        if not busy:
            self.progress_bar.reset()
            self.eta_label.clear()

    def _update_busy(self) -> None:
        """Busy while the engine has jobs or metrics are being computed (not: finishing a cancelled metric)."""
        busy = self.runner.busy or self.metrics_runner.working
        self._set_busy(busy)
        if not busy and self.status_label.text().startswith(("Metrics for", "Starting the metrics")):
            self.status_label.setText(self._summary)  # what the last run did, not what the metrics did

    # --- job signals: what every job shows in the status bar; each job's own handlers do the rest ----------
    def _job_started(self, job: Job, background: bool) -> None:
        if background and self.runner.busy:
            return  # the engine's job keeps the status bar
        self._set_busy(True)
        self.status_label.setText(job.label)

    def _job_progress(self, job: Job, p: Progress, background: bool) -> None:
        if job.cancel.cancelled or (background and self.runner.busy):
            return
        if p.total > 0:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(1000 * p.fraction))
        else:
            self.progress_bar.setRange(0, 0)  # busy indicator: length unknown
        self.status_label.setText(f"{job.label}: {p.message}" if p.message and p.message != job.label else job.label)
        self.eta_label.setText(" \u00b7 ".join(filter(None, [_percent(p), eta_text(p.eta_s)])))

    def _job_failed(self, job: Job, message: str) -> None:
        self.notice.show_message(message, error=True)

    def _upscale_started(self, job: Job) -> None:
        entry = self.session.get(job.tag.entry_id)
        if entry is not None:
            entry.status, entry.message = Status.RUNNING, ""
            self.queue.update_entry(entry)

    def _upscale_progress(self, job: Job, p: Progress) -> None:
        if job.cancel.cancelled or (entry := self.session.get(job.tag.entry_id)) is None:
            return
        step = "loading model" if p.info.get("stage") == "load" else ""
        entry.message = " ".join(filter(None, [step, _percent(p)]))
        self.queue.update_entry(entry)

    def _upscale_failed(self, job: Job, message: str) -> None:
        if isinstance(job.error, ImageError):
            self._unreadable(job.tag.entry_id, job.error, counted=True)
        else:
            self._set_entry_status(job.tag.entry_id, Status.FAILED, message)

    def _upscale_cancelled(self, job: Job) -> None:
        self._set_entry_status(job.tag.entry_id, Status.CANCELLED, "")

    def _jobs_idle(self) -> None:
        """The engine's queue is empty: report the run, then compute the metrics that waited for it."""
        counts = self._run_counts
        if counts:
            parts = [f"{n} {s.value}" for s, n in counts.items() if n]
            self._summary = "Finished: " + ", ".join(parts)
            self._run_counts = {}
        else:
            self._summary = "Ready"
        self.status_label.setText(self._summary)
        self._update_busy()
        later = list(self._metrics_later)
        self._metrics_later.clear()
        current = self.queue.current_entry_id()
        for entry_id, benchmark in sorted(later, key=lambda k: k[0] != current):
            if (entry := self.session.get(entry_id)) is not None:
                self.request_metrics(entry, benchmark)

    def _set_entry_status(self, entry_id: int, status: Status, message: str) -> None:
        self._run_counts[status] = self._run_counts.get(status, 0) + 1
        entry = self.session.get(entry_id)
        if entry is not None:
            entry.status, entry.message = status, message
            self.queue.update_entry(entry)

    def _unreadable(self, entry_id: int, err: ImageError, counted: bool) -> None:
        """Mark a file that cannot be read as failed, once: Upscale skips it from now on."""
        entry = self.session.get(entry_id)
        if entry is None:
            return
        if counted:  # in the run's "Finished: ..." line
            self._run_counts[Status.FAILED] = self._run_counts.get(Status.FAILED, 0) + 1
        text = str(err)
        if err.path and text.startswith(f"{err.path}: "):
            text = text[len(err.path) + 2:]  # the queue row names the file already
        entry.status, entry.message, entry.input_error = Status.FAILED, text, str(err)
        self.queue.update_entry(entry)
        if entry is self.current_entry():
            self.compare.view.placeholder = f"{entry.path.name} cannot be read: {text}"
            self.compare.view.viewport().update()

    def _upscaled(self, job: Job, result: tasks.Upscaled) -> None:
        entry_id = job.tag.entry_id
        entry = self.session.get(entry_id)
        if entry is None:
            return  # removed while it ran
        entry.inputs = result.inputs
        out = result.output
        entry.outputs[out.key] = out
        short = f"{Path(out.key.model).stem} {precision_label(out.key.precision)}"  # the queue is narrow
        self._set_entry_status(entry_id, Status.DONE, f"{short} in {out.seconds:.1f} s")
        if self.queue.current_entry_id() == entry_id and self.cfg.benchmark == out.key.benchmark:
            fp32 = ResultKey(out.key.model, "fp32", out.key.benchmark)
            a = output_id(fp32) if out.key.precision != "fp32" and fp32 in entry.outputs else INPUT
            self.compare.show_entry(entry, self.cfg.benchmark, self.cfg.input_view, a=a, b=output_id(out.key))
        self.request_metrics(entry, out.key.benchmark)

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

    # ===================================================================== metrics
    def _request_metrics_current(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.request_metrics(entry, self.cfg.benchmark)

    def _upscales_queued(self) -> bool:
        return any(job.tag.kind == "upscale" for job in self.runner.pending())

    def _defer_metrics(self) -> None:
        """Make way for an upscale: stop the metrics and compute them again once the upscales have ended.

        A metric call already running cannot be interrupted; it finishes on its own thread, beside the upscale.
        """
        for job in self.metrics_runner.pending():
            if job.tag.kind == "metrics" and not job.cancel.cancelled:
                job.cancel.cancel()
                self._gave_way.add(job.id)
                self._metrics_later[(job.tag.entry_id, job.tag.key)] = None
        self.compare.refresh()

    def request_metrics(self, entry: ImageEntry, benchmark: bool) -> None:
        """Score every source of ``entry`` that has no score yet, on the metrics thread: newest output first,
        the input last. While upscales are queued this waits for them (they come first)."""
        if entry.input_for(benchmark) is None:
            return
        if self._upscales_queued():
            self._metrics_later[(entry.id, benchmark)] = None
            self.compare.refresh()
            return
        scores = entry.metrics[benchmark]
        reference = entry.inputs.reference.rgb if benchmark else None
        no_ref = ("NIQE", "PI") if self.cfg.compute_pi else ("NIQE",)
        requests: list[tasks.MetricRequest] = []

        def want(source: str, names: tuple[str, ...]) -> tuple[str, ...]:
            have = scores.get(source, {})
            busy = self._metrics_pending
            return tuple(n for n in names if n not in have and (entry.id, benchmark, f"{source}/{n}") not in busy)

        for out in reversed(entry.outputs_for(benchmark)):
            fp32 = entry.outputs.get(ResultKey(out.key.model, "fp32", benchmark))
            fp32_rgb = fp32.picture.rgb if fp32 is not None and fp32 is not out else None
            extra = (("PSNR-Y", "SSIM-Y") if benchmark else ()) + (("PSNR to fp32",) if fp32_rgb is not None else ())
            source = output_id(out.key)
            if names := want(source, no_ref + extra):
                requests.append(tasks.MetricRequest(source, out.picture.rgb, fp32=fp32_rgb, reference=reference,
                                                    want=names, known=dict(scores.get(source, {})), label=out.label))
        input_id = f"{INPUT}:{self.cfg.input_view}"
        if names := want(input_id, no_ref + (("PSNR-Y", "SSIM-Y") if benchmark else ())):
            requests.append(tasks.MetricRequest(
                input_id, entry.input_for(benchmark).rgb, reference=reference, want=names,
                known=dict(scores.get(input_id, {})), label="the input", enlarge=self.cfg.input_view))
        if benchmark and (names := want(REFERENCE, no_ref)):
            requests.append(tasks.MetricRequest(REFERENCE, reference, want=names,
                                                known=dict(scores.get(REFERENCE, {})), label="the original"))
        if not requests:
            return
        pending = {(entry.id, benchmark, f"{r.name}/{n}") for r in requests for n in r.want}
        self._metrics_pending |= pending
        self.compare.refresh()
        scored: dict[str, dict[str, tasks.Metric]] = {}
        self.metrics_runner.submit(
            f"Metrics for {entry.path.name}", tasks.metrics_job(requests, self.cfg.device, scored),
            tag=Work("metrics", entry.id, benchmark),
            on_done=lambda job, _: self._metrics_ended(job, pending, scored),
            on_failed=lambda job, message: self._metrics_ended(job, pending, scored, message),
            on_cancelled=lambda job: self._metrics_ended(job, pending, scored))

    def _metrics_ended(self, job: Job, pending: set, scored: dict, failure: str = "") -> None:
        """Keep what a metrics job scored, finished or not; on a failure the rest say why."""
        entry_id, benchmark = job.tag.entry_id, job.tag.key
        self._metrics_pending.difference_update(pending)
        entry = self.session.get(entry_id)
        if entry is not None:
            for source, values in scored.items():
                entry.metrics[benchmark].setdefault(source, {}).update(values)
            if failure:
                for item in pending:
                    source, name = item[2].rsplit("/", 1)
                    entry.metrics[benchmark].setdefault(source, {}).setdefault(
                        name, tasks.Metric(None, failure, tasks.FAILED))
        self.compare.refresh()
        if job.id in self._gave_way:  # stopped for an upscale: the rest is computed after it
            self._gave_way.discard(job.id)
            if entry is not None:
                self.request_metrics(entry, benchmark)

    def fetch_metric_models(self) -> None:
        self.status_label.setText("Fetching metric models\u2026")
        self.runner.submit("Fetching metric models", tasks.fetch_metrics_job(), tag=Work("fetch"),
                           on_done=lambda job, files: self._fetched(files))
        self._set_busy(True)

    def _fetched(self, files: list) -> None:
        if not files:
            self.notice.show_message("All metric models are already installed.")
            return
        self.notice.show_message("Installed " + ", ".join(str(f) for f in files) + "; PI will be computed now.")
        for entry in self.session:
            for scores in entry.metrics.values():
                for values in scores.values():
                    if "PI" in values and values["PI"].value is None:
                        del values["PI"]
        self._request_metrics_current()

    # ===================================================================== saving
    def save_choices(self) -> list[tuple[str, object]]:
        """The outputs a save may mean, as (side, output): B's, then A's, of those shown; else the newest one."""
        entry = self.current_entry()
        if entry is None:
            return []
        a, b = self.compare.current_ids()
        choices: list[tuple[str, object]] = []
        for side, sid in (("B", b), ("A", a)):
            out = self.compare.output_for(sid)
            if out is not None and all(o is not out for _, o in choices):
                choices.append((side, out))
        if not choices:
            outs = entry.outputs_for(self.cfg.benchmark) or list(entry.outputs.values())
            choices = [("", outs[-1])] if outs else []
        return choices

    def output_to_save(self):
        """The output a save writes unless told otherwise (B, else A, else the newest one) with its entry."""
        choices = self.save_choices()
        return self.current_entry(), (choices[0][1] if choices else None)

    def save_folder(self, entry: ImageEntry) -> Path:
        """Settings' output folder, else the last folder saved to, else the input's folder if it can be written,
        else the user's Pictures folder."""
        for folder in (self.cfg.output_dir, self.cfg.last_save_dir):
            if folder:
                return Path(folder).expanduser()
        if entry.path.parent.name != "pasted" and os.access(entry.path.parent, os.W_OK):
            return entry.path.parent
        return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation))

    def default_save_path(self, entry: ImageEntry, out) -> Path:
        """``<folder>/<name>_<model>_<precision>_x4.<ext>``: each generator and precision keeps its own file."""
        from engine.imageio import default_output_path

        tag = "_".join(filter(None, [Path(out.key.model).stem, precision_label(out.key.precision)]))
        safe = "".join(c if c.isalnum() or c in "-_.," else "-" for c in tag)
        ext = SAVE_FORMATS.get(self.cfg.save_format, ".png")
        return default_output_path(entry.path, self.save_folder(entry), suffix=f"_{safe}_x4", ext=ext)

    def save_dialog(self) -> None:
        dialog = self.make_save_dialog()
        if dialog is not None and dialog.exec():
            self.save_chosen(dialog)

    def make_save_dialog(self) -> SaveDialog | None:
        """The save dialog for the shown image's outputs, B's first; None (and a notice) if there is none."""
        entry = self.current_entry()
        choices = self.save_choices()
        if not choices:
            self.notice.show_message("Nothing to save yet: upscale an image first.", error=True)
            return None
        labels = [(out, f"{side}: {out.label}" if side else out.label) for side, out in choices]
        return SaveDialog(labels, lambda out: self.default_save_path(entry, out), self.cfg.save_format,
                          self.cfg.quality, self)

    def save_chosen(self, dialog: SaveDialog) -> Job | None:
        """Save what an accepted save dialog says, and remember its folder for the next save."""
        out, path, fmt, quality = dialog.chosen()
        self.cfg.save_format, self.cfg.quality = fmt, quality
        self.cfg.last_save_dir = str(path.parent)
        self.cfg.save(self.store)
        return self.save_output(path, quality, out)

    def save_output(self, path, quality: int | None = None, out=None) -> Job | None:
        """Write ``out`` (default: the output shown as B, else A) to ``path`` in the worker; never over the input."""
        entry, default = self.output_to_save()
        out = out or default
        if out is None:
            self.notice.show_message("Nothing to save yet: upscale an image first.", error=True)
            return None
        job = self.runner.submit(f"Saving {Path(path).name}",
                                 tasks.save_job(out.picture, Path(path), entry.path, quality or self.cfg.quality),
                                 tag=Work("save", entry.id),
                                 on_done=lambda job, saved: self.notice.show_message(f"Saved {saved}"))
        self._set_busy(True)
        return job

    # ===================================================================== dialogs
    def open_settings(self):
        from app.settings_dialog import SettingsDialog

        if self._settings_dialog is None:
            self._settings_dialog = SettingsDialog(self.cfg, self.runner, self, use_plan=self.set_precision)
            self._settings_dialog.applied.connect(self._settings_applied)
        self._settings_dialog.load(self.cfg)
        self._settings_dialog.show()
        self._settings_dialog.raise_()
        return self._settings_dialog

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
        self.store.setValue("geometry", self.saveGeometry())
        self.store.setValue("windowState", self.saveState())
        self.cfg.save(self.store)
        self.metrics_runner.cancel_all()
        self.runner.shutdown()
        self.metrics_runner.shutdown()
        super().closeEvent(event)


def _percent(p: Progress) -> str:
    return f"{p.fraction:.0%}" if p.total > 0 else ""
