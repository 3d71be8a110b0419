"""Which device a long job runs on, as the settings name it."""

from __future__ import annotations


def cuda_available() -> bool:
    import torch  # only when asked: the window starts without torch

    return torch.cuda.is_available()


def job_device(device: str) -> str | None:
    """The settings' device for an engine call: None lets the engine pick (CUDA when present)."""
    return None if device == "auto" else device


def runs_on_cpu(device: str) -> bool:
    return device == "cpu" or (device == "auto" and not cuda_available())
