"""Quantization: per-stage precision plans, PTQ and QAT, integer kernels, saved quantized generators.

Typical use::

    from engine.quant import load_precision, quantize, save_artifact
    qmodel = quantize(model, "mixed")                      # PTQ on the bundled samples
    save_artifact(qmodel, "esrgan-mixed.safetensors", card)
    module, size = load_precision("esrgan", None, "int8")  # cached PTQ artifact, made on first use

QAT (driven by the training loop)::

    qat = prepare_qat(model, "16,8,8,16")   # train mode, fake quant; train it like the float model
    qat = prepare_qat(model, "mixed", fixed_ranges=CalibrationSpec("photos/"))  # or: start from PTQ's ranges
    freeze_observers(qat)                   # optional last phase
    qmodel = convert_qat(qat)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from engine.jobs import CancelToken, ProgressFn

from . import backend
from .api import cached_artifact_path, calibrated, check_artifact_fits, load_precision, quantize
from .artifact import ArtifactInfo, load_artifact, read_info, save_artifact
from .backend import freeze_observers
from .calib import CalibrationSpec, calibration_images
from .graph import QuantizedGenerator, fold_batchnorm, override_targets
from .kernels import KernelInfo, kernel_info
from .plan import PRESETS, Plan, Precision, parse_plan
from .precision import FP32, PrecisionSpec, parse_precision


def prepare_qat(
    model: nn.Module,
    plan: Plan | str,
    *,
    fixed_ranges: Sequence[np.ndarray] | CalibrationSpec | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> QuantizedGenerator:
    """A trainable fake-quant copy of ``model`` for ``plan`` (16-bit fake quant in int16 stages).

    ``fixed_ranges``: calibration images (or where to read them) for PTQ-style activation ranges that then
    stay fixed, so training starts from the PTQ generator and moves only the weights; None leaves the
    ranges to follow the training batches (moving min/max).
    """
    plan = parse_plan(plan)
    qat = backend.prepare_qat(model, plan)
    if fixed_ranges is not None:
        backend.seed_activation_ranges(qat, calibrated(model, plan, fixed_ranges, progress=progress, cancel=cancel))
    return qat


def convert_qat(qat_model: QuantizedGenerator, plan: Plan | str | None = None) -> QuantizedGenerator:
    """The integer form of a QAT-trained generator (``qat_model`` itself stays trainable)."""
    if plan is not None and parse_plan(plan) != qat_model.plan:
        raise ValueError(f"the QAT model was prepared for plan {qat_model.plan}, not {parse_plan(plan)}")
    return backend.convert(qat_model)


__all__ = [
    "FP32",
    "PRESETS",
    "PrecisionSpec",
    "ArtifactInfo",
    "CalibrationSpec",
    "KernelInfo",
    "Plan",
    "Precision",
    "QuantizedGenerator",
    "cached_artifact_path",
    "check_artifact_fits",
    "calibration_images",
    "convert_qat",
    "fold_batchnorm",
    "kernel_info",
    "freeze_observers",
    "load_artifact",
    "load_precision",
    "override_targets",
    "parse_plan",
    "parse_precision",
    "prepare_qat",
    "quantize",
    "read_info",
    "save_artifact",
]
