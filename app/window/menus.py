"""The main window's menus, toolbar and keyboard shortcuts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QStyle,
    QToolBar,
)


class MenusMixin:
    """Builds the actions of :class:`~app.main_window.MainWindow`."""

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
        self.lab_action = self._action("&Lab: QAT and sweeps\u2026", self.open_lab, "Ctrl+L",
                                       "Retrain for a precision plan or run a sensitivity sweep, in a window of its own")
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
        tools_menu.addActions([self.fetch_action, self.lab_action, self.settings_action])
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
