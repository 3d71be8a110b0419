"""The centre of the window: A/B source pickers, the compare view and the metrics under it.

Sources for a side are the input (enlarged x4 as the user chose), in benchmark mode the
original image (the reference), and every output computed for the image in the current mode.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import compute, imaging, qimage
from app.compare_view import PLACEHOLDER, CompareView, Layer
from app.compute import OPTIONAL_METRIC, panel_metrics, skipped
from app.panels.metrics import MetricsPanel
from app.session import INPUT, REFERENCE, ImageEntry, Output, metric_id, output_id
from app.tasks import FAILED, Score
from engine.metrics import MetricUnavailable, registry

_INPUT_LABEL = {"nearest": "Input (nearest x4)", "bicubic": "Input (bicubic x4)"}


class ComparePanel(QWidget):
    sourcesChanged = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.entry: ImageEntry | None = None
        self.benchmark = False
        self.input_view = "bicubic"
        self._pixmaps: dict[tuple, QPixmap] = {}
        self._arrays: dict[tuple, object] = {}
        # (entry id, benchmark, "source/metric") being computed; shared with the window.
        self.pending: set[tuple[int, bool, str]] = set()
        # (entry id, benchmark) whose metrics wait for the queued upscales; shared with the window.
        self.later: dict[tuple[int, bool], None] = {}
        self.compute_pi = True

        self.a_combo = QComboBox()
        self.a_combo.setObjectName("sourceA")
        self.b_combo = QComboBox()
        self.b_combo.setObjectName("sourceB")
        for combo in (self.a_combo, self.b_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(18)
            combo.currentIndexChanged.connect(self._sources_changed)
        self.flip_button = QToolButton()
        self.flip_button.setText("\u21c4")
        self.flip_button.setToolTip("Swap A and B (Space)")
        self.flip_button.clicked.connect(self.flip)
        self.split_button = QPushButton("Split")
        self.diff_button = QPushButton("Difference")
        self.mode_group = QButtonGroup(self)
        for i, button in enumerate((self.split_button, self.diff_button)):
            button.setCheckable(True)
            self.mode_group.addButton(button, i)
        self.split_button.setChecked(True)
        self.split_button.setToolTip("A left of the line, B right of it; drag the line")
        self.diff_button.setToolTip("|A - B| as a heat map (D)")
        self.mode_group.idClicked.connect(lambda i: self.set_mode("difference" if i else "split"))
        self.zoom_label = QLabel()
        self.zoom_label.setMinimumWidth(70)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("A"))
        bar.addWidget(self.a_combo)
        bar.addWidget(self.flip_button)
        bar.addWidget(QLabel("B"))
        bar.addWidget(self.b_combo)
        bar.addSpacing(12)
        bar.addWidget(self.split_button)
        bar.addWidget(self.diff_button)
        bar.addStretch(1)
        bar.addWidget(self.zoom_label)

        self.view = CompareView()
        self.view.zoomChanged.connect(lambda z: self.zoom_label.setText(f"Zoom {z * 100:.0f}%"))
        self.metrics = MetricsPanel()
        # On a short screen the numbers scroll rather than squeeze the picture.
        metrics_scroll = _WholeScroll()
        metrics_scroll.setWidgetResizable(True)
        metrics_scroll.setFrameShape(QFrame.Shape.NoFrame)
        metrics_scroll.setWidget(self.metrics)
        # What concerns both sides (a missing metric model) is said once, under them, never scrolled away.
        self.metrics_notice = QLabel()
        self.metrics_notice.setObjectName("metricsNotice")
        self.metrics_notice.setWordWrap(True)
        self.metrics_notice.hide()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.view)
        splitter.addWidget(metrics_scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.metrics_notice)

    # --- what is shown ---------------------------------------------------------------------
    def show_entry(self, entry: ImageEntry | None, benchmark: bool, input_view: str,
                   a: str | None = None, b: str | None = None) -> None:
        """Show ``entry`` in the given mode; ``a``/``b`` pick sources (default: keep the current ones)."""
        same = self.entry is entry and self.benchmark == benchmark
        keep_a, keep_b = (self.a_combo.currentData(), self.b_combo.currentData()) if same else (None, None)
        self.entry, self.benchmark, self.input_view = entry, benchmark, input_view
        if entry is None:
            self.view.placeholder = PLACEHOLDER
        sources = self.sources()
        ids = [sid for sid, _ in sources]
        a = a if a in ids else keep_a if keep_a in ids else INPUT
        b = b if b in ids else keep_b if keep_b in ids else (ids[-1] if ids else None)
        for combo, choice in ((self.a_combo, a), (self.b_combo, b)):
            combo.blockSignals(True)
            combo.clear()
            for sid, label in sources:
                combo.addItem(label, sid)
            combo.setCurrentIndex(max(0, combo.findData(choice)))
            combo.blockSignals(False)
        self.refresh()

    def sources(self) -> list[tuple[str, str]]:
        entry = self.entry
        if entry is None or entry.input_for(self.benchmark) is None:
            return []
        out = [(INPUT, _INPUT_LABEL[self.input_view])]
        if self.benchmark:
            out.append((REFERENCE, "Original (reference)"))
        out += [(output_id(o.key), o.label) for o in entry.outputs_for(self.benchmark)]
        return out

    def current_ids(self) -> tuple[str | None, str | None]:
        return self.a_combo.currentData(), self.b_combo.currentData()

    def output_for(self, source_id: str | None) -> Output | None:
        if self.entry is None or not source_id:
            return None
        for o in self.entry.outputs_for(self.benchmark):
            if output_id(o.key) == source_id:
                return o
        return None

    def flip(self) -> None:
        a, b = self.current_ids()
        if a is None:
            return
        self.show_entry(self.entry, self.benchmark, self.input_view, a=b, b=a)

    def set_mode(self, mode: str) -> None:
        (self.diff_button if mode == "difference" else self.split_button).setChecked(True)
        self.view.set_mode(mode)
        self.refresh()

    def forget(self, entry_id: int) -> None:
        for cache in (self._pixmaps, self._arrays):
            for k in [k for k in cache if k[0] == entry_id]:
                del cache[k]

    def _sources_changed(self) -> None:
        self.refresh()
        self.sourcesChanged.emit()

    def refresh(self) -> None:
        a_id, b_id = self.current_ids()
        self.view.set_sides(self._layer(a_id), self._layer(b_id))
        if self.view.mode == "difference":
            self._update_difference(a_id, b_id)
        notices = [self._update_metrics("A", a_id), self._update_metrics("B", b_id)]
        missing = next((m for m in notices if m is not None), None)
        self.metrics_notice.setVisible(missing is not None)
        if missing is not None:
            metric, score = missing
            off = f", or turn {metric.label} off in Settings" if metric.key == OPTIONAL_METRIC else ""
            self.metrics_notice.setText(f"{metric.label} needs a model file that is not installed: Tools > Fetch "
                                        f"metric models (online){off}.")
            self.metrics_notice.setToolTip(score.reason)

    # --- pixels ----------------------------------------------------------------------------
    def label_for(self, source_id: str) -> str:
        return dict(self.sources()).get(source_id, "")

    def _key(self, source_id: str) -> tuple:
        view = self.input_view if source_id == INPUT else ""
        return (self.entry.id, self.benchmark, source_id, view)

    def _rgb(self, source_id: str):
        """The source at its own resolution (the input is not enlarged here)."""
        entry = self.entry
        if source_id == INPUT:
            return entry.input_for(self.benchmark).rgb
        if source_id == REFERENCE:
            return entry.inputs.reference.rgb
        out = self.output_for(source_id)
        return None if out is None else out.picture.rgb

    def array(self, source_id: str):
        """The source as uint8 at output resolution (what the eye compares)."""
        key = self._key(source_id)
        if key not in self._arrays:
            rgb = self._rgb(source_id)
            if rgb is None:
                return None
            self._arrays[key] = (
                imaging.enlarge(rgb, 4, self.input_view) if source_id == INPUT else imaging.to_uint8(rgb)
            )
        return self._arrays[key]

    def _layer(self, source_id: str | None) -> Layer | None:
        if self.entry is None or not source_id:
            return None
        key = self._key(source_id)
        if source_id == INPUT and self.input_view == "nearest":
            # Small pixmap drawn x4 without smoothing: nearest-neighbour at no memory cost.
            if key not in self._pixmaps:
                self._pixmaps[key] = QPixmap.fromImage(qimage.to_qimage(self._rgb(INPUT)))
            return Layer(self._pixmaps[key], self.label_for(source_id), scale=4)
        if key not in self._pixmaps:
            arr = self.array(source_id)
            if arr is None:
                return None
            self._pixmaps[key] = QPixmap.fromImage(qimage.to_qimage(arr))
        return Layer(self._pixmaps[key], self.label_for(source_id))

    def _update_difference(self, a_id: str | None, b_id: str | None) -> None:
        if not (a_id and b_id) or self.entry is None:
            self.view.set_difference(None)
            return
        a, b = self.array(a_id), self.array(b_id)
        if a is None or b is None or a.shape != b.shape:
            self.view.set_difference(None, "A and B differ in size: no difference view")
            return
        heat, full = imaging.heatmap(a, b)
        legend = f"black = identical, bright yellow = difference of {full:.0f}/255 or more"
        self.view.set_difference(Layer(QPixmap.fromImage(qimage.to_qimage(heat)), "difference"), legend)

    # --- numbers ---------------------------------------------------------------------------
    def metric_id(self, source_id: str) -> str:
        return metric_id(source_id, self.input_view)

    def _update_metrics(self, side: str, source_id: str | None) -> tuple[registry.Metric, Score] | None:
        """Fill one side's numbers, each blank one saying why; returns a metric whose model file is missing."""
        panel = self.metrics.side(side)
        if self.entry is None or not source_id:
            panel.show_values("", {})
            return None
        mid = self.metric_id(source_id)
        scores = self.entry.metrics[self.benchmark].get(mid) or {}
        out = self.output_for(source_id)
        waiting = (self.entry.id, self.benchmark) in self.later
        values: dict[str, tuple[str, str]] = {}
        missing = None
        for metric in panel_metrics():
            score = scores.get(metric.key)
            computing = (self.entry.id, self.benchmark, f"{mid}/{metric.key}") in self.pending
            why = skipped(metric, self.entry, self.benchmark, source_id, out, compute_pi=self.compute_pi)
            if why:
                text, tip = _SKIPPED[why]
                values[metric.label] = (text, tip.format(label=metric.label))
            else:
                values[metric.label] = _format(metric, score, computing, waiting)
            if missing is None and why is None and score is not None and score.code == MetricUnavailable.MODEL_MISSING:
                missing = (metric, score)
        no_model = ("-", "Not an output: no generator ran")
        if out is None:
            values.update(dict.fromkeys(("Inference time", "Model size", "Runs on"), no_model))
        else:
            values["Inference time"] = (f"{out.seconds:.2f} s", "")
            values["Model size"] = (_megabytes(out.info.size_bytes), "")
            values["Runs on"] = (f"{out.info.device}, {out.info.precision_label}", out.info.arch)
        panel.show_values(self.label_for(source_id), values)
        return missing

