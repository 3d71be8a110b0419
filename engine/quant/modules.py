"""Modules a quantized generator is built from, besides torch.ao's int8 ones.

* :class:`QAdd` / :class:`QCat` replace :class:`engine.archs.ops.Add` / ``Cat`` with
  ``FloatFunctional`` ops, which torch.ao observes and turns into integer add/cat.
* :class:`Region` runs a sub-network at one precision; its ``enter``/``exit`` transitions move the
  tensor between the float domain and torch's quantized (quint8) domain, or onto a 16-bit grid.
* :class:`FakeQuant16`, :class:`Int16Conv2d` and :class:`Requant16` are the converted form of an int16
  region. No CPU library has int16 convolution kernels, so an int16 stage stores int16 weights
  (per-channel symmetric scales) and keeps every activation an integer pipeline would requantize on
  a fixed 16-bit grid, while the arithmetic runs as fp32 on the dequantized weights (decoded once,
  when the module is built or loaded).
* :class:`PReLU8` is torch.ao's quantized PReLU with the weight on a fixed grid and a state dict;
  :class:`PReLUQAT` simulates that grid during QAT, so simulated and converted models agree.
"""

from __future__ import annotations

import torch
import torch.ao.nn.quantized as nnq
from torch import nn
from torch.nn import functional as F

from . import polyphase

INT16_MIN, INT16_MAX = -32768, 32767
# PReLU slopes on a fixed quint8 grid covering [-1, 1]: torch's quantized::prelu multiplies positive
# inputs by min(1, 255 * weight_scale), so any weight scale below 1/255 silently shrinks them.
PRELU_WEIGHT_SCALE, PRELU_WEIGHT_ZERO_POINT = 1.0 / 127.0, 127


