"""Dataset evaluation under the standard SR protocol, resumable, and the app's reference-free scores.

Protocol (recorded in every report as ``PROTOCOL``), at the model's own scale ``s`` (``ModelInfo.scale``):
- HR: the dataset image as 8-bit RGB, cropped at the bottom and right to a multiple of s.
- LR: MATLAB ``imresize(HR, 1/s)``, bicubic with antialiasing, through ``pyiqa.matlab_utils.imresize``
  (the same algorithm as BasicSR's ``imresize``), rounded to 8 bits as if saved as PNG.
- Bicubic baseline: MATLAB bicubic ``imresize(LR, s)``, rounded to 8 bits.
- Generator outputs: clipped to [0, 1] and rounded to 8 bits, as the saved PNG would be.
- Metrics (see :mod:`engine.metrics.iqa`): Y of BT.601 YCbCr, an ``s``-pixel border crop.
- Time: wall clock of the generator alone on each image, after one warm-up run.

The report JSON and its Markdown table are rewritten atomically after every finished row, so a killed or
cancelled run continues where it stopped and skips the rows it already has. Each write merges with the
report on disk under a folder lock, so runs of other precisions into the same report at the same time add
their rows instead of replacing each other's.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import files, imageio
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check
from engine.metrics import core, iqa, registry
from engine.metrics.core import to_8bit
from engine.metrics.report import (  # noqa: F401  (the report's API, also reachable from here)
    BICUBIC,
    FORMAT,
    PROTOCOL,
    Report,
    check_markdown_is_ours,
    check_same_run,
    load_report,
    markdown_path,
    parse_report,
)
from engine.quant.precision import FLOAT_KEY, PrecisionSpec, parse_precision
from engine.weights import load_model, sha256_file

ALL_METRICS = ("psnr", "ssim", "niqe", "pi")  # the default selection; any selectable registered metric may be asked


def check_metrics(metrics: Iterable[str]) -> list[str]:
    """``metrics`` in table order; an unknown one is a one-line error listing the known ones."""
    wanted = set(metrics)
    known = registry.selectable()
    if unknown := wanted - set(known):
        raise MPSRError(f"unknown metric(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return registry.in_order(wanted)


def _imresize(rgb: np.ndarray, *, scale: float | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    from pyiqa.matlab_utils import imresize

    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float64))[None]
    y = imresize(x, scale=scale, sizes=size, antialiasing=True)
    return to_8bit(y[0].permute(1, 2, 0).numpy())


def prepare_pair(rgb: np.ndarray, path: str | Path | None = None, *, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR) of the protocol for a x``scale`` model from a decoded image: 8-bit HR cropped to a multiple of
    ``scale``, bicubic 1/``scale`` LR."""
    hr = to_8bit(rgb)
    h, w = (s - s % scale for s in hr.shape[:2])
    if h == 0 or w == 0:
        raise MPSRError(f"image is smaller than {scale}x{scale} pixels", path)
    hr = np.ascontiguousarray(hr[:h, :w])
    return hr, _imresize(hr, scale=1 / scale)


def bicubic_baseline(lr: np.ndarray, *, scale: int) -> np.ndarray:
    """The protocol's bicubic baseline: ``lr`` enlarged ``scale`` times."""
    h, w = lr.shape[:2]
    return _imresize(lr, size=(h * scale, w * scale))


def _step(tracker: ProgressTracker, done: float, per_metric: float, label: str, i: int, metric: str) -> None:
    tracker.update(done + i * per_metric, f"{label}: {metric}")


def _row_done(row: dict[str, Any] | None, metrics: Iterable[str], ma_ready: bool) -> bool:
    if row is None or any(registry.get(m).row_key not in row for m in metrics):
        return False
    # A row scored while the Ma model was missing gets its PI once the model is there.
    return not ("pi" in metrics and ma_ready and not row.get("ma_model"))


def _config(dataset: Path, images: list[Path], model_spec: str, model_info, model_sha: str, precisions, metrics,
            tile: int, overlap: int) -> dict[str, Any]:
    return {
        "dataset": dataset.name,
        "dataset_dir": str(dataset.resolve()),
        "images": [p.name for p in images],
        "scale": model_info.scale,
        "model": str(model_spec),
        "model_name": model_info.display_name,
        "arch": model_info.arch,
        "model_sha256": model_sha,
        "fp32_size_bytes": model_info.size_bytes,
        "precisions": list(precisions),
        "metrics": list(metrics),
        "tile": tile,
        "overlap": overlap,
    }


def _resume(out: Path, config: dict[str, Any]) -> Report:
    check_markdown_is_ours(markdown_path(out), out)
    if not out.exists():
        return Report(config=config)
    old = load_report(out)
    check_same_run(old.config, config, out)
    # Precisions and metrics may grow between runs: rows are keyed by (method, image).
    config = {**config, "precisions": list(dict.fromkeys([*old.config["precisions"], *config["precisions"]]))}
    return Report(config=config, models=old.models, rows=old.rows, notes=[], complete=False)


def _forget_changed_files(report: Report, precisions: list[str]) -> None:
    """Drop the rows of precisions given as files (quantized artifacts) whose content is not what was scored."""
    for method in precisions:
        if not (parse_precision(method).is_file and Path(method).is_file()):
            continue
        digest = sha256_file(method)
        if report.models.get(method, {}).get("sha256") != digest:
            report.rows = [r for r in report.rows if r["method"] != method]
            report.discarded.add(method)
        report.models[method] = {**report.models.get(method, {}), "sha256": digest}


