"""The engine calls the window makes, packaged as worker jobs ``fn(progress, cancel) -> result``.

Everything here runs in the worker thread. :class:`Engine` is the worker-side state (loaded
generators, thread count) and is only ever touched from that thread.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.session import Inputs, Output, ResultKey
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check
from engine.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

# Loaded generators kept for reuse: switching back to an int8 model must not calibrate it again.
_CACHED_UPSCALERS = 3


@dataclass(frozen=True)
class RunSettings:
    device: str = "auto"  # "auto", "cpu" or "cuda"
    threads: int = 0  # 0: torch's default
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP


@dataclass
class Metric:
    """One number for the metrics panel, or why there is none."""

    value: float | None
    reason: str = ""  # why value is None (missing model file, image too small, ...)


@dataclass
class Upscaled:
    inputs: Inputs
    output: Output


class Engine:
    """Worker-thread state: generators cached by (model, precision, device, tiling)."""

    def __init__(self) -> None:
        self._upscalers: OrderedDict[tuple, object] = OrderedDict()
        self._default_threads: int | None = None

    def apply(self, settings: RunSettings) -> None:
        import torch

        if self._default_threads is None:
            self._default_threads = torch.get_num_threads()
        wanted = settings.threads or self._default_threads
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)

    def upscaler(self, key: ResultKey, settings: RunSettings, progress: ProgressFn, cancel: CancelToken):
        from engine.upscaler import make_upscaler

        device = None if settings.device == "auto" else settings.device
        cache_key = (key.model, key.precision, device, settings.tile, settings.overlap)
        if cache_key in self._upscalers:
            self._upscalers.move_to_end(cache_key)
            return self._upscalers[cache_key]
        progress_msg(progress, f"Loading {Path(key.model).name} at {key.precision}")
        up = make_upscaler(
            key.model, key.precision, tile=settings.tile, overlap=settings.overlap, device=device,
            progress=progress, cancel=cancel,
        )
        self._upscalers[cache_key] = up
        while len(self._upscalers) > _CACHED_UPSCALERS:
            self._upscalers.popitem(last=False)
        return up


def progress_msg(progress: ProgressFn, message: str) -> None:
    """An indeterminate report (total 0): the bar shows 'busy' with this message."""
    from engine.jobs import Progress

    progress(Progress(0, 0, message))


def load_inputs(path: Path, benchmark: bool, inputs: Inputs | None = None) -> Inputs:
    """Read the image (unless already read) and, in benchmark mode, derive the protocol's LR and HR."""
    from engine import imageio

    if inputs is None:
        inputs = Inputs(imageio.read_image(path))
    if benchmark and inputs.lr is None:
        from engine.metrics.evaluate import prepare_pair

        # The evaluation protocol's pair: HR cropped to a multiple of 4, MATLAB-bicubic x1/4 LR.
        # Alpha is left out: benchmarks score colour only.
        hr, lr = prepare_pair(inputs.picture.rgb)
        pic = inputs.picture
        inputs = replace(
            inputs,
            lr=replace(pic, rgb=lr, alpha=None, path=None),
            reference=replace(pic, rgb=hr, alpha=None, path=None),
        )
    return inputs


def upscale_job(
    engine: Engine, path: Path, key: ResultKey, settings: RunSettings, inputs: Inputs | None
) -> Callable[[ProgressFn, CancelToken], Upscaled]:
    def run(progress: ProgressFn, cancel: CancelToken) -> Upscaled:
        engine.apply(settings)
        progress_msg(progress, f"Reading {path.name}")
        loaded = load_inputs(path, key.benchmark, inputs)
        check(cancel)
        up = engine.upscaler(key, settings, progress, cancel)
        picture = loaded.lr if key.benchmark else loaded.picture
        start = time.perf_counter()
        result = up.upscale_picture(picture, progress, cancel)
        seconds = time.perf_counter() - start
        return Upscaled(loaded, Output(key, result, seconds, up.info))

    return run


@dataclass
class MetricRequest:
    """One picture to score: no-reference metrics, plus fidelity to ``fp32`` and to ``reference`` if given."""

    name: str
    rgb: np.ndarray
    fp32: np.ndarray | None = None
    reference: np.ndarray | None = None
    want: tuple[str, ...] = ("NIQE", "PI", "PSNR to fp32", "PSNR-Y", "SSIM-Y")


def metrics_job(requests: list[MetricRequest], device: str = "auto") -> Callable[[ProgressFn, CancelToken], dict]:
    """Scores as ``{request name: {metric name: Metric}}``; a metric that cannot be computed says why."""

    def run(progress: ProgressFn, cancel: CancelToken) -> dict[str, dict[str, Metric]]:
        from engine.metrics import MetricUnavailable, get_iqa

        iqa = get_iqa(None if device == "auto" else device)
        calls: list[tuple[str, str, Callable[[], float]]] = []
        for r in requests:
            for name in r.want:
                fn = _metric_call(iqa, name, r)
                if fn is not None:
                    calls.append((r.name, name, fn))
        out: dict[str, dict[str, Metric]] = {r.name: {} for r in requests}
        tracker = ProgressTracker(progress, len(calls), "Computing metrics")
        for i, (source, name, fn) in enumerate(calls):
            check(cancel)
            tracker.update(i, f"{name} of {source}")
            try:
                out[source][name] = Metric(fn())
            except MetricUnavailable as err:
                out[source][name] = Metric(None, str(err))
            except MPSRError as err:
                out[source][name] = Metric(None, str(err))
        tracker.update(len(calls), "Metrics done")
        return out

    return run


def _metric_call(iqa, name: str, r: MetricRequest) -> Callable[[], float] | None:
    if name == "NIQE":
        return lambda: iqa.niqe(r.rgb)
    if name == "PI":
        return lambda: iqa.pi(r.rgb)
    if name == "PSNR to fp32" and r.fp32 is not None:
        return lambda: iqa.psnr_y(r.rgb, r.fp32)
    if name == "PSNR-Y" and r.reference is not None:
        return lambda: iqa.psnr_y(r.rgb, r.reference)
    if name == "SSIM-Y" and r.reference is not None:
        return lambda: iqa.ssim_y(r.rgb, r.reference)
    return None


def save_job(picture, target: Path, source: Path, quality: int) -> Callable[[ProgressFn, CancelToken], Path]:
    def run(progress: ProgressFn, cancel: CancelToken) -> Path:
        from engine import imageio

        progress_msg(progress, f"Saving {target.name}")
        check(cancel)
        return imageio.write_image(target, picture, quality=quality, protect=[source])

    return run


def fetch_metrics_job() -> Callable[[ProgressFn, CancelToken], list[Path]]:
    def run(progress: ProgressFn, cancel: CancelToken) -> list[Path]:
        from engine.metrics import fetch_metric_models

        return fetch_metric_models(progress, cancel)

    return run


def warmup_job() -> Callable[[ProgressFn, CancelToken], None]:
    """Import the engine (torch takes seconds) in the worker at start-up, not on the first click."""

    def run(progress: ProgressFn, cancel: CancelToken) -> None:
        progress_msg(progress, "Starting the engine")
        import engine.upscaler  # noqa: F401

    return run


def load_job(path: Path, benchmark: bool, inputs: Inputs | None) -> Callable[[ProgressFn, CancelToken], Inputs]:
    """Read an image for preview (and its benchmark pair) before anything is upscaled."""

    def run(progress: ProgressFn, cancel: CancelToken) -> Inputs:
        progress_msg(progress, f"Reading {path.name}")
        return load_inputs(path, benchmark, inputs)

    return run
