"""The quantization backend: torch.ao eager mode with oneDNN kernels, behind a few calls.

    prepare_ptq(model, plan)   -> observed QuantizedGenerator (run calibrate on it)
    calibrate(observed, batches, progress, cancel)
    prepare_qat(model, plan)   -> fake-quant QuantizedGenerator in train mode (train it)
    convert(prepared)          -> quantized QuantizedGenerator (PTQ or QAT)
    skeleton(model, plan)      -> quantized structure with placeholder values, to load an artifact into

Why torch.ao eager + oneDNN (docs/quant.md has the measurements): it was the fastest int8 path on
this CPU, needs no compiler, and its converted modules carry plain integer tensors we can save.
torch.ao is deprecated upstream, so nothing outside this module touches it; the 'onednn' qconfig is
used because the 'x86'/'fbgemm' ones quantize activations to 7 bits (reduce_range).

int8 regions: per-channel symmetric int8 weights, per-tensor quint8 activations observed by
MinMaxObserver (PTQ; HistogramObserver on request) or moving-average min/max fake quant (QAT). int16 regions: per-channel
symmetric weights on [-32767, 32767] and per-tensor activations on [-32768, 32767]; torch.ao's
convert refuses 16-bit dtypes, so :func:`_convert_int16` turns them into our int16 modules first.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from functools import partial

import numpy as np
import torch
import torch.ao.nn.qat as nnqat
from torch import nn
from torch.ao import quantization as tq
from torch.ao.nn.quantized import FloatFunctional

from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check

from .graph import QuantizedGenerator, build
from .kernels import ENGINE
from .modules import INT16_MAX, INT16_MIN, FakeQuant16, Int16Conv2d, PReLU8, PReLUQAT, Requant16
from .overflow import Int8Conv2d, guard
from .plan import Plan, Precision

NAME = "torch.ao-eager-onednn"

_16BIT = {"dtype": torch.qint32, "quant_min": INT16_MIN, "quant_max": INT16_MAX, "qscheme": torch.per_tensor_symmetric}
_16BIT_WEIGHT = {
    "dtype": torch.qint32, "quant_min": -INT16_MAX, "quant_max": INT16_MAX, "qscheme": torch.per_channel_symmetric,
}

# MinMax is the default: on Set5 it kept int8/mixed ESRGAN closer to fp32 than HistogramObserver and
# calibrates ~10x faster (docs/quant.md), although FACTS.md had seen Histogram ahead on Set14.
OBSERVERS = {
    "minmax": tq.MinMaxObserver.with_args(reduce_range=False),
    "histogram": tq.HistogramObserver.with_args(reduce_range=False),
}
DEFAULT_OBSERVER = "minmax"

_INT16_PTQ = tq.QConfig(
    activation=tq.MinMaxObserver.with_args(**_16BIT),
    weight=tq.PerChannelMinMaxObserver.with_args(**_16BIT_WEIGHT),
)
_INT16_QAT = tq.QConfig(
    activation=tq.FakeQuantize.with_args(observer=tq.MovingAverageMinMaxObserver, **_16BIT),
    weight=tq.FakeQuantize.with_args(observer=tq.MovingAveragePerChannelMinMaxObserver, ch_axis=0, **_16BIT_WEIGHT),
)


def _qconfig(precision: Precision, *, qat: bool, observer: str = DEFAULT_OBSERVER) -> tq.QConfig | None:
    if precision is Precision.FP32:
        return None
    if precision is Precision.INT16:
        return _INT16_QAT if qat else _INT16_PTQ
    if qat:
        # Plain FakeQuantize (version 0): the fused kernel picks zero points its own way, so its
        # simulation would disagree with the qparams convert reads off the observers.
        return tq.get_default_qat_qconfig(ENGINE, version=0)
    return tq.QConfig(activation=OBSERVERS[observer], weight=tq.default_per_channel_weight_observer)


def _static_mapping() -> dict:
    mapping = tq.get_default_static_quant_module_mappings()
    mapping[nn.Conv2d] = Int8Conv2d
    mapping[nnqat.Conv2d] = Int8Conv2d
    mapping[nn.PReLU] = PReLU8
    mapping[PReLUQAT] = PReLU8
    return mapping


def _qat_mapping() -> dict:
    mapping = tq.get_default_qat_module_mappings()
    mapping[nn.PReLU] = PReLUQAT
    return mapping


def use_engine() -> None:
    """Select the oneDNN quantized engine; weights are packed for the engine active at convert/load time."""
    if torch.backends.quantized.engine != ENGINE:
        torch.backends.quantized.engine = ENGINE


def prepare_ptq(model: nn.Module, plan: Plan, *, observer: str = DEFAULT_OBSERVER) -> QuantizedGenerator:
    """A copy of ``model`` restructured for ``plan`` with observers, ready for :func:`calibrate`."""
    if observer not in OBSERVERS:
        raise ValueError(f"unknown observer {observer!r}; choose from {', '.join(OBSERVERS)}")
    net = build(model, plan, partial(_qconfig, qat=False, observer=observer))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice
        tq.prepare(net, inplace=True)
    net.state = "observed"
    return net.eval()


def calibrate(
    observed: QuantizedGenerator,
    batches: Iterable[np.ndarray],
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Run HxWx3 float32 RGB images in [0,1] through an observed generator to set activation ranges."""
    batches = list(batches)
    if not batches:
        raise ValueError("calibration needs at least one image")
    tracker = ProgressTracker(progress, len(batches), "calibrating")
    tracker.update(0)
    with torch.inference_mode():
        for i, rgb in enumerate(batches):
            check(cancel)
            x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32))[None]
            observed(x)
            tracker.update(i + 1)


