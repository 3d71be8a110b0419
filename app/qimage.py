"""numpy images to and from QImage, for the view and the clipboard."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from app.imaging import to_uint8


def to_qimage(rgb: np.ndarray) -> QImage:
    """HxWx3 array -> a QImage that owns its pixels (safe after ``rgb`` is freed)."""
    data = to_uint8(rgb)
    h, w, _ = data.shape
    return QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def qimage_to_array(image: QImage) -> np.ndarray:
    """QImage -> HxWx3 uint8 copy (used for pasted clipboard images)."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()
