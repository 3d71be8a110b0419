"""int8 convs that stay right on CPUs whose kernels saturate 16-bit pair sums (see kernels.py).

Without VNNI, oneDNN adds the products of each two adjacent input channels, ``x[2k] * w[2k] + x[2k+1] *
w[2k+1]`` (uint8 activations, int8 weights), into a saturating 16-bit sum. Whether that overflows depends
on the weights and on the activations a conv actually gets, so each int8 conv of a generator gets a
*headroom*: the largest such pair sum over every input seen on calibration photos, over 32767. On a
saturating CPU a conv whose headroom reaches :data:`LIMIT` runs its exact int8 arithmetic in fp32
(``Int8Conv2d.exact``); the others keep the int8 kernels. Convs that read the image itself are judged
on every possible pixel value, not only the ones seen. VNNI, AVX-VNNI and AMX CPUs use the int8 kernels
everywhere. The stored weights never change, so one artifact gives the same result on both CPU classes.

Measured alternatives (docs/quant.md): 7-bit weights everywhere (OpenVINO's overflow fix) cost ESRGAN
2.8 dB of fidelity; exact arithmetic everywhere halves int8 speed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import torch
import torch.ao.nn.quantized as nnq
from torch import nn
from torch.nn import functional as F

from .kernels import kernel_info

# A conv whose worst pair sum on calibration photos reaches 90% of the 16-bit limit runs exact: the margin
# covers photos brighter or more saturated than the calibration set.
LIMIT = 0.9
PAIR_SUM_MAX = 32767


class Int8Conv2d(nnq.Conv2d):
    """torch.ao's quantized conv that can run its integer arithmetic in fp32 instead of the int8 kernels.

    ``exact`` is a property of the CPU it runs on, not of the model: it is not saved, and it is set by
    :func:`guard`. The exact path computes ``conv(dequant(x), dequant(w)) + bias`` (every product and
    sum of an 8-bit conv is exactly representable in fp32 up to 2^24) and requantizes like the kernel.
    """

    exact = False

    def set_weight_bias(self, w: torch.Tensor, b: torch.Tensor | None) -> None:
        super().set_weight_bias(w, b)
        self._float_weight = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.exact:
            return super().forward(x)
        if self._float_weight is None:
            self._float_weight = self.weight().dequantize().contiguous(memory_format=torch.channels_last)
        y = F.conv2d(x.dequantize(), self._float_weight, self.bias(), self.stride, self.padding, self.dilation,
                     self.groups)
        return torch.quantize_per_tensor(y, self.scale, self.zero_point, torch.quint8)

    # torch.ao's convs deep-copy and pickle through these two: keep the flag across copies.
    def __getstate__(self):
        return (super().__getstate__(), self.exact)

    def __setstate__(self, state) -> None:
        super().__setstate__(state[0])
        self.exact = state[1]

    def _get_name(self) -> str:
        return "Int8Conv2d"

    def extra_repr(self) -> str:
        return super().extra_repr() + (", exact=True" if self.exact else "")


def int8_convs(model: nn.Module) -> dict[str, Int8Conv2d]:
    return {name: m for name, m in model.named_modules() if isinstance(m, Int8Conv2d)}


class _PairRange:
    """Per adjacent input-channel pair: the smallest and largest ``x[2k+1]`` seen with each ``x[2k]`` value.

    A linear function of (x[2k], x[2k+1]) is largest at one of these points, so they bound every pair sum
    of the inputs seen, whatever the weights, at 2 x 256 points per pair instead of one per pixel.
    """

    def __init__(self, pairs: int) -> None:
        self.low = torch.full((pairs, 256), 256, dtype=torch.int32)
        self.high = torch.full((pairs, 256), -1, dtype=torch.int32)

    def add(self, xq: torch.Tensor, zero_point: int) -> None:
        pairs = self.low.shape[0]
        a = xq[:, 0:2 * pairs:2].transpose(0, 1).reshape(pairs, -1).long()
        b = xq[:, 1:2 * pairs:2].transpose(0, 1).reshape(pairs, -1).int()
        self.low.scatter_reduce_(1, a, b, "amin")
        self.high.scatter_reduce_(1, a, b, "amax")
        # Zero padding feeds the zero point on both channels of a pair.
        self.low[:, zero_point].clamp_(max=zero_point)
        self.high[:, zero_point].clamp_(min=zero_point)

    def cover_everything(self) -> None:
        self.low.fill_(0)
        self.high.fill_(255)

    def worst_pair_sum(self, weight_int: torch.Tensor) -> float:
        """max |x_a * w_a + x_b * w_b| over the points kept and every (output channel, tap) of each pair."""
        pairs = self.low.shape[0]
        seen = self.high >= 0  # (pairs, 256)
        a = torch.arange(256, dtype=torch.float32).expand(pairs, 256)
        points_a = torch.where(seen, a, 0).repeat(1, 2)
        points_b = torch.cat([torch.where(seen, self.low, 0), torch.where(seen, self.high, 0)], 1).float()
        w = weight_int.float()  # (out, in, kh, kw)
        wa = w[:, 0:2 * pairs:2].transpose(0, 1).reshape(pairs, 1, -1)
        wb = w[:, 1:2 * pairs:2].transpose(0, 1).reshape(pairs, 1, -1)
        sums = points_a.unsqueeze(-1) * wa + points_b.unsqueeze(-1) * wb  # (pairs, 512, out * kh * kw)
        return float(sums.abs().max()) if sums.numel() else 0.0


def measure_headroom(qmodel: nn.Module, images: Iterable[np.ndarray]) -> dict[str, float]:
    """Each int8 conv's worst 16-bit pair sum over ``images`` (HxWx3 float32 LR in [0,1]), over 32767.

    The measuring run uses exact arithmetic where the kernels would saturate, so every conv sees the inputs
    it would get on a VNNI CPU.
    """
    convs = int8_convs(qmodel)
    ranges: dict[str, _PairRange] = {}
    hooks = []

    def record(name: str):
        def hook(module: Int8Conv2d, args) -> None:
            xq = args[0]
            if module.groups != 1 or xq.shape[1] < 2:
                return
            if name not in ranges:
                ranges[name] = _PairRange(xq.shape[1] // 2)
            ranges[name].add(xq.int_repr(), int(xq.q_zero_point()))
        return hook

    was_exact = {name: conv.exact for name, conv in convs.items()}
    saturates = kernel_info().saturates
    for name, conv in convs.items():
        conv.exact = saturates
        hooks.append(conv.register_forward_pre_hook(record(name)))
    try:
        with torch.no_grad():  # not inference_mode: the pair ranges are updated again afterwards
            for rgb in images:
                x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))[None]
                qmodel(x)
    finally:
        for h in hooks:
            h.remove()
        for name, conv in convs.items():
            conv.exact = was_exact[name]
    headroom = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, conv in convs.items():
            if conv.groups != 1:
                headroom[name] = float("inf")  # pairs across groups: not modelled, always exact
                continue
            if name not in ranges:
                continue  # never ran on the calibration images: stays on the kernels
            if conv.in_channels <= 4:
                ranges[name].cover_everything()  # the image itself: any pixel value can come
            headroom[name] = ranges[name].worst_pair_sum(conv.weight().int_repr()) / PAIR_SUM_MAX
    return headroom


def guard(qmodel: nn.Module, headroom: dict[str, float] | None) -> int:
    """Record ``qmodel``'s int8 headroom and set which of its int8 convs run exact on this CPU; returns how many.

    ``headroom`` None (not measured): every int8 conv runs exact where the kernels saturate.
    """
    qmodel.int8_headroom = headroom
    saturates = kernel_info().saturates
    exact = 0
    for name, conv in int8_convs(qmodel).items():
        conv.exact = saturates and (headroom is None or headroom.get(name, 0.0) >= LIMIT)
        exact += conv.exact
    return exact
