"""QAT retraining as a worker job, and its expected duration from one timed training step."""

from __future__ import annotations

from pathlib import Path

from app.jobs.device import job_device, runs_on_cpu
from app.jobs.eta import about_text
from app.jobs.kind import JobKind, Values, check_paths
from engine.jobs import CancelToken, Progress, ProgressFn

# train_qat's defaults: the step measured before a CPU run must be the step the run takes.
QAT_BATCH, QAT_PATCH = 8, 24
ARTIFACT_SUFFIX = ".safetensors"


def qat_job(values: Values, device: str):
    def run(progress: ProgressFn, cancel: CancelToken) -> Path:
        from engine.train import run_qat

        return run_qat(values["model"], values["plan"], values["data"], values["steps"], values["out"],
                       progress, cancel, device=job_device(device))

    return run


def qat_estimate_job(values: Values, device: str):
    """The expected duration of a QAT run, from one training step timed on this machine."""

    def run(progress: ProgressFn, cancel: CancelToken) -> str:
        from engine.train import measure_step_seconds

        progress(Progress(0, 0, "measuring one training step"))
        step = measure_step_seconds(values["model"], values["plan"], batch=QAT_BATCH, patch=QAT_PATCH,
                                    device=job_device(device))
        steps = values["steps"]
        return f"{about_text(step * steps)} (measured: {step:.2f} s per step x {steps} steps)"

    return run


def qat_check(values: Values) -> str | None:
    if not values["plan"]:
        return "Choose a plan first (for example mixed or 16,8,8,16)."
    if values["out"] and Path(values["out"]).is_dir():
        return f"{values['out']} is a folder: choose a file name for the quantized generator."
    return check_paths(values)


def qat_resume_note(values: Values) -> str | None:
    from engine.train.loop import CHECKPOINT

    work = Path(values["out"] + ".work")
    if (work / CHECKPOINT).is_file():
        return f"Found a checkpoint in {work}: resuming from it."
    return None


QAT = JobKind(title="QAT retraining", start_text="Start QAT", check=qat_check, warns=runs_on_cpu,
              estimate=qat_estimate_job, job=qat_job, resume_note=qat_resume_note)
