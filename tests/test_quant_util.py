"""Helpers for the quantization tests (no tests here): real photo crops and PSNR."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch


@lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut().astype(np.float32) / 255.0  # 512x512 RGB, shipped in the wheel


def photo(h: int, w: int, y: int, x: int) -> np.ndarray:
    """An h x w crop at (y, x) of a real photo, float32 HxWx3 in [0, 1]."""
    img = _astronaut()
    assert y + h <= img.shape[0] and x + w <= img.shape[1]
    return np.ascontiguousarray(img[y:y + h, x:x + w])


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]


def psnr(ref: torch.Tensor, out: torch.Tensor) -> float:
    """PSNR with the reference's own value range as peak, so tiny untrained nets are judged fairly."""
    ref, out = ref.detach().double(), out.detach().double()
    mse = float(((ref - out) ** 2).mean())
    peak = float(ref.max() - ref.min())
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets gain nothing from threads, and on a busy 2-core machine each parallel region waits for
    a descheduled peer: one thread makes these tests several times faster there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