class HostFlagFakeQuantize(tq.FakeQuantize):
    """torch.ao's ``FakeQuantize`` that reads its two enable flags from the host.

    The stock forward tests ``observer_enabled[0] == 1`` and ``fake_quant_enabled[0] == 1``; on CUDA each test
    copies a value back and waits for the GPU, twice per module per forward (ESRGAN's student has 1,352 modules).
    The flag buffers stay as they are (state dicts, DDP and conversion read them); every change goes through
    ``enable_observer``/``enable_fake_quant`` or a state-dict load, which keep the host copies in step.
    While observing, the stock forward runs unchanged: the observers read their own state anyway.
    """

    def sync_flags(self) -> None:
        self._observing = bool(self.observer_enabled[0] == 1)
        self._quantizing = bool(self.fake_quant_enabled[0] == 1)

    def enable_observer(self, enabled: bool = True) -> None:
        super().enable_observer(enabled)
        self._observing = bool(enabled)

    def enable_fake_quant(self, enabled: bool = True) -> None:
        super().enable_fake_quant(enabled)
        self._quantizing = bool(enabled)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.sync_flags()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._observing:
            return super().forward(x)
        if not self._quantizing:
            return x
        qmin, qmax = self.activation_post_process.quant_min, self.activation_post_process.quant_max
        if self.is_per_channel:
            return torch.fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.ch_axis, qmin, qmax)
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, qmin, qmax)


def prepare_qat(model: nn.Module, plan: Plan) -> QuantizedGenerator:
    """A trainable fake-quant copy of ``model`` (train mode): int8 and 16-bit fake quant where ``plan`` says.

    BatchNorm is folded into the convs first, so its statistics stay frozen during QAT.
    """
    net = build(model, plan, partial(_qconfig, qat=True))
    net.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq.prepare_qat(net, mapping=_qat_mapping(), inplace=True)
    for mod in net.modules():
        # The qconfigs name torch.ao's class (get_default_qat_qconfig builds its own), so swap it in place.
        if type(mod) is tq.FakeQuantize:
            mod.__class__ = HostFlagFakeQuantize
            mod.sync_flags()
    net.state = "qat"
    return net


def _activation_fake_quants(qat_model: nn.Module) -> dict[str, tq.FakeQuantizeBase]:
    return {name: mod for name, mod in qat_model.named_modules()
            if isinstance(mod, tq.FakeQuantizeBase) and not name.endswith("weight_fake_quant")}


