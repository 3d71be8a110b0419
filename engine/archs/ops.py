"""Tensor ops as modules, so a quantization backend can swap them for integer-aware versions.

Residual adds and concatenations written as plain ``+``/``torch.cat`` are invisible to
module-level quantization; as modules they are ordinary children that can be replaced.
"""

from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    """``a + scale * b``."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b if self.scale == 1.0 else a + b * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class Cat(nn.Module):
    """Concatenate along channels."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class Upsample2x(nn.Module):
    """Nearest-neighbour x2, as ESRGAN's upsampling stage uses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=2, mode="nearest")
