"""Polyphase form of a "same" convolution with few output channels and a large kernel.

oneDNN runs a conv with 3 output channels (SRGAN's 9x9 64->3 tail) at a fraction of its usual
throughput. Splitting input and output into their 2x2 pixel phases turns it into a conv on a
half-size image with 4x the channels on both sides and a 5x5 kernel: the same products, summed in
another order, on a shape oneDNN runs ~3x faster (measured in docs/quant.md).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

PHASES = 2


def applicable(weight: torch.Tensor, stride, padding, dilation, groups) -> bool:
    out_channels, _, kh, kw = weight.shape
    return (
        tuple(stride) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1
        and kh == kw and kh >= 5 and kh % 2 == 1 and tuple(padding) == (kh // 2, kw // 2)
        and out_channels * PHASES * PHASES <= 16
    )


def weight(w: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The polyphase kernel of a "same" conv weight, and the padding it runs with."""
    r = PHASES
    out_c, in_c, k, _ = w.shape
    pad = k // 2
    lo, hi = (-pad) // r, (r - 1 + k - 1 - pad) // r
    if -lo != hi:
        raise ValueError("polyphase padding is asymmetric for this kernel")
    size = hi - lo + 1
    w2 = torch.zeros(out_c, r, r, r, r, in_c, size, size, dtype=w.dtype)
    for i in range(r):
        for j in range(r):
            for dy in range(k):
                a = i + dy - pad
                for dx in range(k):
                    b = j + dx - pad
                    w2[:, i, j, a % r, b % r, :, a // r - lo, b // r - lo] += w[:, :, dy, dx]
    # out channel (o, i, j) matches pixel_shuffle; in channel (phase_y, phase_x, c) matches unshuffle() below
    return w2.reshape(out_c * r * r, r * r * in_c, size, size), hi


def unshuffle(x: torch.Tensor) -> torch.Tensor:
    """Pixel-unshuffle with channel order (phase_y, phase_x, c): one copy of 256-byte runs from NHWC."""
    r = PHASES
    n, c, h, w = x.shape
    nhwc = x.permute(0, 2, 3, 1).reshape(n, h // r, r, w // r, r, c)
    return nhwc.permute(0, 1, 3, 2, 4, 5).reshape(n, h // r, w // r, r * r * c).permute(0, 3, 1, 2)


def conv(x: torch.Tensor, w2: torch.Tensor, bias: torch.Tensor, pad: int) -> torch.Tensor:
    """The original conv's output, computed in polyphase form (``x``'s height and width must be even)."""
    z = F.conv2d(unshuffle(x), w2, bias.repeat_interleave(PHASES * PHASES), padding=pad)
    return F.pixel_shuffle(z, PHASES)
