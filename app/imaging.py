"""Pixels for the screen: numpy images to QImage, the input shown at x4, the |A-B| heat map.

Display only: every number the user reads as a metric comes from engine.metrics.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from engine import imageio

# Stops of a perceptually ordered dark-to-bright map (close to matplotlib's "inferno"), so small
# differences stay visible and large ones stand out; black means "identical".
_STOPS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)
_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_STOPS)), _STOPS[:, c]) for c in range(3)], axis=1
).astype(np.uint8)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float [0,1] (or uint8) HxWx3 -> contiguous uint8 HxWx3, rounded."""
    return np.ascontiguousarray(rgb) if rgb.dtype == np.uint8 else imageio.to_uint8(rgb)


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


def enlarge(rgb: np.ndarray, scale: int, method: str) -> np.ndarray:
    """The input as the eye compares it to an output: ``nearest`` (true pixels) or ``bicubic``."""
    data = to_uint8(rgb)
    if method == "nearest":
        return data.repeat(scale, axis=0).repeat(scale, axis=1)
    h, w, _ = data.shape
    return np.asarray(Image.fromarray(data).resize((w * scale, h * scale), Image.Resampling.BICUBIC))


def heatmap(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """|A-B| (mean over RGB) coloured dark-to-bright; returns (uint8 HxWx3, full-scale value in 0..255).

    Full scale is the 99.5th percentile of the difference, so a few outlier pixels do not turn
    everything else black; a floor of 1/255 keeps identical images black instead of noise-amplified.
    """
    if a.shape != b.shape:
        raise ValueError(f"cannot compare images of different sizes {a.shape[:2]} and {b.shape[:2]}")
    diff = np.abs(to_uint8(a).astype(np.int16) - to_uint8(b).astype(np.int16)).mean(axis=2)
    full = max(float(np.percentile(diff, 99.5)), 1.0)
    idx = np.clip(diff * (255.0 / full), 0, 255).astype(np.uint8)
    return _LUT[idx], full
