"""Measuring sweep rows: quantize (PTQ) or train (QAT) one plan, run it on the dataset, score it.

One row = one plan. :func:`measure_row` is a plain function of a picklable :class:`Job`, so the same
code runs in this process or in worker processes (:func:`run_rows` with ``workers > 1``). Each
process keeps the float model, the dataset's HR/LR pairs and the calibration patches in memory across
rows. The fp32 outputs every other row is compared with are cached on disk (uint8, exact) so workers
and later runs share them.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import math
import multiprocessing as mp
import queue as queue_mod
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from engine import imageio
from engine.files import write_atomic
from engine.jobs import Cancelled, CancelToken, Progress, check
from engine.metrics import core, registry
from engine.metrics.evaluate import prepare_pair
from engine.quant import CalibrationSpec, calibration_images, parse_plan, quantize, save_artifact
from engine.upscaler import Upscaler, UpscalerInfo
from engine.weights import load_model

from .store import row_key

RowProgress = Callable[[float, str], None]
QAT_RANGES = "fixed"

# Share of a row's progress bar spent before inference (calibration is quick, QAT training is not).
_PREP_SHARE = {"ptq": 0.2, "qat": 0.8}
_METRIC_KEYS = tuple(registry.row_fields())


@dataclass(frozen=True)
class Job:
    """What every row of one sweep shares; picklable, so it travels to worker processes."""

    model: str
    method: str
    steps: int | None
    dataset_id: str
    images: tuple[str, ...]
    metrics: tuple[str, ...]  # keys of engine.metrics.registry
    calib: CalibrationSpec
    train_data: str  # QAT training images (a folder; never the evaluation set)
    cache_dir: str
    tile: int
    overlap: int


class _State:
    """Per-process data of one job, loaded once."""

    def __init__(self, job: Job) -> None:
        self.model, self.info = load_model(job.model)
        self.pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.calib: list[np.ndarray] | None = None

    def pair(self, job: Job, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self.pairs:
            path = job.images[i]
            self.pairs[i] = prepare_pair(imageio.read_image(path).rgb, path, scale=self.info.scale)
        return self.pairs[i]


_states: dict[Job, _State] = {}


def _state(job: Job) -> _State:
    if job not in _states:
        _states.clear()  # one sweep per process at a time; don't keep an old model alive
        _states[job] = _State(job)
    return _states[job]


def _fp32_path(job: Job, i: int) -> Path:
    return Path(job.cache_dir) / "fp32" / f"{i:04d}-{Path(job.images[i]).stem}.npy"


def _save_fp32(job: Job, i: int, sr: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, imageio.to_uint8(sr))

    write_atomic(_fp32_path(job, i), write)


def fp32_output(job: Job, i: int, cancel: CancelToken | None = None) -> np.ndarray:
    """The 8-bit fp32 output of image ``i`` (from the cache; recomputed and cached if it is missing)."""
    path = _fp32_path(job, i)
    try:
        return np.load(path).astype(np.float32) / 255.0
    except (OSError, ValueError):
        pass
    state = _state(job)
    up = _upscaler(job, state.model.to(memory_format=torch.channels_last), state, "fp32")
    sr = core.to_8bit(up.upscale_array(state.pair(job, i)[1], cancel=cancel))
    _save_fp32(job, i, sr)
    return sr


def _upscaler(job: Job, module: torch.nn.Module, state: _State, plan: str) -> Upscaler:
    info = UpscalerInfo(name=job.model, display_name=state.info.display_name, arch=state.info.arch,
                        precision=plan, size_bytes=0, device="cpu", scale=state.info.scale)
    return Upscaler(module, info=info, tile=job.tile, overlap=job.overlap)


def _file_bytes(write: Callable[[Path], Any]) -> int:
    with tempfile.TemporaryDirectory(prefix="mpsr-sweep-") as tmp:
        path = Path(tmp) / "model.safetensors"
        write(path)
        return path.stat().st_size


def _float_bytes(model: torch.nn.Module) -> int:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return _file_bytes(lambda p: safetensors.torch.save_file(state, str(p), metadata={"format": "pt"}))


def _train_qat(model, plan, job: Job, progress, cancel):
    from engine.train import train_qat  # the training stack is only imported by QAT sweeps

    # Activation ranges calibrated on the same patches as the PTQ rows, so a QAT row starts from its PTQ row.
    return train_qat(model, plan, data=job.train_data, steps=job.steps, ranges=QAT_RANGES, calib=job.calib.source,
                     progress=progress, cancel=cancel)


def _build(job: Job, state: _State, plan_text: str, report: RowProgress, cancel) -> tuple[torch.nn.Module, int]:
    """The runnable generator of a plan and its size in bytes as shipped."""
    plan = parse_plan(plan_text)
    if plan.is_float:
        return state.model.to(memory_format=torch.channels_last), _float_bytes(state.model)
    share = _PREP_SHARE[job.method]

    def prep(p: Progress) -> None:
        report(share * p.fraction, f"{plan_text}: {p.message or job.method}")

    if job.method == "ptq":
        if state.calib is None:
            state.calib = calibration_images(job.calib, cancel=cancel, scale=state.info.scale)
        qmodel = quantize(state.model, plan, calib=state.calib, progress=prep, cancel=cancel)
    else:
        qmodel = _train_qat(state.model, plan, job, prep, cancel)
    card = {"name": f"sweep-{plan.name}", "method": job.method}
    return qmodel, _file_bytes(lambda p: save_artifact(qmodel, p, card))


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def measure_row(job: Job, plan_text: str, report: RowProgress | None = None,
                cancel: CancelToken | None = None) -> dict[str, Any]:
    """Quantize/train ``plan_text``, run it on every image of the job and return the finished row."""
    report = report or (lambda fraction, message: None)
    start = time.perf_counter()
    state = _state(job)
    plan = parse_plan(plan_text)
    report(0.0, f"{plan_text}: preparing")
    module, size = _build(job, state, plan_text, report, cancel)
    up = _upscaler(job, module, state, plan_text)
    infer = functools.partial(up.upscale_array, cancel=cancel)
    core.warm_up(infer, state.pair(job, 0)[1])
    share = 0.0 if plan.is_float else _PREP_SHARE[job.method]

    def pairs():
        for i, path in enumerate(job.images):
            report(share + (1 - share) * i / len(job.images), f"{plan_text}: {Path(path).name}")
            yield (Path(path).name, *state.pair(job, i))

    reference = None if plan.is_float else (lambda i, lr: fp32_output(job, i, cancel))
    images, unavailable = [], {}
    for i, (row, sr) in enumerate(core.score_rows(infer, pairs(), job.metrics, fp32=reference, scale=state.info.scale,
                                                      cancel=cancel)):
        if plan.is_float:
            _save_fp32(job, i, sr)
        for metric, reason in row.pop("unavailable", {}).items():
            unavailable.setdefault(metric, f"{reason} ({row['image']})")
        images.append({"image": row["image"], "seconds": row["seconds"],
                       **{k: _finite(row.get(k)) for k in _METRIC_KEYS}})
    means = {k: _mean([im[k] for im in images]) for k in _METRIC_KEYS}
    seconds = [im["seconds"] for im in images]
    report(1.0, f"{plan_text}: done")
    return {
        "key": row_key(plan_text, job.method, job.steps, job.dataset_id),
        "plan": plan_text,
        "plan_name": plan.name,
        "method": job.method,
        "steps": job.steps,
        "dataset_id": job.dataset_id,
        "measured": True,
        "kind": "measured",
        "estimate": None,
        "size_bytes": size,
        "latency_s": statistics.median(seconds),
        "seconds_total": sum(seconds),
        **means,
        "unavailable": unavailable,
        "images": images,
        "threads": torch.get_num_threads(),
        "wall_s": time.perf_counter() - start,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# -- worker processes ---------------------------------------------------------------------------------

class _EventToken(CancelToken):
    """A cancel token backed by a multiprocessing event, so the parent can cancel rows in workers."""

    def __init__(self, event) -> None:
        self._event = event


_worker: dict[str, Any] = {}


def _init_worker(threads: int, event, reports) -> None:
    torch.set_num_threads(threads)
    _worker.update(cancel=_EventToken(event), reports=reports)


def _worker_measure(job: Job, plan_text: str, index: int) -> dict[str, Any]:
    reports = _worker["reports"]
    return measure_row(job, plan_text, lambda f, m: reports.put((index, f, m)), _worker["cancel"])


def run_rows(
    job: Job,
    plans: list[str],
    on_row: Callable[[dict[str, Any]], None],
    report: Callable[[float, str], None],
    cancel: CancelToken | None = None,
    workers: int = 1,
) -> None:
    """Measure ``plans``, calling ``on_row`` with each finished row (in the calling process, in finishing order).

    ``report(rows_done, message)`` gets fractional progress (finished rows plus the parts of rows in flight).
    With ``workers > 1`` rows run in that many spawned processes, each with its share of the CPU threads.
    Raises :class:`Cancelled` after the rows in flight stop; rows finished before stay delivered.
    """
    if workers <= 1 or len(plans) <= 1:
        for i, plan in enumerate(plans):
            check(cancel)
            on_row(measure_row(job, plan, lambda f, m, i=i: report(i + f, m), cancel))
        return
    ctx = mp.get_context("spawn")  # fork is unsafe with torch's thread pools (and with a GUI's threads)
    event, reports = ctx.Event(), ctx.Queue()
    threads = max(1, torch.get_num_threads() // workers)
    workers = min(workers, len(plans))
    done, flight, ended, message = 0, {}, set(), ""
    failure: BaseException | None = None
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(threads, event, reports)) as pool:
        index_of = {pool.submit(_worker_measure, job, plan, i): i for i, plan in enumerate(plans)}
        pending = set(index_of)
        try:
            while pending:
                finished, pending = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                if cancel is not None and cancel.cancelled and not event.is_set():
                    event.set()
                    for fut in pending:
                        fut.cancel()
                while True:
                    try:
                        index, fraction, message = reports.get_nowait()
                    except queue_mod.Empty:
                        break
                    if index not in ended:  # a report can arrive after its row's result
                        flight[index] = fraction
                for fut in finished:
                    ended.add(index_of[fut])
                    flight.pop(index_of[fut], None)
                    try:
                        row = fut.result()
                    except (Cancelled, cf.CancelledError):
                        continue
                    except BaseException as err:  # noqa: BLE001 - re-raised once the pool has stopped
                        failure = failure or err
                        event.set()
                        for other in pending:
                            other.cancel()
                        continue
                    on_row(row)
                    done += 1
                report(done + sum(flight.values()), message)
        except BaseException:
            event.set()
            raise
    if failure is not None:
        raise failure
    check(cancel)
