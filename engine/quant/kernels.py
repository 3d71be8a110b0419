"""What the int8 kernels of this CPU can do, found at run time.

x86 CPUs without VNNI multiply uint8 activations by int8 weights with ``vpmaddubsw``, which adds each
pair of products into a saturating 16-bit sum: 255 * 127 + 255 * 127 does not fit, and the conv output
is silently wrong (FACTS.md: ESRGAN int8 at 26 dB to fp32 instead of 36). VNNI, AVX-VNNI and AMX sum into
32 bits. Which kernels oneDNN picks also depends on ``ONEDNN_MAX_CPU_ISA``, so the CPU flags alone do not
say it: :func:`kernel_info` runs one int8 conv whose pair sums overflow 16 bits and checks its result.
"""

from __future__ import annotations

import os
import platform
import warnings
from dataclasses import dataclass
from functools import lru_cache

import torch

ENGINE = "onednn"


@dataclass(frozen=True)
class KernelInfo:
    """The CPU class the quantized kernels run on, as the app, CLI, reports and benchmarks name it."""

    machine: str  # "x86_64", "arm64", ...
    isa: str  # e.g. "AVX-512 VNNI", "AVX2 (no VNNI)", "ARM64"
    int8: bool  # oneDNN int8 kernels are available
    saturates: bool  # its int8 kernels saturate 16-bit pair sums (measured, not read off the flags)
    isa_cap: str | None  # ONEDNN_MAX_CPU_ISA, when set

    @property
    def label(self) -> str:
        """One line, e.g. "x86_64 AVX2 (no VNNI), ONEDNN_MAX_CPU_ISA=AVX2: int8 pair sums saturate"."""
        cap = f", ONEDNN_MAX_CPU_ISA={self.isa_cap}" if self.isa_cap else ""
        if not self.int8:
            state = "no int8 kernels (quantized precisions run as fp32)"
        elif self.saturates:
            state = "int8 pair sums saturate 16 bits (guarded convs run exact)"
        else:
            state = "int8 kernels exact"
        return f"{self.machine} {self.isa}{cap}: {state}"

    def to_json(self) -> dict:
        return {"machine": self.machine, "isa": self.isa, "int8": self.int8, "saturates": self.saturates,
                "isa_cap": self.isa_cap, "label": self.label}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _isa_name(machine: str, flags: set[str]) -> str:
    if machine in ("arm64", "aarch64"):
        return "ARM64"
    if not flags:  # no /proc/cpuinfo (Windows, macOS): ATen's own dispatch level
        return torch.backends.cpu.get_cpu_capability()
    if "amx_int8" in flags:
        return "AMX"
    if "avx512_vnni" in flags:
        return "AVX-512 VNNI"
    if "avx_vnni" in flags:
        return "AVX-VNNI"
    if "avx512bw" in flags:
        return "AVX-512 (no VNNI)"
    if "avx2" in flags:
        return "AVX2 (no VNNI)"
    return "SSE4 (no VNNI)"


def _pair_sums_saturate() -> bool:
    """Run a 64->64 3x3 conv of the shape generators use, inputs all 255 and weights all 127.

    Exact: 64 * 9 * 255 * 127 per output. Saturating kernels cap every pair at 32767, about half of that.
    """
    import torch.ao.nn.quantized as nnq

    channels = 64
    exact = channels * 9 * 255 * 127
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notice for quantized tensors
        conv = nnq.Conv2d(channels, channels, 3)
        weight = torch._make_per_channel_quantized_tensor(
            torch.full((channels, channels, 3, 3), 127, dtype=torch.int8),
            torch.ones(channels, dtype=torch.float64), torch.zeros(channels, dtype=torch.int64), 0)
        conv.set_weight_bias(weight, None)
        conv.scale, conv.zero_point = exact / 200, 0
        x = torch._make_per_tensor_quantized_tensor(
            torch.full((1, channels, 8, 8), 255, dtype=torch.uint8), 1.0, 0
        ).contiguous(memory_format=torch.channels_last)
        got = conv(x).dequantize()
    return bool((got - exact).abs().max() > exact / 100)


@lru_cache(maxsize=1)
def kernel_info() -> KernelInfo:
    """This process's int8 kernel class (cached: the kernels cannot change once torch has started)."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    isa = _isa_name(machine, _cpu_flags())
    int8 = ENGINE in torch.backends.quantized.supported_engines
    saturates = False
    if int8:
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = ENGINE
        try:
            saturates = _pair_sums_saturate()
        except RuntimeError:  # an engine listed but unable to run a conv here
            int8 = False
        finally:
            torch.backends.quantized.engine = previous
    return KernelInfo(machine, isa, int8, saturates, os.environ.get("ONEDNN_MAX_CPU_ISA") or None)
