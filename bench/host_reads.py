"""Counting host reads: how often a piece of torch code reads a tensor value back into Python.

Instrumentation for bench/bench_qat_host_reads.py and the QAT test; the shipped backend does not need it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class _HostReads(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def host_reads(fn: Callable[[], object]) -> int:
    """How many tensor values ``fn()`` reads back into Python (``.item()``, ``if tensor:``).

    On CUDA each read waits for the GPU's queue to drain; on the CPU it is free, so this count (not a time)
    is how the CPU can check a training step for GPU stalls.
    """
    with _HostReads() as mode:
        fn()
    return mode.count
