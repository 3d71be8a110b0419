"""A/B comparison in one view: a draggable split line, shared zoom and pan, and a difference mode.

Both sides live in one QGraphicsScene item, in output-pixel coordinates, so zoom and pan are
synchronized by construction. The input is drawn from its own small pixmap scaled x4 with
nearest-neighbour (or from a bicubic enlargement), never resampled by the view at >= 100%, so
pixels look like pixels when you zoom in.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
)

ZOOM_STEPS = (0.0625, 0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
MAX_ZOOM = 8.0
_GRAB_PX = 7  # how close (viewport pixels) a press must be to grab the split line
PLACEHOLDER = "Drop images here, paste, or press Ctrl+O"


@dataclass
class Layer:
    """One picture for a side: ``pixmap`` covers the scene at ``scale`` scene pixels per pixmap pixel."""

    pixmap: QPixmap
    label: str
    scale: int = 1

    @property
    def scene_size(self) -> tuple[int, int]:
        return self.pixmap.width() * self.scale, self.pixmap.height() * self.scale


class _CompareItem(QGraphicsItem):
    def __init__(self, view: CompareView) -> None:
        super().__init__()
        self._view = view
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def boundingRect(self) -> QRectF:
        w, h = self._view.scene_size()
        return QRectF(0, 0, w, h)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        view = self._view
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        exposed = option.exposedRect
        w, h = view.scene_size()
        if view.mode == "difference":
            if view.diff is not None:
                self._draw(painter, view.diff, QRectF(0, 0, w, h) & exposed, lod)
            return
        x = view.split * w
        if view.a is not None:
            self._draw(painter, view.a, QRectF(0, 0, x, h) & exposed, lod)
        if view.b is not None:
            self._draw(painter, view.b, QRectF(x, 0, w - x, h) & exposed, lod)

    @staticmethod
    def _draw(painter: QPainter, layer: Layer, target: QRectF, lod: float) -> None:
        if target.isEmpty():
            return
        s = layer.scale
        source = QRectF(target.x() / s, target.y() / s, target.width() / s, target.height() / s)
        # Smooth only when shrinking; enlarged pixels stay crisp so artefacts can be inspected.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, lod * s < 1.0)
        painter.drawPixmap(target, layer.pixmap, source)


class CompareView(QGraphicsView):
    zoomChanged = Signal(float)  # 1.0 = 100% of output pixels
    splitChanged = Signal(float)  # 0..1 of the image width

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.a: Layer | None = None
        self.b: Layer | None = None
        self.diff: Layer | None = None
        self.diff_legend = ""
        self.mode = "split"
        self.split = 0.5
        self.placeholder = PLACEHOLDER
        self._fit = True
        self._dragging = False
        self._scene = QGraphicsScene(self)
        self._item = _CompareItem(self)
        self._scene.addItem(self._item)
        self.setScene(self._scene)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        # The split line and labels are drawn in the foreground, which moves with every scroll.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setBackgroundBrush(QColor(38, 38, 42))
        self.setMouseTracking(True)
        self.setObjectName("compareView")

    # --- content -------------------------------------------------------------------------
    def scene_size(self) -> tuple[int, int]:
        sizes = [layer.scene_size for layer in (self.a, self.b) if layer is not None]
        if not sizes:
            return (0, 0)
        return max(s[0] for s in sizes), max(s[1] for s in sizes)

    def has_content(self) -> bool:
        return self.a is not None or self.b is not None

    def set_sides(self, a: Layer | None, b: Layer | None) -> None:
        old = self.scene_size()
        self._item.prepareGeometryChange()
        self.a, self.b = a, b
        w, h = self.scene_size()
        self._scene.setSceneRect(QRectF(0, 0, w, h))
        if (w, h) != old and self._fit:
            self.zoom_fit()
        self.viewport().update()

    def set_difference(self, layer: Layer | None, legend: str = "") -> None:
        self.diff, self.diff_legend = layer, legend
        self.viewport().update()

    def set_mode(self, mode: str) -> None:
        if mode not in ("split", "difference"):
            raise ValueError(f"unknown compare mode {mode!r}")
        self.mode = mode
        self.viewport().update()

    def set_split(self, fraction: float) -> None:
        self.split = min(1.0, max(0.0, fraction))
        self.viewport().update()
        self.splitChanged.emit(self.split)

    # --- zoom ----------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def is_fit(self) -> bool:
        return self._fit

    def zoom_fit(self) -> None:
        self._fit = True
        w, h = self.scene_size()
        if w and h:
            self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
            if self.zoom() > MAX_ZOOM:
                self.setTransform(QTransform.fromScale(MAX_ZOOM, MAX_ZOOM))
        self.zoomChanged.emit(self.zoom())

    def set_zoom(self, factor: float, anchor_mouse: bool = False) -> None:
        factor = min(MAX_ZOOM, max(self._min_zoom(), factor))
        self._fit = False
        anchor = QGraphicsView.ViewportAnchor
        self.setTransformationAnchor(anchor.AnchorUnderMouse if anchor_mouse else anchor.AnchorViewCenter)
        self.setTransform(QTransform.fromScale(factor, factor))
        self.setTransformationAnchor(anchor.AnchorUnderMouse)
        self.zoomChanged.emit(self.zoom())

    def zoom_in(self) -> None:
        z = self.zoom()
        self.set_zoom(next((s for s in ZOOM_STEPS if s > z * 1.001), MAX_ZOOM))

    def zoom_out(self) -> None:
        z = self.zoom()
        self.set_zoom(next((s for s in reversed(ZOOM_STEPS) if s < z * 0.999), self._min_zoom()))

    def _min_zoom(self) -> float:
        w, h = self.scene_size()
        if not (w and h):
            return ZOOM_STEPS[0]
        vp = self.viewport().size()
        fit = min(vp.width() / w, vp.height() / h)
        return min(ZOOM_STEPS[0], fit)

    # --- events --------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.zoom_fit()

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps and self.has_content():
            self.set_zoom(self.zoom() * (1.25**steps), anchor_mouse=True)
            event.accept()
        else:
            super().wheelEvent(event)

    def _split_x(self) -> float:
        w, _ = self.scene_size()
        return self.mapFromScene(QPointF(self.split * w, 0)).x()

    def _near_split(self, x: float) -> bool:
        return self.mode == "split" and self.has_content() and abs(x - self._split_x()) <= _GRAB_PX

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._near_split(event.position().x()):
            self._dragging = True
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._dragging:
            w, _ = self.scene_size()
            self.set_split(self.mapToScene(event.position().toPoint()).x() / w)
            event.accept()
            return
        if not event.buttons():
            near = self._near_split(event.position().x())
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # --- overlay -------------------------------------------------------------------------
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        painter.resetTransform()
        vp = self.viewport().rect()
        font = QFont(painter.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        painter.setFont(font)
        if not self.has_content():
            painter.setPen(QColor(170, 170, 175))
            painter.drawText(vp, Qt.AlignmentFlag.AlignCenter, self.placeholder)
        elif self.mode == "split":
            x = self._split_x()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(0, 0, 0, 140), 3))
            painter.drawLine(QPointF(x, vp.top()), QPointF(x, vp.bottom()))
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            painter.drawLine(QPointF(x, vp.top()), QPointF(x, vp.bottom()))
            cy = vp.center().y()
            painter.setBrush(QColor(255, 255, 255))
            painter.setPen(QPen(QColor(0, 0, 0, 160), 1))
            painter.drawEllipse(QPointF(x, cy), 7, 7)
            if self.a is not None:
                self._tag(painter, f"A  {self.a.label}", QPointF(min(x, vp.right()) - 8, 8), right=True)
            if self.b is not None:
                self._tag(painter, f"B  {self.b.label}", QPointF(max(x, 0) + 8, 8), right=False)
        else:
            a = self.a.label if self.a else "-"
            b = self.b.label if self.b else "-"
            self._tag(painter, f"|A - B|   A: {a}   B: {b}", QPointF(8, 8), right=False)
            if self.diff_legend:
                self._tag(painter, self.diff_legend, QPointF(8, vp.bottom() - 30), right=False)
        painter.restore()

    @staticmethod
    def _tag(painter: QPainter, text: str, at: QPointF, right: bool) -> None:
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
        box = QRectF(at.x() - w if right else at.x(), at.y(), w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
