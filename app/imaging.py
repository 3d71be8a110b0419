"""Pixels for the screen, without Qt: the input shown at x4, the |A-B| heat map (app/qimage.py makes QImages).

Display only: every number the user reads as a metric comes from engine.metrics.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

from engine import imageio

# A perceptually ordered dark-to-bright map, so small differences stay visible and large ones stand out;
# black means "identical".
HEAT_COLORMAP = "inferno"

def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """float [0,1] (or uint8) HxWx3 -> contiguous uint8 HxWx3, rounded."""
    return np.ascontiguousarray(rgb) if rgb.dtype == np.uint8 else imageio.to_uint8(rgb)


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
    return _heat_lut()[idx], full


@cache
def _heat_lut() -> np.ndarray:
    """256 RGB colours of the heat map (matplotlib is imported when the first difference is shown)."""
    from matplotlib import colormaps

    return np.round(colormaps[HEAT_COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
