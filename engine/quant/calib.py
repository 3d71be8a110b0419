"""Calibration inputs for post-training quantization: LR patches made the way the SR protocol makes them.

Each patch is a crop of ``scale * patch`` pixels of a photo (the whole photo, trimmed to a multiple of
``scale``, when it is smaller), downscaled by the generator's ``scale`` with bicubic. The default source is the photos bundled in
``resources/samples`` (none of them is in Set5/Set14, which must never be used here).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine import imageio
from engine.errors import ImageError, MPSRError
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "samples"


@dataclass(frozen=True)
class CalibrationSpec:
    """Where calibration patches come from and how many; ``key`` names it in cached artifacts."""

    source: str | None = None  # a folder, file or glob; None = the bundled samples
    count: int = 16
    patch: int = 64  # LR patch side in pixels
    seed: int = 0

    def __post_init__(self) -> None:
        if self.count < 1 or self.patch < 8:
            raise ValueError("calibration needs count >= 1 and patch >= 8")

    @property
    def key(self) -> str:
        source = "samples" if self.source is None else os.path.abspath(self.source)
        return f"{source}|n{self.count}|p{self.patch}|s{self.seed}"

    def to_json(self) -> dict:
        return {"source": self.source or "bundled samples", "count": self.count, "patch": self.patch, "seed": self.seed}


def _lr(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
    img = Image.fromarray(imageio.to_uint8(hr[:h, :w]))
    small = img.resize((w // scale, h // scale), Image.Resampling.BICUBIC)
    return np.asarray(small, dtype=np.float32) / 255.0


def calibration_images(
    spec: CalibrationSpec | None = None, progress: ProgressFn | None = None, cancel: CancelToken | None = None, *,
    scale: int,
) -> list[np.ndarray]:
    """Up to ``spec.count`` LR patches (HxWx3 float32 in [0,1]) for a x``scale`` generator, spread evenly over the
    source images."""
    spec = spec or CalibrationSpec()
    paths = imageio.collect_inputs([spec.source if spec.source is not None else SAMPLES_DIR])
    rng = np.random.default_rng(spec.seed)
    if len(paths) > spec.count:
        paths = [paths[i] for i in sorted(rng.choice(len(paths), spec.count, replace=False))]
    counts = [spec.count // len(paths) + (i < spec.count % len(paths)) for i in range(len(paths))]
    tracker = ProgressTracker(progress, len(paths), "reading calibration images")
    patches: list[np.ndarray] = []
    for i, (path, n) in enumerate(zip(paths, counts)):
        check(cancel)
        try:
            rgb = imageio.read_image(path).rgb
        except ImageError as err:
            log.warning("skipped a calibration image: %s", err)
            continue
        side = scale * spec.patch
        h, w = rgb.shape[:2]
        if min(h, w) < 16:
            continue  # a few pixels say nothing about activation ranges
        if h < side or w < side:
            patches.append(_lr(rgb, scale))
        else:
            for _ in range(n):
                y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
                patches.append(_lr(rgb[y:y + side, x:x + side], scale))
        tracker.update(i + 1)
    if not patches:
        raise MPSRError(f"{spec.source or SAMPLES_DIR}: no readable image of at least 16x16 pixels to calibrate on")
    return patches
