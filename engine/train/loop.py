"""The training loop every job shares: batches, steps, JSON-lines log, checkpoints, resume, progress, cancel.

A job (SRGAN pre-training, adversarial fine-tuning, QAT) supplies its stateful objects (modules and
optimizers), its config and one ``step``; this loop does the rest. The checkpoint holds every state dict
and the step count; batches depend only on ``(seed, step)``; so a run killed at any moment resumes from
its last checkpoint exactly as if it had not stopped, losing at most ``checkpoint_every`` steps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from engine import files
from engine.errors import MPSRError, WriteError
from engine.jobs import Cancelled, CancelToken, ProgressFn, ProgressTracker

from .data import PatchSampler
from .distributed import World

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
log = logging.getLogger(__name__)


class Job(Protocol):
    config: dict[str, Any]

    def stateful(self) -> Mapping[str, Any]:
        """Objects with ``state_dict``/``load_state_dict`` that make up the run's state."""

    def step(self, step: int, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """One optimisation step on this rank's share of the batch; returns losses to log."""


@dataclass(frozen=True)
class LoopSpec:
    steps: int
    batch: int
    checkpoint_every: int = 100
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.checkpoint_every < 1 or self.log_every < 1:
            raise MPSRError("steps, batch size and checkpoint/log intervals must be at least 1")


def _config_text(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def load_checkpoint(workdir: Path, job: Job) -> int:
    """Restore ``job`` from ``workdir``'s checkpoint; the step to continue from (0 without one)."""
    path = workdir / CHECKPOINT
    if not path.is_file():
        return 0
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged checkpoint must not be trusted, nor silently replaced
        raise MPSRError(f"cannot read the training checkpoint ({exc.__class__.__name__}); delete it or "
                        "start over with --restart", path) from None
    if saved.get("config") != _config_text(job.config):
        raise MPSRError("this work folder holds a checkpoint of a different training run; use another "
                        "work folder, or --restart to discard it", path)
    for name, obj in job.stateful().items():
        obj.load_state_dict(saved["state"][name])
    return int(saved["step"])


def save_checkpoint(workdir: Path, job: Job, step: int) -> None:
    state = {name: obj.state_dict() for name, obj in job.stateful().items()}
    payload = {"step": step, "config": _config_text(job.config), "state": state}
    files.write_atomic(workdir / CHECKPOINT, lambda tmp: torch.save(payload, tmp), what="the training checkpoint")


def read_log(path: Path) -> list[dict[str, Any]]:
    """The entries of a training log. A torn last line (power loss mid-write) is dropped with a warning;
    damage anywhere else is a one-line error."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise MPSRError(f"cannot read the training log ({err})", path) from None
    entries = []
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            if number == len(lines):
                log.warning("%s: dropped its last line, cut off by an interrupted write: %s", path, line[:80])
                break
            raise MPSRError(f"line {number} of the training log is damaged; delete the line or start over with "
                            "--restart", path) from None
        if not isinstance(entry, dict):
            raise MPSRError(f"line {number} of the training log is not a log entry", path)
        entries.append(entry)
    return entries


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be written again)."""
    if not path.is_file():
        return
    kept = [entry for entry in read_log(path) if entry.get("step", 0) <= step]
    files.write_text(path, "".join(json.dumps(entry) + "\n" for entry in kept), what="the training log")


def _append_log(path: Path, entry: dict[str, Any]) -> None:
    """Append one line; on a write error the log is left as it was (and a line torn by a crash is dropped
    on resume, see :func:`read_log`)."""
    before = path.stat().st_size if path.exists() else None
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    except OSError as err:
        with contextlib.suppress(OSError):
            if before is None:
                path.unlink()
            else:
                os.truncate(path, before)
        raise WriteError(f"cannot write the training log: {files.reason(err)}", path) from None


def run(
    job: Job,
    sampler: PatchSampler,
    spec: LoopSpec,
    workdir: str | Path,
    *,
    world: World | None = None,
    on_step: Callable[[int], None] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, float]:
    """Train ``job`` up to ``spec.steps`` steps, resuming from ``workdir``; returns the last losses.

    ``on_step(step)`` runs before each step (schedules, freezing observers). On cancel the state is
    checkpointed (so the run can resume) and :class:`Cancelled` is raised.
    """
    world = world or World()
    workdir = files.make_folder(workdir)
    files.check_writable(workdir / CHECKPOINT)
    files.clean_stale(workdir / CHECKPOINT)  # left by a run killed while saving
    start = load_checkpoint(workdir, job)
    log_path = workdir / LOG
    if world.is_main:
        _trim_log(log_path, start)
    lo, hi = world.share(spec.batch)
    # Counted from the resumed step, so the ETA reflects this session's speed.
    tracker = ProgressTracker(progress, spec.steps - start, "training")
    t0, done_here = time.monotonic(), 0
    losses: dict[str, float] = {}
    tracker.update(0, f"step {start}/{spec.steps}", step=start)
    for step in range(start, spec.steps):
        if cancel is not None and cancel.cancelled:
            if world.is_main:
                save_checkpoint(workdir, job, step)
            raise Cancelled(f"stopped at step {step}, checkpoint saved; run the same command again to resume")
        if on_step is not None:
            on_step(step)
        lr, hr = (t.to(world.device, memory_format=torch.channels_last) for t in sampler.batch(step, spec.batch, lo, hi))
        losses = job.step(step, lr, hr)
        if not all(math.isfinite(v) for v in losses.values()):
            raise MPSRError(f"training diverged at step {step + 1} (losses {losses}); lower the learning rate")
        done_here += 1
        finished = step + 1
        if world.is_main:
            rate = done_here / max(time.monotonic() - t0, 1e-9)
            if finished % spec.log_every == 0 or finished == spec.steps:
                entry = {"step": finished, **{k: round(v, 6) for k, v in losses.items()},
                         "steps_per_s": round(rate, 4), "patches_per_s": round(rate * spec.batch, 2),
                         "time": round(time.time(), 1)}
                _append_log(log_path, entry)
            if finished % spec.checkpoint_every == 0 or finished == spec.steps:
                save_checkpoint(workdir, job, finished)
            main_loss = next(iter(losses.values()))
            tracker.update(done_here, f"step {finished}/{spec.steps} loss {main_loss:.4f}", step=finished, **losses)
    world.barrier()
    return losses