class _WholeScroll(QScrollArea):
    """A scroll area that asks for all of its content's height: scroll bars only when space is short."""

    def sizeHint(self):
        hint = self.widget().sizeHint()
        return hint.grownBy(self.contentsMargins()) if self.widget() is not None else super().sizeHint()


# What a metric a source is not scored with shows, and its tooltip ({label}: the metric's).
_SKIPPED = {
    compute.OFF: ("off", "{label} is turned off in Settings > General"),
    compute.NEEDS_BENCHMARK: ("needs benchmark mode", ("Turn on View > Benchmark mode: the image is downscaled x4 "
                                                       "first, and the output is scored against the original")),
    compute.IS_REFERENCE: ("is the reference", ""),
    compute.ONLY_OUTPUTS: ("only for outputs", "How close an output is to its generator's fp32 output"),
    compute.IS_FP32: ("(this is fp32)", ""),
    compute.NEEDS_FP32: ("needs the fp32 output", "Upscale this image at fp32 too"),
}
_BLANK = {
    MetricUnavailable.MODEL_MISSING: "n/a: model missing",
    MetricUnavailable.IMAGE_TOO_SMALL: "n/a: image too small",
    MetricUnavailable.UNDEFINED: "n/a: flat image",
    FAILED: "failed",
}


def _format(metric: registry.Metric, score: Score | None, computing: bool, waiting: bool) -> tuple[str, str]:
    if score is None:
        if waiting:  # before "computing": a job that gave way to the upscale may still be finishing a call
            return ("after the upscale", "Metrics are computed once the queued upscales have ended")
        if computing:
            return ("\u2026", "being computed")
        return ("-", "")
    if score.value is None:
        return (_BLANK.get(score.code, "n/a"), score.reason)
    return (metric.text(score.value), metric.direction)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
