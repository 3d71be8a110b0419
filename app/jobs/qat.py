"""QAT retraining as a worker job, and its expected duration from one timed training step."""

from __future__ import annotations

from pathlib import Path

from app.jobs.device import job_device
from app.jobs.eta import about_text
from engine.jobs import CancelToken, Progress, ProgressFn

# train_qat's defaults: the step measured before a CPU run must be the step the run takes.
QAT_BATCH, QAT_PATCH = 8, 24


def qat_job(values: dict, device: str):
    def run(progress: ProgressFn, cancel: CancelToken) -> Path:
        from engine.train import run_qat

        return run_qat(values["model"], values["plan"], values["data"], values["steps"], values["out"],
                       progress, cancel, device=job_device(device))

    return run


def qat_estimate_job(values: dict, device: str):
    """The expected duration of a QAT run, from one training step timed on this machine."""

    def run(progress: ProgressFn, cancel: CancelToken) -> str:
        from engine.train import measure_step_seconds

        progress(Progress(0, 0, "measuring one training step"))
        step = measure_step_seconds(values["model"], values["plan"], batch=QAT_BATCH, patch=QAT_PATCH,
                                    device=job_device(device))
        steps = values["steps"]
        return f"{about_text(step * steps)} (measured: {step:.2f} s per step x {steps} steps)"

    return run