def seed_activation_ranges(qat_model: QuantizedGenerator, observed: QuantizedGenerator) -> None:
    """Give ``qat_model`` the activation ranges of a calibrated PTQ model of the same plan, and fix them there.

    QAT then starts from exactly the PTQ generator and only the weights move: ranges seen on whole
    calibration images, not the moving average of small training batches, which clips whole photos.
    """
    if observed.state != "observed" or qat_model.state != "qat" or observed.plan != qat_model.plan:
        raise ValueError("seed_activation_ranges needs a QAT model and a calibrated PTQ model of the same plan")
    observers = dict(observed.named_modules())
    for name, fake_quant in _activation_fake_quants(qat_model).items():
        source = observers[name]
        target = fake_quant.activation_post_process
        target.min_val.resize_as_(source.min_val).copy_(source.min_val)
        target.max_val.resize_as_(source.max_val).copy_(source.max_val)
        scale, zero_point = target.calculate_qparams()
        fake_quant.scale.resize_as_(scale).copy_(scale)
        fake_quant.zero_point.resize_as_(zero_point).copy_(zero_point)
        fake_quant.disable_observer()
    # One pass lets the weight fake quant observe the weights (activation ranges stay as seeded; the input
    # does not matter), so freezing every observer before the first training step leaves valid weight scales.
    with torch.no_grad():
        qat_model(torch.zeros(1, 3, 8, 8))


def freeze_observers(qat_model: nn.Module) -> None:
    """Stop updating quantization ranges (the usual last phase of QAT); fake quant stays on."""
    qat_model.apply(tq.disable_observer)


def convert(prepared: QuantizedGenerator, *, inplace: bool = False) -> QuantizedGenerator:
    """Turn a calibrated (PTQ) or trained (QAT) generator into its integer form, in eval mode."""
    if prepared.state not in ("observed", "qat"):
        raise ValueError(f"convert needs an observed or QAT generator, not a {prepared.state!r} one")
    net = prepared if inplace else copy.deepcopy(prepared)
    net.eval()
    net.apply(tq.disable_observer)
    _convert_int16(net)
    use_engine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq.convert(net, mapping=_static_mapping(), inplace=True)
    net.state = "quantized"
    # Ranges not measured yet (quantize() and artifacts measure them): every int8 conv runs exact where
    # the kernels saturate.
    guard(net, None)
    return net


def skeleton(model: nn.Module, plan: Plan) -> QuantizedGenerator:
    """The quantized structure of ``model`` under ``plan`` with placeholder values, to load saved ones into."""
    net = build(model, plan, partial(_qconfig, qat=False, observer="minmax"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uncalibrated observers: their placeholder qparams get overwritten
        tq.prepare(net, inplace=True)
        net.state = "observed"
        return convert(net, inplace=True)


def _is_16bit(post_process: nn.Module | None) -> bool:
    return post_process is not None and getattr(post_process, "dtype", None) == torch.qint32


def _strip(module: nn.Module) -> nn.Module:
    """A copy of an observed leaf module without its observer, hooks or qconfig."""
    clean = copy.deepcopy(module)
    for attr in ("activation_post_process", "qconfig"):
        if hasattr(clean, attr):
            delattr(clean, attr)
    clean._forward_hooks.clear()
    clean._forward_pre_hooks.clear()
    return clean


def _convert_int16(module: nn.Module) -> None:
    """Replace every module observed with a 16-bit observer by its int16 form (in place)."""
    for name, child in list(module.named_children()):
        post = getattr(child, "activation_post_process", None)
        if isinstance(child, FloatFunctional):
            if _is_16bit(post):
                ff = FloatFunctional()
                ff.activation_post_process = FakeQuant16.from_observer(post, inplace=True)
                setattr(module, name, ff)
            continue
        if not _is_16bit(post):
            _convert_int16(child)
            continue
        # A stub's input may be used elsewhere; any other module's output is fresh, safe to overwrite.
        out = FakeQuant16.from_observer(post, inplace=not isinstance(child, tq.QuantStub))
        if isinstance(child, tq.QuantStub):
            new: nn.Module = out
        elif isinstance(child, nnqat.Conv2d):
            new = Int16Conv2d.from_float(child, child.weight_fake_quant, out)
        elif type(child) is nn.Conv2d:
            new = Int16Conv2d.from_float(child, child.qconfig.weight(), out)
        elif len(list(child.children())) == 1:  # an elementwise float op: only its observer is a child
            new = Requant16(_strip(child), out)
        else:
            raise NotImplementedError(f"no int16 form for {type(child).__name__} ({name})")
        setattr(module, name, new)