def evaluate(
    dataset_dir: str | Path,
    model_spec: str | Path,
    precisions: Iterable[PrecisionSpec | str],
    *,
    out: str | Path,
    tile: int | None = None,
    overlap: int | None = None,
    metrics: Iterable[str] | None = None,
    device: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Report:
    """Evaluate ``model_spec`` at each precision (plus bicubic) on every image of ``dataset_dir``.

    Writes the report JSON to ``out`` after every finished row; if ``out`` already holds rows of the
    same run, they are kept and skipped. Raises :class:`~engine.jobs.Cancelled` when cancelled
    (finished rows stay saved) and :class:`MPSRError` / :class:`ModelError` for unusable inputs.
    """
    from engine.upscaler import DEFAULT_OVERLAP, DEFAULT_TILE

    dataset, out = Path(dataset_dir), Path(out)
    precisions = list(dict.fromkeys(parse_precision(p).key for p in precisions)) or ["fp32"]
    metrics = check_metrics(ALL_METRICS if metrics is None else metrics)
    tile = DEFAULT_TILE if tile is None else tile
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    images = imageio.collect_inputs([dataset])
    files.check_writable(out)
    # Fails fast, before any work, when the model is missing (e.g. SRGAN not trained yet).
    _, model_info = load_model(model_spec)
    config = _config(dataset, images, str(model_spec), model_info, sha256_file(model_info.path), precisions, metrics,
                     tile, overlap)
    report = _resume(out, config)
    _forget_changed_files(report, precisions)
    methods = report.methods()
    scorer = iqa.get_iqa(device)
    ma_ready = iqa.ma_missing_message() is None
    if "pi" in metrics and not ma_ready:
        report.notes.append(iqa.ma_missing_message())

    def row_metrics(method: str) -> list[str]:
        extra = registry.fidelity() if method not in (BICUBIC, FLOAT_KEY) and FLOAT_KEY in methods else []
        return metrics + extra

    todo = [(img, m) for img in images for m in methods
            if not _row_done(report.row(m, img.name), row_metrics(m), ma_ready)]
    tracker = ProgressTracker(progress, len(todo), "evaluating")
    runner = _Runner(report, model_spec, scale=model_info.scale, tile=tile, overlap=overlap, device=device,
                     cancel=cancel)
    done = 0
    for image in images:
        pending = [m for img, m in todo if img == image]
        if not pending:
            continue
        check(cancel)
        hr, lr = prepare_pair(imageio.read_image(image).rgb, image, scale=model_info.scale)
        fp32_out = None
        for method in pending:
            if _row_done(report.row(method, image.name), row_metrics(method), ma_ready):
                done += 1  # scored meanwhile by another run writing to the same report
                continue
            tracker.update(done, f"{method} {image.name}: upscaling")
            sr, seconds = runner.infer(method, lr)
            wanted = row_metrics(method)
            if method == FLOAT_KEY:
                fp32_out = sr
            elif set(wanted) & set(registry.fidelity()) and fp32_out is None:
                tracker.update(done, f"{image.name}: fp32 reference")
                fp32_out = runner.infer(FLOAT_KEY, lr)[0]
            scores = core.score_pair(wanted, sr, hr, fp32_out, scorer, cancel,
                                     functools.partial(_step, tracker, done, 1 / max(len(wanted), 1),
                                                       f"{method} {image.name}"), scale=model_info.scale)
            row = {"method": method, "image": image.name, "size": [sr.shape[1], sr.shape[0]], "seconds": seconds,
                   "ma_model": ma_ready, **scores}
            report.put(row)
            report.save(out)
            done += 1
            tracker.update(done, f"{method} {image.name}")
    report.complete = True
    report.save(out)
    return report


class _Runner:
    """Upscalers of one evaluation, loaded on first use and warmed up once, and their timed inference."""

    def __init__(self, report: Report, model_spec: str | Path, *, scale: int, tile: int, overlap: int,
                 device: str | None, cancel: CancelToken | None) -> None:
        self.report, self.model_spec, self.device, self.cancel = report, model_spec, device, cancel
        self.bicubic = functools.partial(bicubic_baseline, scale=scale)
        self.tiling = {"tile": tile, "overlap": overlap}
        self.upscalers: dict[str, Any] = {}

    def _upscaler(self, method: str, lr: np.ndarray):
        from engine.upscaler import make_upscaler

        if method not in self.upscalers:
            from engine.quant.kernels import kernel_info

            up = make_upscaler(self.model_spec, method, **self.tiling, device=self.device, cancel=self.cancel)
            # int8 results depend on the CPU class (kernels.py): every report names the one it ran on.
            self.report.models[method] = {**self.report.models.get(method, {}), "size_bytes": up.info.size_bytes,
                                          "device": up.info.device, "display_name": up.info.display_name,
                                          "cpu": kernel_info().label}
            core.warm_up(functools.partial(up.upscale_array, cancel=self.cancel), lr)
            self.upscalers[method] = up
        return self.upscalers[method]

    def infer(self, method: str, lr: np.ndarray) -> tuple[np.ndarray, float]:
        """The 8-bit output of ``method`` and the seconds the upscaling itself took."""
        if method == BICUBIC:
            if BICUBIC not in self.upscalers:
                self.upscalers[BICUBIC] = self.bicubic  # after a warm-up of the resize's first call
                self.bicubic(lr[:8, :8])
            start = time.perf_counter()
            sr = self.bicubic(lr)
            return sr, time.perf_counter() - start
        up = self._upscaler(method, lr)
        return core.timed(functools.partial(up.upscale_array, cancel=self.cancel), lr)
