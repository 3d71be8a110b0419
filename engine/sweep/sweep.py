"""``run_sweep``: measure a plan space on a dataset, persist each row, recommend under a budget, report."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from engine import __version__, files, imageio
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn, ProgressTracker
from engine.metrics import iqa
from engine.metrics.evaluate import ALL_METRICS, PROTOCOL, check_metrics
from engine.quant import CalibrationSpec
from engine.quant.backend import DEFAULT_OBSERVER
from engine.quant.calib import SAMPLES_DIR
from engine.upscaler import DEFAULT_OVERLAP, DEFAULT_TILE
from engine.weights import load_model, sha256_file

from . import recommend as rec
from .plans import FP32, INT8, MIXED, SPACES, plans_for, protected_units, unit_of
from .report import write_report
from .runner import QAT_RANGES, Job, run_rows
from .store import DEFINITIONS, FILE, Sweep, open_sweep

METHODS = ("ptq", "qat")


def _calib_spec(calib: str | Path | CalibrationSpec | None) -> CalibrationSpec:
    return calib if isinstance(calib, CalibrationSpec) else CalibrationSpec(None if calib is None else str(calib))


def _digests(paths: Iterable[Path]) -> dict[str, Path]:
    return {sha256_file(p): p for p in paths}


def _check_disjoint(eval_digests: Mapping[str, Path], source: Path) -> None:
    """Calibration/QAT images must not include any evaluation image (compared by content, not by name)."""
    for digest, path in _digests(imageio.collect_inputs([source])).items():
        if digest in eval_digests:
            raise MPSRError(
                f"is also in the evaluation set ({eval_digests[digest].name}); calibrate and train on other images",
                path,
            )


def _dataset_id(images: list[Path], digests: Mapping[str, Path]) -> str:
    by_path = {p: d for d, p in digests.items()}
    text = "\n".join(f"{p.name}:{by_path[p]}" for p in images)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _validate(method: str, steps: Any, space: str, metrics: Iterable[str]) -> tuple[int | None, list[str]]:
    if method not in METHODS:
        raise MPSRError(f"unknown sweep method {method!r}; choose from {', '.join(METHODS)}")
    if space not in SPACES:
        raise MPSRError(f"unknown sweep space {space!r}; choose from {', '.join(SPACES)}")
    if method == "qat" and (not isinstance(steps, int) or steps < 1):
        raise MPSRError(f"QAT sweeps need steps >= 1 per row, got {steps!r}")
    return (steps if method == "qat" else None), check_metrics(metrics)


@dataclass
class SweepRun:
    """Where a sweep into a folder starts: the stored sweep it resumes (or a new one) and the plans of its space."""

    path: Path
    sweep: Sweep
    plans: list[str]
    images: list[Path]
    job: Job

    @property
    def todo(self) -> list[str]:
        """The plans without a reusable row: the ones a run measures."""
        return [p for p in self.plans if self.sweep.row(p) is None]


def open_run(
    model: str | Path,
    method: str,
    data: str | Path,
    steps: int | None,
    out: str | Path,
    *,
    space: str = "stages",
    calib: str | Path | CalibrationSpec | None = None,
    metrics: Iterable[str] = ALL_METRICS,
    tile: int | None = None,
    overlap: int | None = None,
) -> SweepRun:
    """What :func:`run_sweep` with these arguments starts from, measuring and writing nothing.

    The one resume rule: rows of the sweep already in ``out`` are reused when it is of the same run (model,
    dataset, method, steps, calibration, metrics, tiling); a sweep of another run is refused with a one-line
    :class:`MPSRError`, as is any bad argument. What the app shows before a sweep comes from here too.
    """
    method = str(method).lower()
    steps, metrics = _validate(method, steps, space, metrics)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MPSRError("the sweep output must be a folder", out)
    images = imageio.collect_inputs([data])
    float_model, info = load_model(model)  # fails fast when the model is missing
    spec = _calib_spec(calib)
    source = Path(spec.source) if spec.source is not None else SAMPLES_DIR
    eval_digests = _digests(images)
    _check_disjoint(eval_digests, source)
    dataset_id = _dataset_id(images, eval_digests)
    tile = DEFAULT_TILE if tile is None else tile
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    config = {
        "model": str(model),
        "model_name": info.display_name,
        "arch": info.arch,
        "arch_config": dict(info.config),
        "model_sha256": sha256_file(info.path),
        "method": method,
        "steps": steps,
        **({"qat_ranges": QAT_RANGES} if method == "qat" else {}),
        "dataset": Path(data).name,
        "dataset_dir": str(Path(data).resolve()),
        "dataset_id": dataset_id,
        "images": [p.name for p in images],
        "calib": spec.key,
        "calibration": {**spec.to_json(), **({"used_for": "PTQ calibration", "observer": DEFAULT_OBSERVER}
                                             if method == "ptq" else
                                             {"used_for": "QAT training data and fixed activation ranges"})},
        "metrics": metrics,
        "tile": tile,
        "overlap": overlap,
        "device": "cpu",
        "spaces": [space],
        "runs": [],
        "mpsr_version": __version__,
        "protocol": PROTOCOL,
    }
    path = out / FILE
    job = Job(model=str(info.path), method=method, steps=steps, dataset_id=dataset_id,
              images=tuple(str(p.resolve()) for p in images), metrics=tuple(metrics), calib=spec,
              train_data=str(source), cache_dir=str(out / ".cache"), tile=tile, overlap=overlap)
    return SweepRun(path, open_sweep(path, config), plans_for(space, float_model), images, job)


def run_sweep(
    model: str | Path,
    method: str,
    data: str | Path,
    steps: int | None,
    out: str | Path,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    *,
    space: str = "stages",
    recommend: rec.Budget | Mapping[str, Any] | None = None,
    workers: int = 1,
    calib: str | Path | CalibrationSpec | None = None,
    metrics: Iterable[str] = ALL_METRICS,
    tile: int | None = None,
    overlap: int | None = None,
) -> Path:
    """Measure every plan of ``space`` (plus fp32 and the paper's mixed) on the HR images in ``data``.

    ``model``: "esrgan", "srgan" or a weights file. ``method``: "ptq" (calibrated on ``calib``) or "qat"
    (``steps`` training steps per row on ``calib``); ``calib`` is a folder/glob or a
    :class:`CalibrationSpec`, default the bundled samples, and may not share an image with ``data``.
    ``space``: "stages" (15 int8 subsets), "grid" (81 plans over fp32/int16/int8) or "blocks" (all int8
    with one unit at 16 bits, per unit). ``recommend``: a :class:`Budget` (or its fields as a mapping);
    the choice and any plan measured to check it land in the report. ``workers > 1`` measures rows in
    that many processes. Writes ``out``/sweep.json after every row (a rerun skips the rows :func:`open_run`
    finds reusable), then sweep.md and PNG plots; returns the JSON path. Raises
    :class:`~engine.jobs.Cancelled` when cancelled.
    """
    started, clock = datetime.now(UTC), time.perf_counter()
    if not isinstance(workers, int) or workers < 1:
        raise MPSRError(f"workers must be a whole number >= 1, got {workers!r}")
    budget = rec.Budget.from_any(recommend) if recommend is not None else None
    start = open_run(model, method, data, steps, out, space=space, calib=calib, metrics=metrics, tile=tile,
                     overlap=overlap)
    files.check_writable(start.path)
    out, path, sweep, job = start.path.parent, start.path, start.sweep, start.job
    if "pi" in job.metrics and (missing := iqa.ma_missing_message()):
        sweep.notes.append(missing)
    todo = start.todo
    tracker = ProgressTracker(progress, len(todo), f"sweep {space}")
    counter = {"done": 0, "measured": 0}

    def on_row(row: dict[str, Any]) -> None:
        sweep.put(row)
        sweep.save(path)
        counter["measured"] += 1

    def run(plans: list[str], n_workers: int = 1) -> None:
        base = counter["done"]
        run_rows(job, plans, on_row, lambda x, msg: tracker.update(base + x, msg), cancel, n_workers)
        counter["done"] = base + len(plans)

    # fp32 first and here: every other row is compared with the outputs it caches.
    if FP32 in todo:
        run([FP32])
    run([p for p in todo if p != FP32], workers)
    if budget is not None:
        sweep.recommendations = _recommend(sweep, budget, job, tracker, counter, on_row, cancel)
    sweep.config["runs"].append({
        "started": started.isoformat(timespec="seconds"), "space": space, "workers": workers,
        "threads": torch.get_num_threads(), "rows_measured": counter["measured"],
        "elapsed_s": round(time.perf_counter() - clock, 2),
    })
    sweep.complete = True
    sweep.files = write_report(sweep, out)
    sweep.save(path)
    return path


def _measure_estimated(plan: str, estimate: dict[str, Any], job: Job, tracker: ProgressTracker,
                       counter: dict[str, int], on_row, cancel) -> None:
    tracker.total += 1
    base = counter["done"]

    def mark(row: dict[str, Any]) -> None:
        on_row({**row, "kind": "estimated_then_measured", "estimate": estimate})

    run_rows(job, [plan], mark, lambda x, msg: tracker.update(base + x, f"checking recommendation {msg}"), cancel)
    counter["done"] = base + 1


def _recommend(sweep: Sweep, budget: rec.Budget, job: Job, tracker: ProgressTracker, counter: dict[str, int],
               on_row, cancel: CancelToken | None) -> dict[str, Any]:
    reference = sweep.row(FP32)
    result: dict[str, Any] = {"budget": budget.to_json(), "quality_loss": DEFINITIONS["quality_loss_db"]}
    try:
        result["stage"] = rec.recommend_stage(sweep.rows, reference, budget)
    except MPSRError as err:
        result["stage"] = {"error": str(err)}
    if not any(unit_of(r["plan"]) for r in sweep.rows):
        result["block"] = {"skipped": "no per-block rows in this sweep: run it with space 'blocks'"}
    else:
        try:
            result["block"] = _recommend_blocks(sweep, budget, reference, job, tracker, counter, on_row, cancel)
        except MPSRError as err:
            result["block"] = {"error": str(err)}
    result["presets"] = {name: {"plan": plan, **rec.figures(sweep.row(plan), reference)}
                         for name, plan in (("fp32", FP32), ("int8", INT8), ("mixed", MIXED)) if sweep.row(plan)}
    return result


def _recommend_blocks(sweep: Sweep, budget: rec.Budget, reference: dict[str, Any], job: Job,
                      tracker: ProgressTracker, counter: dict[str, int], on_row, cancel) -> dict[str, Any]:
    model = rec.block_model(sweep.rows, reference)
    tried, found, failure = [], None, None
    try:
        candidates = rec.block_candidates(model, budget)[: rec.MAX_CHECKS]
    except MPSRError as err:
        candidates, failure = [], str(err)
    for units, plan, estimate in candidates:
        fresh = sweep.row(plan) is None
        if fresh:
            _measure_estimated(plan, estimate, job, tracker, counter, on_row, cancel)
        measured = rec.figures(sweep.row(plan), reference)
        misses = budget.misses(measured)
        tried.append({"plan": plan, "units": units, "estimate": estimate, "measured": measured,
                      "row": "measured for this check" if fresh else "already measured in the sweep",
                      "meets_budget": not misses, "misses": misses})
        if not misses:
            kind = "estimated_then_measured" if fresh else "estimated; the plan was already a measured row"
            found = {"plan": plan, "units": units, "kind": kind, "estimate": estimate,
                     "measured": measured, "probes": len(model.units), "tried": tried}
            break
    best = rec.best_measured_block(sweep.rows, reference, budget)
    if best is not None:
        figures = rec.figures(best, reference)
        if found is None or budget.rank(figures) < budget.rank(found["measured"]):
            return {"plan": best["plan"], "units": protected_units(best["plan"]), "kind": "measured",
                    "why": "the best measured per-block row; it ranks above the greedy estimate's plan",
                    "measured": figures, "probes": len(model.units), "tried": tried}
    if found is not None:
        return found
    if failure is not None:
        raise MPSRError(failure)
    return {"error": f"the {len(tried)} best estimated per-block plan(s) missed the budget ({budget.describe()}) "
                     f"when measured: {'; '.join(', '.join(t['misses']) for t in tried)}", "tried": tried}
