"""Helpers shared by the benchmarks: the models under test, timing, photo inputs."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "train" / "photos"
SAMPLE = REPO / "resources" / "samples" / "coffee.png"


def photo(width: int, height: int) -> np.ndarray:
    """A real photo resized to width x height (a training photo when present, else the bundled sample)."""
    src = PHOTOS / "lomiri-wallpapers-16.04__Bridge_by_Sander_Klootwijk.jpg"
    img = Image.open(src if src.exists() else SAMPLE).convert("RGB")
    return np.asarray(img.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0


def generators() -> list[tuple[str, str]]:
    """(label, model spec) for the two generators; SRGAN falls back to random weights, labelled, for timing."""
    return [("ESRGAN (RealESRGAN_x4plus)", "esrgan"), ("SRGAN", "srgan")]


def load(spec: str):
    """An fp32 Upscaler for ``spec``; an untrained SRResNet-16 when the SRGAN weights are not trained yet."""
    from engine import archs
    from engine.errors import ModelError
    from engine.upscaler import Upscaler, UpscalerInfo, make_upscaler

    try:
        return make_upscaler(spec, "fp32", tile=0, device="cpu"), ""
    except ModelError:
        if spec != "srgan":
            raise
        net = archs.build("srresnet")
        info = UpscalerInfo("srgan", "SRResNet-16", "srresnet", "fp32", 0, "cpu")
        return Upscaler(net, info=info, tile=0), " (untrained weights: timing only)"


def median_seconds(fn, repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def set_threads(n: int = 2) -> None:
    torch.set_num_threads(n)
