"""Pieces the training jobs share: the work folder, the learning-rate schedule, the data description, bf16."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import torch

from engine.errors import MPSRError

from .data import default_data_dir


# What the training loop writes into a work folder (and a checkpoint's temporary file)
_WORK_FILES = re.compile(r"(checkpoint\.pt|log\.jsonl|\.(checkpoint\.pt|log\.jsonl)\..*\.part)")


def work_folder(out: Path, workdir: str | Path | None, restart: bool) -> Path:
    """Where checkpoints and the log live: ``workdir`` or ``<out>.work`` beside the artifact.

    ``restart`` empties it, but only of what training writes there: a folder holding anything else (say,
    ``--workdir`` pointed at the photos) is refused rather than deleted.
    """
    folder = Path(workdir) if workdir else out.with_name(out.name + ".work")
    if restart and folder.exists():
        if not folder.is_dir():
            raise MPSRError("the work folder is a file", folder)
        others = [p.name for p in folder.iterdir() if not _WORK_FILES.fullmatch(p.name)]
        if others:
            raise MPSRError(f"--restart would delete a folder that holds more than training state (e.g. "
                            f"{others[0]}); give another --workdir", folder)
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


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware (AVX512-BF16 on x86 CPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.cpu._is_avx512_bf16_supported()


def bf16_autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """bfloat16 autocast for the forward passes (weights, optimiser and loss stay fp32).

    Refuses a device without native bf16: emulated bf16 is slower than fp32, which defeats the option.
    """
    if enabled and not native_bf16(device):
        raise MPSRError(f"bf16 training: {device.type} here has no native bfloat16 arithmetic; drop --bf16")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
