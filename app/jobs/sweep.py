"""A precision sweep as a worker job, and what is known of its length before it starts."""

from __future__ import annotations

from pathlib import Path

from app.jobs.eta import about_text
from app.jobs.kind import JobKind, Values, check_paths
from app.jobs.qat import QAT_BATCH, QAT_PATCH
from engine.errors import MPSRError
from engine.jobs import CancelToken, Progress, ProgressFn


def _run_args(values: Values) -> tuple[tuple, dict]:
    """run_sweep's and open_run's arguments: the estimate must describe the run it is asked about."""
    return ((values["model"], values["method"], values["data"], values["steps"], values["out"]),
            {"space": values["space"]})


def sweep_job(values: Values, device: str):
    def run(progress: ProgressFn, cancel: CancelToken) -> Path:
        from engine.sweep import run_sweep

        args, kwargs = _run_args(values)
        budget = None if values["budget"] is None else {"max_quality_loss": values["budget"]}
        return run_sweep(*args, progress, cancel, recommend=budget, **kwargs)

    return run


def sweep_estimate_job(values: Values, device: str):
    """What is known before a sweep starts: rows still to measure, images, and for QAT the training time.

    A folder the sweep would refuse (a sweep of another run in it) fails here, before the user is asked.
    """

    def run(progress: ProgressFn, cancel: CancelToken) -> str:
        from engine.sweep import open_run

        progress(Progress(0, 0, "counting the sweep's plans"))
        args, kwargs = _run_args(values)
        start = open_run(*args, **kwargs)
        rows = len(start.todo)
        done = len(start.plans) - rows
        reused = f" ({done} already measured in the output folder are reused)" if done else ""
        text = f"{rows} plans to measure{reused}, each on {len(start.images)} images"
        if rows == 0:
            return f"{text}; only the recommendation and the report are written again"
        if values["method"] != "qat":
            # engine.sweep gives no up-front PTQ estimate; the ETA appears once the first row has run.
            return (f"{text}; each plan is calibrated, then upscales and scores every image. The expected "
                    "duration shows as the ETA once the first plan has been measured")
        from engine.train import measure_step_seconds

        progress(Progress(0, 0, "measuring one training step"))
        step = measure_step_seconds(values["model"], "int8", batch=QAT_BATCH, patch=QAT_PATCH)
        training = step * values["steps"] * rows
        return (f"{text}; training alone takes {about_text(training)} (measured: {step:.2f} s per step x "
                f"{values['steps']} steps x {rows} plans), plus upscaling and scoring the images")

    return run


def sweep_resume_note(values: Values) -> str | None:
    """What an earlier sweep left in the output folder (run_sweep decides which of its rows are reused)."""
    from engine.sweep.store import FILE, load_sweep

    path = Path(values["out"]) / FILE
    if not path.is_file():
        return None
    try:
        rows = len(load_sweep(path).rows)
    except MPSRError:
        return None  # run_sweep reports what is wrong with it
    return f"Found a sweep with {rows} measured plans in {path.parent}: they are reused, only missing plans run."


def _always(device: str) -> bool:
    # Sweeps upscale and score on the CPU whatever the device setting (engine.sweep measures CPU latency),
    # so their jobs take the device setting only to fit JobKind.
    return True


SWEEP = JobKind(title="Sensitivity sweep", start_text="Run sweep", check=check_paths, warns=_always,
                estimate=sweep_estimate_job, job=sweep_job, resume_note=sweep_resume_note)
