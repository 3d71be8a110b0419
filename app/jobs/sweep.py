"""A precision sweep as a worker job, and what is known of its length before it starts."""

from __future__ import annotations

from pathlib import Path

from app.jobs.eta import about_text
from app.jobs.qat import QAT_BATCH, QAT_PATCH
from engine.errors import MPSRError
from engine.jobs import CancelToken, Progress, ProgressFn


def sweep_job(values: dict):
    def run(progress: ProgressFn, cancel: CancelToken) -> Path:
        from engine.sweep import run_sweep

        budget = None if values["budget"] is None else {"max_quality_loss": values["budget"]}
        return run_sweep(values["model"], values["method"], values["data"], values["steps"], values["out"],
                         progress, cancel, space=values["space"], recommend=budget)

    return run


def sweep_estimate_job(values: dict):
    """What is known before a sweep starts: rows still to measure, images, and for QAT the training time."""

    def run(progress: ProgressFn, cancel: CancelToken) -> str:
        from engine import imageio
        from engine.sweep import plans_for
        from engine.weights import load_model

        progress(Progress(0, 0, "counting the sweep's plans"))
        model = load_model(values["model"])[0]
        plans = plans_for(values["space"], model)
        done = _finished_rows(values, plans)
        rows = len(plans) - done
        images = len(imageio.collect_inputs([values["data"]]))
        reused = f" ({done} already measured in the output folder are reused)" if done else ""
        text = f"{rows} plans to measure{reused}, each on {images} images"
        if rows == 0:
            return f"{text}; only the recommendation and the report are written again"
        if values["method"] != "qat":
            # engine.sweep gives no up-front PTQ estimate; the ETA appears once the first row has run.
            return (f"{text}; each plan is calibrated, then upscales and scores every image. The expected "
                    "duration shows as the ETA once the first plan has been measured")
        from engine.train import measure_step_seconds

        progress(Progress(0, 0, "measuring one training step"))
        step = measure_step_seconds(model, "int8", batch=QAT_BATCH, patch=QAT_PATCH)
        training = step * values["steps"] * rows
        return (f"{text}; training alone takes {about_text(training)} (measured: {step:.2f} s per step x "
                f"{values['steps']} steps x {rows} plans), plus upscaling and scoring the images")

    return run


def _finished_rows(values: dict, plans: list[str]) -> int:
    """Rows of ``plans`` already in the output folder's sweep of the same method and steps."""
    from engine.sweep.store import FILE, load_sweep

    path = Path(values["out"]) / FILE
    if not path.is_file():
        return 0
    try:
        sweep = load_sweep(path)
    except MPSRError:
        return 0  # run_sweep itself reports the problem with this file
    steps = values["steps"] if values["method"] == "qat" else None
    if sweep.config.get("method") != values["method"] or sweep.config.get("steps") != steps:
        return 0
    return sum(sweep.row(p) is not None for p in plans)
