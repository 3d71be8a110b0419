"""Restructure a float generator so each part can run at the precision its plan asks for.

:func:`build` copies a :class:`~engine.archs.StagedSR`, folds BatchNorm into the convs before it,
swaps the arithmetic op modules for quantizable ones, and wraps every stage and every plan override
in a :class:`~engine.quant.modules.Region` whose transitions move tensors between domains. The
result is a :class:`QuantizedGenerator` in float form; a backend then observes and converts it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import torch
from torch import nn
from torch.ao.quantization import DeQuantStub, QuantStub, fuse_modules

from engine.archs import STAGES
from engine.archs.ops import Add, Cat
from engine.errors import PlanError

from .modules import PixelShuffleNHWC, QAdd, QCat, Region
from .plan import Plan, Precision

# Maps a precision to the torch.ao QConfig its modules get (None = stays float).
QConfigFor = Callable[[Precision], object]


class QuantizedGenerator(nn.Module):
    """A generator restructured by plan: float tensors in and out, stage regions in between.

    ``state`` is "float" (just built), "observed" (PTQ calibration), "qat" (fake-quant training)
    or "quantized" (integer kernels; only this one is saved as an artifact).
    """

    # Per int8 conv: its worst 16-bit pair sum on calibration photos / 32767 (overflow.py); None = not measured.
    int8_headroom: dict[str, float] | None = None

    def __init__(self, stages: dict[str, Region], output: nn.Module, *, plan: Plan, arch: str, config: dict,
                 scale: int) -> None:
        super().__init__()
        self.scale = scale  # the source generator's
        for name in STAGES:
            setattr(self, name, stages[name])
        self.output = output
        self.plan = plan
        self.arch = arch
        self.config = dict(config)
        self.state = "float"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # oneDNN's int8 kernels work in NHWC: fed NCHW, every conv reorders its input (3-4x slower
        # blocks, measured). Quantize, conv, cat and add all keep NHWC once the input has it.
        x = x.contiguous(memory_format=torch.channels_last)
        for name in STAGES:
            x = getattr(self, name)(x)
        return self.output(x)

    def extra_repr(self) -> str:
        return f"arch={self.arch}, plan={self.plan}, state={self.state}"


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d fed only by a Conv2d into that conv (in place, eval statistics).

    The pairs come from the traced data flow, not from module order, so any architecture works;
    QAT then trains the folded convs, which is what "freezing BN statistics" amounts to.
    """
    was_training = model.training
    model.eval()
    modules = dict(model.named_modules())
    pairs = []
    for node in torch.fx.symbolic_trace(model).graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        src = node.args[0]
        if src.op == "call_module" and isinstance(modules[src.target], nn.Conv2d) and len(src.users) == 1:
            pairs.append([src.target, node.target])
    if pairs:
        fuse_modules(model, pairs, inplace=True)
    return model.train(was_training)


def _swap_ops(model: nn.Module) -> None:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Add):
                setattr(parent, name, QAdd(child.scale))
            elif isinstance(child, Cat):
                setattr(parent, name, QCat())
            elif isinstance(child, nn.PixelShuffle):
                setattr(parent, name, PixelShuffleNHWC(child.upscale_factor))


def _transition(src: Precision, dst: Precision, qconfig: QConfigFor) -> nn.Sequential:
    """Stubs that turn a tensor in ``src``'s domain into one in ``dst``'s domain.

    fp32 and int16 values are float tensors (int16 ones on a 16-bit grid); int8 values are quint8.
    int8 -> int16 needs no 16-bit rounding: a dequantized int8 value (q - zp) * s already lies on the
    16-bit grid of step s / 128, since (q - zp) * 128 fits in [-32640, 32640].
    """
    stubs: list[nn.Module] = []
    if src is Precision.INT8 and dst is not Precision.INT8:
        stubs.append(DeQuantStub(qconfig(Precision.INT8)))
    if dst is Precision.INT8 and src is not Precision.INT8:
        stubs.append(QuantStub(qconfig(Precision.INT8)))
    if dst is Precision.INT16 and src is Precision.FP32:
        stubs.append(QuantStub(qconfig(Precision.INT16)))
    return nn.Sequential(*stubs)


def _region(inner: nn.Module, precision: Precision, enter: nn.Module, exit: nn.Module, qconfig: QConfigFor) -> Region:
    inner.qconfig = qconfig(precision)
    return Region(inner, precision.value, enter, exit)


def override_targets(model: nn.Module) -> list[str]:
    """Module paths a plan may override: modules inside a stage that map one tensor to one tensor."""
    paths = []
    for path, module in model.named_modules():
        if "." not in path or path.split(".")[0] not in STAGES:
            continue
        params = [
            p for p in inspect.signature(module.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if len(params) == 1 and params[0].kind is not params[0].VAR_POSITIONAL:
            paths.append(path)
    return paths


def build(model: nn.Module, plan: Plan, qconfig: QConfigFor) -> QuantizedGenerator:
    """A restructured float copy of ``model`` for ``plan`` (``model`` itself is not touched)."""
    arch = getattr(model, "arch_name", "")
    if not arch or not all(hasattr(model, s) for s in STAGES):
        raise PlanError(f"{type(model).__name__} is not a staged generator with stages {', '.join(STAGES)}")
    net = fold_batchnorm(copy.deepcopy(model).eval())
    if plan.blocks:
        allowed = set(override_targets(net))
        for path, _ in plan.blocks:
            if path not in allowed:
                raise PlanError(
                    f"plan overrides {path!r}, which is not a single-input module of this {arch} "
                    f"(e.g. {', '.join(sorted(allowed)[:3])})"
                )
    _swap_ops(net)
    # Deepest first, so a parent's path still resolves after its children were wrapped.
    for path, precision in sorted(plan.blocks, key=lambda item: -item[0].count(".")):
        parent_path, _, name = path.rpartition(".")
        outer = plan.precision_of(parent_path)
        parent = net.get_submodule(parent_path)
        enter, exit = _transition(outer, precision, qconfig), _transition(precision, outer, qconfig)
        setattr(parent, name, _region(getattr(parent, name), precision, enter, exit, qconfig))
    stages, domain = {}, Precision.FP32
    for name, precision in zip(STAGES, plan.stages):
        stages[name] = _region(getattr(net, name), precision, _transition(domain, precision, qconfig), nn.Sequential(), qconfig)
        domain = precision
    return QuantizedGenerator(
        stages, _transition(domain, Precision.FP32, qconfig), plan=plan, arch=arch, config=getattr(model, "config", {}),
        scale=model.scale,
    )
