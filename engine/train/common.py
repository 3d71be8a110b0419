"""Pieces the training jobs share: the work folder, the learning-rate schedule, the data description."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from engine.errors import MPSRError

from .data import default_data_dir


def work_folder(out: Path, workdir: str | Path | None, restart: bool) -> Path:
    """Where checkpoints and the log live: ``workdir`` or ``<out>.work`` beside the artifact."""
    folder = Path(workdir) if workdir else out.with_name(out.name + ".work")
    if restart and folder.exists():
        shutil.rmtree(folder)
    return folder


def data_folder(data: str | Path | None) -> Path:
    if data:
        return Path(data)
    found = default_data_dir()
    if found is None:
        raise MPSRError("no training data: pass a folder of high-resolution photos (--data DIR)")
    return found


def cosine(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay to 1% of the initial rate: short CPU runs end on a small step, which helps PSNR."""
    base = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=base * 0.01)
