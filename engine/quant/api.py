"""The calls the rest of the app uses: quantize a generator, or get a runnable one at some precision.

:func:`load_precision` is what the upscaler calls. For a plan (preset, ``16,8,8,16`` or plan file) it
calibrates once, saves the artifact in the model cache, and loads it from there next time, so the
app pays the calibration (about a minute for the full ESRGAN) only on first use.
"""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from engine import __version__
from engine.errors import ModelError, PlanError
from engine.jobs import CancelToken, ProgressFn
from engine.weights import ModelInfo, describe_model, load_model, model_dir, sha256_file

from . import backend
from .artifact import SUFFIX, ArtifactInfo, load_artifact, read_info, save_artifact
from .calib import CalibrationSpec, calibration_images
from .graph import QuantizedGenerator
from .overflow import guard, measure_headroom
from .plan import Plan, parse_plan
from .precision import PrecisionSpec, parse_precision

def quantize(
    model: nn.Module,
    plan: Plan | str,
    *,
    calib: Sequence[np.ndarray] | CalibrationSpec | None = None,
    observer: str = backend.DEFAULT_OBSERVER,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> QuantizedGenerator:
    """Post-training static quantization of ``model`` under ``plan``; returns the converted generator.

    ``calib``: HxWx3 float32 LR images in [0,1], or a :class:`CalibrationSpec` (default: the bundled
    samples). QAT is not a one-call job: use :func:`backend.prepare_qat` in a training loop, then
    :func:`backend.convert`.
    """
    plan = parse_plan(plan)
    if plan.is_float:
        raise PlanError(f"plan {plan} quantizes nothing: use the fp32 model as it is")
    images = calib if isinstance(calib, Sequence) else calibration_images(calib, cancel=cancel, scale=model.scale)
    qmodel = backend.convert(calibrated(model, plan, images, observer=observer, progress=progress, cancel=cancel),
                             inplace=True)
    guard(qmodel, measure_headroom(qmodel, images))
    return qmodel


def calibrated(
    model: nn.Module,
    plan: Plan,
    calib: Sequence[np.ndarray] | CalibrationSpec | None,
    *,
    observer: str = backend.DEFAULT_OBSERVER,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> QuantizedGenerator:
    """``model`` prepared for ``plan`` with PTQ observers that have seen ``calib`` (see :func:`quantize`)."""
    images = calib if isinstance(calib, Sequence) else calibration_images(calib, cancel=cancel, scale=model.scale)
    observed = backend.prepare_ptq(model, plan, observer=observer)
    backend.calibrate(observed, images, progress, cancel)
    return observed


def _model_key(info: ModelInfo) -> str:
    """Names the source weights in cache file names: the model name plus a digest of its file."""
    digest = (info.card or {}).get("sha256")
    if not digest and info.path is not None:
        digest = sha256_file(info.path)
    if not digest:
        raise ModelError(f"cannot cache a quantized {info.name}: its weights have no file")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", info.name)
    return f"{safe}-{digest[:12]}"


def cached_artifact_path(info: ModelInfo, plan: Plan, spec: CalibrationSpec | None = None) -> Path:
    """Where the PTQ artifact of ``info``'s weights under ``plan`` is cached."""
    spec = spec or CalibrationSpec()
    recipe = f"{plan}|{spec.key}|{backend.NAME}|{backend.DEFAULT_OBSERVER}|int8-headroom|{__version__}"
    recipe = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return model_dir() / "quantized" / f"{_model_key(info)}-{_plan_label(plan)}-{recipe}{SUFFIX}"


def _plan_label(plan: Plan) -> str:
    label = re.sub(r"[^A-Za-z0-9_.]+", "_", plan.name)
    return label if len(label) <= 48 else hashlib.sha256(label.encode()).hexdigest()[:16]


def _remove_older_recipes(path: Path) -> None:
    """Drop cached artifacts of the same model and plan made with an older recipe (calibration, version)."""
    stem = path.name[: -len(SUFFIX)].rsplit("-", 1)[0]
    for old in path.parent.glob(f"{glob.escape(stem)}-*{SUFFIX}"):
        if old != path and len(old.name) == len(path.name):
            old.unlink(missing_ok=True)


def check_artifact_fits(artifact: Path, info: ModelInfo) -> ArtifactInfo:
    """The header of ``artifact`` if it is a quantized ``info`` (same architecture and config); else a one-line
    error. Only the header is read, so a mismatch costs no tensor loading."""
    ainfo = read_info(artifact)
    if (ainfo.arch, ainfo.config) != (info.arch, dict(info.config)):
        raise ModelError(
            f"this quantized model is a {ainfo.arch} {ainfo.config}, not the chosen {info.display_name} "
            f"({info.arch} {info.config})", ainfo.path)
    return ainfo


def load_precision(
    model: nn.Module | str | Path | None,
    info: ModelInfo | None,
    precision: PrecisionSpec | str | Path,
    *,
    calib: CalibrationSpec | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[nn.Module, int]:
    """A runnable generator for ``precision`` and its size on disk in bytes.

    ``model``/``info``: a loaded float generator and its :class:`ModelInfo`, or a model spec
    ("esrgan", "srgan", a weights file) with ``info=None``. ``precision``: a :class:`PrecisionSpec` or its
    text ("fp32", a plan such as "int8", "mixed", "16,8,8,16", a plan .json, or a quantized artifact file).
    For an artifact, ``model`` may be None with ``info`` given: the float weights are not needed.
    """
    spec = parse_precision(precision)
    if isinstance(model, (str, Path)):
        if spec.artifact is not None:
            model, info = None, describe_model(model)
        else:
            model, info = load_model(model)
    if info is None:
        raise ValueError("load_precision needs the ModelInfo of a loaded model")
    if spec.artifact is not None:
        check_artifact_fits(spec.artifact, info)
        qmodel, ainfo = load_artifact(spec.artifact)
        return qmodel, ainfo.size_bytes
    plan = spec.plan
    if plan.is_float:
        return model, info.size_bytes
    path = cached_artifact_path(info, plan, calib)
    if path.is_file():
        try:
            qmodel, ainfo = load_artifact(path)
            return qmodel, ainfo.size_bytes
        except ModelError:
            pass  # a damaged cache entry: calibrate again and replace it
    qmodel = quantize(model, plan, calib=calib, progress=progress, cancel=cancel)
    card = {
        "name": f"{info.name}-{plan.name}",
        "display_name": f"{info.display_name} ({plan.name})",
        "source_model": info.name,
        "method": "ptq",
        "observer": backend.DEFAULT_OBSERVER,
        "calibration": (calib or CalibrationSpec()).to_json(),
    }
    save_artifact(qmodel, path, card)
    _remove_older_recipes(path)
    return qmodel, path.stat().st_size
