"""The engine calls the window makes, packaged as worker jobs ``fn(progress, cancel) -> result``.

Everything here runs in the worker thread. :class:`Engine` is the worker-side state (loaded
generators, thread count) and is only ever touched from that thread.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from app import imaging
from app.session import Inputs, Output, ResultKey
from engine.errors import MPSRError
from engine.jobs import CancelToken, Progress, ProgressFn, ProgressTracker, check
from engine.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

# Benchmark mode's protocol: the image downscaled by this much is the input, the image itself the reference.
BENCHMARK_SCALE = 4
# Loaded generators kept for reuse: switching back to an int8 model must not calibrate it again.
_CACHED_UPSCALERS = 3


@dataclass(frozen=True)
class RunSettings:
    device: str = "auto"  # "auto", "cpu" or "cuda"
    threads: int = 0  # 0: torch's default
    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP


# Not a metric's reason code (engine.metrics.MetricUnavailable has those): the scoring itself failed.
FAILED = "failed"


@dataclass
class Score:
    """One number for the metrics panel, or why there is none."""

    value: float | None
    reason: str = ""  # why value is None: the engine's one-line message
    code: str = ""  # why value is None: a MetricUnavailable reason code, or FAILED


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
        from engine.quant.precision import parse_precision
        from engine.upscaler import make_upscaler

        device = None if settings.device == "auto" else settings.device
        cache_key = (key.model, key.precision, device, settings.tile, settings.overlap)
        if cache_key in self._upscalers:
            self._upscalers.move_to_end(cache_key)
            return self._upscalers[cache_key]
        # Loading is a step of its own: a quantized precision is calibrated on first use (a minute for ESRGAN).
        spec = parse_precision(key.precision)  # once: make_upscaler takes the parsed spec as it is
        loading = in_step(progress, f"Loading {Path(key.model).name} at {spec.label}", "load")
        loading(Progress(0, 0))
        up = make_upscaler(
            key.model, spec, tile=settings.tile, overlap=settings.overlap, device=device,
            progress=loading, cancel=cancel,
        )
        self._upscalers[cache_key] = up
        while len(self._upscalers) > _CACHED_UPSCALERS:
            self._upscalers.popitem(last=False)
        return up


def progress_msg(progress: ProgressFn, message: str) -> None:
    """An indeterminate report (total 0): the bar shows 'busy' with this message."""
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
        hr, lr = prepare_pair(inputs.picture.rgb, scale=BENCHMARK_SCALE)
        pic = inputs.picture
        inputs = replace(
            inputs,
            lr=replace(pic, rgb=lr, alpha=None, path=None),
            reference=replace(pic, rgb=hr, alpha=None, path=None),
        )
    return inputs


def in_step(progress: ProgressFn, step: str, stage: str) -> ProgressFn:
    """``progress`` with every message put under ``step`` ("Loading ESRGAN at int8: calibrating") and
    ``info["stage"]`` set to ``stage`` ("load", "upscale") for the queue's status."""

    def report(p: Progress) -> None:
        message = f"{step}: {p.message}" if p.message else step
        progress(Progress(p.done, p.total, message, {**p.info, "stage": stage}, p.eta_s))

    return report


def upscale_job(
    engine: Engine, path: Path, key: ResultKey, settings: RunSettings, inputs: Inputs | None
) -> Callable[[ProgressFn, CancelToken], Upscaled]:
    def run(progress: ProgressFn, cancel: CancelToken) -> Upscaled:
        engine.apply(settings)
        progress_msg(progress, f"Reading {path.name}")
        loaded = load_inputs(path, key.benchmark, inputs)
        check(cancel)
        up = engine.upscaler(key, settings, progress, cancel)
        if key.benchmark and up.info.scale != BENCHMARK_SCALE:
            raise MPSRError(f"benchmark mode scores x{BENCHMARK_SCALE} generators; {up.info.display_name} upscales "
                            f"x{up.info.scale}: turn benchmark mode off to use it")
        picture = loaded.lr if key.benchmark else loaded.picture
        start = time.perf_counter()
        result = up.upscale_picture(picture, in_step(progress, "Upscaling", "upscale"), cancel)
        seconds = time.perf_counter() - start
        return Upscaled(loaded, Output(key, result, seconds, up.info))

    return run