class QAdd(nn.Module):
    """``a + scale * b`` through a FloatFunctional, so it can run as an integer add."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = float(scale)
        self.ff = nnq.FloatFunctional()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.scale != 1.0:
            # On quantized tensors mul_scalar only rescales: no requantization, no observer.
            b = self.ff.mul_scalar(b, self.scale)
        return self.ff.add(a, b)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class QCat(nn.Module):
    """Channel concatenation through a FloatFunctional."""

    def __init__(self) -> None:
        super().__init__()
        self.ff = nnq.FloatFunctional()

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.ff.cat(list(xs), dim=1)


class PixelShuffleNHWC(nn.Module):
    """``nn.PixelShuffle`` whose output keeps the channels-last layout (one copy, float or quantized).

    torch's pixel_shuffle returns NCHW whatever it is given, and the next int8 conv would pay a reorder.
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        r = self.upscale_factor
        nhwc = x.permute(0, 2, 3, 1).reshape(n, h, w, c // (r * r), r, r)
        out = nhwc.permute(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c // (r * r))
        return out.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class Region(nn.Module):
    """``exit(inner(enter(x)))``: ``inner`` runs at ``precision``; transitions adapt the domains."""

    def __init__(self, inner: nn.Module, precision: str, enter: nn.Module, exit: nn.Module) -> None:
        super().__init__()
        self.precision = precision
        self.enter = enter
        self.inner = inner
        self.exit = exit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.exit(self.inner(self.enter(x)))

    def extra_repr(self) -> str:
        return f"precision={self.precision}"


class FakeQuant16(nn.Module):
    """Rounds a float tensor onto a fixed symmetric 16-bit grid ``scale * [-32768, 32767]``.

    Bit-identical to ``torch.fake_quantize_per_tensor_affine`` with zero point 0, which is what the
    16-bit QAT observers produce; ``inplace`` reuses the input's memory (for fresh op outputs only),
    saving an allocation that costs more than the arithmetic on large feature maps.
    """

    def __init__(self, scale: float = 1.0, *, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        self.register_buffer("scale", torch.tensor([scale], dtype=torch.float32))
        self.register_buffer("_inv_scale", torch.empty(1), persistent=False)
        self._decode()

    @classmethod
    def from_observer(cls, observer: nn.Module, *, inplace: bool = False) -> FakeQuant16:
        scale, zero_point = observer.calculate_qparams()
        if int(zero_point) != 0:
            raise ValueError("16-bit activations must be quantized symmetrically (zero point 0)")
        return cls(float(scale), inplace=inplace)

    def _decode(self) -> None:
        self._inv_scale = 1.0 / self.scale  # float32 division, as torch's fake-quant kernels do

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._decode()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.inplace and not x.requires_grad else x.clone()
        return y.mul_(self._inv_scale).round_().clamp_(INT16_MIN, INT16_MAX).mul_(self.scale)

    def extra_repr(self) -> str:
        return f"scale={float(self.scale):.3g}, inplace={self.inplace}"


class Int16Conv2d(nn.Module):
    """A conv whose weights are stored as int16 with per-output-channel scales; output on a 16-bit grid."""

    def __init__(self, conv: nn.Conv2d, weight_q: torch.Tensor, weight_scale: torch.Tensor, out: FakeQuant16) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        if conv.padding_mode != "zeros":
            raise ValueError(f"int16 conv supports zero padding only, not {conv.padding_mode!r}")
        self.register_buffer("weight_int16", weight_q.to(torch.int16))
        self.register_buffer("weight_scale", weight_scale.to(torch.float32))
        bias = conv.bias.detach().float().clone() if conv.bias is not None else torch.zeros(weight_q.shape[0])
        self.register_buffer("bias", bias)
        self.out = out
        self.register_buffer("_weight", torch.empty(0), persistent=False)
        self._decode()

    @classmethod
    def from_float(cls, conv: nn.Conv2d, weight_observer: nn.Module, out: FakeQuant16) -> Int16Conv2d:
        """Quantize ``conv.weight`` with ``weight_observer``'s per-channel symmetric qparams."""
        w = conv.weight.detach().float()
        weight_observer(w)
        scale, zero_point = weight_observer.calculate_qparams()
        if torch.any(zero_point != 0):
            raise ValueError("int16 weights must be quantized symmetrically (zero point 0)")
        q = torch.clamp(torch.round(w / scale.view(-1, 1, 1, 1)), -INT16_MAX, INT16_MAX)
        return cls(conv, q, scale, out)

    def _decode(self) -> None:
        self._weight = self.weight_int16.float() * self.weight_scale.view(-1, 1, 1, 1)
        self._poly = None
        if polyphase.applicable(self._weight, self.stride, self.padding, self.dilation, self.groups):
            self._poly = polyphase.weight(self._weight)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._decode()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._poly is not None and x.shape[-2] % 2 == 0 and x.shape[-1] % 2 == 0:
            y = polyphase.conv(x, *self._poly[:1], self.bias, self._poly[1])
        else:
            y = F.conv2d(x, self._weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return self.out(y)

    def extra_repr(self) -> str:
        o, i, kh, kw = self.weight_int16.shape
        return f"{i * self.groups}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


class Requant16(nn.Module):
    """A float elementwise module (activation) whose output goes back onto a 16-bit grid."""

    def __init__(self, op: nn.Module, out: FakeQuant16) -> None:
        super().__init__()
        self.op = op
        self.out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.op(x))


def _fake_quant_slope(weight: torch.Tensor) -> torch.Tensor:
    return torch.fake_quantize_per_tensor_affine(weight, PRELU_WEIGHT_SCALE, PRELU_WEIGHT_ZERO_POINT, 0, 255)


class PReLUQAT(nn.PReLU):
    """PReLU whose slope is fake-quantized onto :class:`PReLU8`'s fixed grid (straight-through gradient)."""

    _FLOAT_MODULE = nn.PReLU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, _fake_quant_slope(self.weight))

    @classmethod
    def from_float(cls, mod: nn.PReLU, use_precomputed_fake_quant: bool = False) -> nn.Module:
        if mod.qconfig.activation().dtype != torch.quint8:
            return mod  # in an int16 region the slope stays float, as after PTQ
        qat = cls(mod.num_parameters)
        qat.weight = mod.weight
        qat.qconfig = mod.qconfig
        return qat


class PReLU8(nnq.PReLU):
    """Quantized PReLU with a fixed weight grid (see PRELU_WEIGHT_SCALE) and a complete state dict."""

    @classmethod
    def from_float(cls, mod: nn.Module, use_precomputed_fake_quant: bool = False) -> PReLU8:
        scale, zero_point = mod.activation_post_process.calculate_qparams()
        q = cls(float(scale), int(zero_point), mod.num_parameters)
        q.set_weight(
            torch.quantize_per_tensor(mod.weight.detach().float(), PRELU_WEIGHT_SCALE, PRELU_WEIGHT_ZERO_POINT, torch.quint8)
        )
        return q

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "weight"] = self.weight
        destination[prefix + "scale"] = torch.tensor(self.scale, dtype=torch.float64)
        destination[prefix + "zero_point"] = torch.tensor(self.zero_point, dtype=torch.int64)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        keys = [prefix + k for k in ("weight", "scale", "zero_point")]
        missing = [k for k in keys if k not in state_dict]
        if missing:
            missing_keys.extend(missing)
            return
        weight = state_dict.pop(keys[0])
        if not weight.is_quantized or weight.shape != self.weight.shape:
            error_msgs.append(f"{keys[0]}: expected a quantized tensor of shape {tuple(self.weight.shape)}")
            return
        self.set_weight(weight)
        self.scale = float(state_dict.pop(keys[1]))
        self.zero_point = int(state_dict.pop(keys[2]))
