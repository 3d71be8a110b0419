"""The evaluation core: run an upscaler over (HR, LR) pairs and score its 8-bit outputs into rows.

``mpsr eval`` (:mod:`engine.metrics.evaluate`) and the sweep (:mod:`engine.sweep.runner`) both measure through
:func:`score_pair` / :func:`score_rows`, so timing, rounding and scoring are the same everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from engine import imageio
from engine.jobs import CancelToken, check

from . import iqa, registry

Infer = Callable[[np.ndarray], np.ndarray]  # HxWx3 float LR -> the model's xscale float output in [0, 1]


def to_8bit(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as the saved PNG would hold it: rounded to 8 bits, back as float32 in [0, 1]."""
    return imageio.to_uint8(rgb).astype(np.float32) / 255.0


def warm_up(infer: Infer, lr: np.ndarray) -> None:
    """One small run, so that one-time costs (kernel choice, weight packing) do not land in the first image's time."""
    infer(lr[:32, :32])


def timed(infer: Infer, lr: np.ndarray) -> tuple[np.ndarray, float]:
    """The 8-bit output of ``infer`` on ``lr`` and the seconds the upscaling itself took."""
    start = time.perf_counter()
    sr = infer(lr)
    seconds = time.perf_counter() - start
    return to_8bit(sr), seconds


def score_pair(
    metrics: Iterable[str],
    sr: np.ndarray,
    hr: np.ndarray | None,
    fp32: np.ndarray | None,
    scorer: iqa.IQA,
    cancel: CancelToken | None = None,
    step: Callable[[int, str], None] | None = None,
    *,
    scale: int,
) -> dict[str, Any]:
    """Scores of ``sr`` from a x``scale`` model, a ``scale``-pixel border shaved (see :func:`registry.score`); a
    metric that cannot run is ``None``, its reason under ``unavailable``."""
    sample = registry.Sample(sr, hr, fp32, scorer, crop=scale)
    return registry.score(list(metrics), sample, lambda: check(cancel), step)


def score_rows(
    infer: Infer,
    pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
    metrics: Iterable[str],
    *,
    fp32: Callable[[int, np.ndarray], np.ndarray] | None = None,
    scale: int,
    scorer: iqa.IQA | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
    """For each ``(name, hr, lr)``: the row ``{"image", "size", "seconds", <metric fields>}`` and the 8-bit output.

    ``fp32(i, lr)``: the fp32 output of pair ``i`` for the fidelity metrics (none when None).
    """
    metrics = list(metrics) + (registry.fidelity() if fp32 is not None else [])
    scorer = scorer or iqa.get_iqa()
    for i, (name, hr, lr) in enumerate(pairs):
        check(cancel)
        sr, seconds = timed(infer, lr)
        reference = fp32(i, lr) if fp32 is not None else None
        row = {"image": name, "size": [sr.shape[1], sr.shape[0]], "seconds": seconds,
               **score_pair(metrics, sr, hr, reference, scorer, cancel, scale=scale)}
        yield row, sr