@dataclass
class MetricRequest:
    """One picture to score with metrics of the engine's registry (:func:`app.compute.metric_requests` picks them),
    with the fp32 output and the ground truth they may compare with."""

    name: str
    rgb: np.ndarray
    fp32: np.ndarray | None = None
    reference: np.ndarray | None = None
    want: tuple[str, ...] = ()  # registry keys
    known: dict[str, Score] = field(default_factory=dict)  # scores it already has (PI reuses NIQE)
    label: str = ""  # for the status bar
    enlarge: str = ""  # "nearest" or "bicubic": score ``rgb`` enlarged x4 (done here, off the GUI thread)
    scale: int = 4  # of the generator that made it: the protocol shaves as many pixels off each border


def metrics_job(
    requests: list[MetricRequest], device: str = "auto", out: dict[str, dict[str, Score]] | None = None
) -> Callable[[ProgressFn, CancelToken], dict]:
    """Scores as ``{request name: {metric key: Score}}``; a metric that cannot be computed says why.

    Scores go into ``out`` as they are computed, so a cancelled job still leaves the ones it finished.
    """
    out = {} if out is None else out

    def run(progress: ProgressFn, cancel: CancelToken) -> dict[str, dict[str, Score]]:
        from engine.metrics import get_iqa, registry

        iqa = get_iqa(None if device == "auto" else device)
        calls = [(r, key) for r in requests for key in r.want]
        tracker = ProgressTracker(progress, len(calls), "Computing metrics")
        samples: dict[str, registry.Sample] = {}
        for i, (r, key) in enumerate(calls):
            check(cancel)
            metric = registry.get(key)
            tracker.update(i, f"{metric.label} of {r.label or r.name}")
            if r.name not in samples:
                samples[r.name] = _sample(r, iqa)
            out.setdefault(r.name, {})[key] = _score(samples[r.name], metric)
        tracker.update(len(calls), "Metrics done")
        return out

    return run


def _sample(r: MetricRequest, iqa):
    from engine.metrics import MetricUnavailable, registry

    rgb = imaging.enlarge(r.rgb, 4, r.enlarge).astype(np.float32) / 255.0 if r.enlarge else r.rgb
    sample = registry.Sample(rgb, hr=r.reference, fp32=r.fp32, scorer=iqa, crop=r.scale)
    for key, known in r.known.items():
        if known.value is not None:
            sample.remember(key, known.value)
        elif known.code != FAILED:  # a metric built on it is blank for the same reason
            sample.remember(key, MetricUnavailable(known.reason, reason=known.code))
    return sample


def _score(sample, metric) -> Score:
    from engine.metrics import MetricUnavailable

    try:
        return Score(metric.fields(sample.value(metric.key))[metric.row_key])
    except MetricUnavailable as err:
        return Score(None, str(err), err.reason)
    except MPSRError as err:
        return Score(None, str(err), FAILED)


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
        progress_msg(progress, "loading PyTorch")
        import engine.upscaler  # noqa: F401

    return run


def metrics_warmup_job() -> Callable[[ProgressFn, CancelToken], None]:
    """Import the metrics' library at start-up on the metrics thread, not beside the first upscale."""

    def run(progress: ProgressFn, cancel: CancelToken) -> None:
        from engine.metrics import preload

        preload()

    return run


def load_job(path: Path, benchmark: bool, inputs: Inputs | None) -> Callable[[ProgressFn, CancelToken], Inputs]:
    """Read an image for preview (and its benchmark pair) before anything is upscaled."""

    def run(progress: ProgressFn, cancel: CancelToken) -> Inputs:
        progress_msg(progress, f"Reading {path.name}")
        return load_inputs(path, benchmark, inputs)

    return run
