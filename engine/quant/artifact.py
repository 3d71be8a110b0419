"""A quantized generator as one safetensors file, loadable without calibration.

Tensors: every entry of the quantized module's state dict. A quantized tensor is stored as its
integer values (int8/uint8) plus ``<key>::scale`` and ``<key>::zero_point`` tensors; int16 stages store
int16 weights and float scales; biases stay float. Metadata (strings): the format tag and version,
the architecture and its config, the precision plan, the backend, the model card, which keys are
quantized and how, and a SHA-256 over all tensors so a damaged file is refused instead of run.

Loading rebuilds the quantized structure from (arch, config, plan) and loads the tensors strictly,
so an artifact that does not fit its own description is refused too. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from engine import __version__, archs
from engine.errors import ModelError, PlanError
from engine.files import write_atomic
from engine.weights import config_from_shapes

from . import backend
from .calib import calibration_images
from .graph import QuantizedGenerator
from .overflow import guard, int8_convs, measure_headroom
from .plan import Plan

FORMAT = "mpsr-quantized-generator"
VERSION = 1
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class ArtifactInfo:
    path: Path
    arch: str
    config: dict
    plan: Plan
    card: dict
    backend: str
    size_bytes: int


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _flatten(state: dict[str, torch.Tensor | None]) -> tuple[dict[str, torch.Tensor], dict, list[str]]:
    tensors, quantized, absent = {}, {}, []
    for key, value in state.items():
        if value is None:  # e.g. a quantized conv without bias
            absent.append(key)
        elif value.is_quantized:
            tensors[key] = value.int_repr().contiguous()
            if value.qscheme() == torch.per_tensor_affine:
                tensors[f"{key}::scale"] = torch.tensor([value.q_scale()], dtype=torch.float64)
                tensors[f"{key}::zero_point"] = torch.tensor([value.q_zero_point()], dtype=torch.int64)
                quantized[key] = {"qscheme": "per_tensor_affine", "dtype": str(value.dtype)}
            elif value.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
                tensors[f"{key}::scale"] = value.q_per_channel_scales().contiguous()
                tensors[f"{key}::zero_point"] = value.q_per_channel_zero_points().contiguous()
                quantized[key] = {"qscheme": "per_channel_affine", "dtype": str(value.dtype), "axis": value.q_per_channel_axis()}
            else:
                raise ValueError(f"cannot save {key}: unsupported qscheme {value.qscheme()}")
        else:
            tensors[key] = value.detach().contiguous()
    return tensors, quantized, absent


_QDTYPES = {str(d): d for d in (torch.quint8, torch.qint8, torch.qint32)}


def _unflatten(tensors: dict[str, torch.Tensor], quantized: dict, absent: list[str]) -> dict[str, torch.Tensor | None]:
    state: dict[str, torch.Tensor | None] = {key: None for key in absent}
    for key, value in tensors.items():
        if "::" in key:
            continue
        spec = quantized.get(key)
        if spec is None:
            state[key] = value
            continue
        scale, zero_point = tensors[f"{key}::scale"], tensors[f"{key}::zero_point"]
        # The private constructors wrap the stored integers exactly; re-quantizing floats might not.
        if spec["qscheme"] == "per_tensor_affine":
            q = torch._make_per_tensor_quantized_tensor(value, float(scale[0]), int(zero_point[0]))
        else:
            q = torch._make_per_channel_quantized_tensor(value, scale, zero_point, int(spec["axis"]))
        if q.dtype != _QDTYPES[spec["dtype"]]:
            raise ValueError(f"{key}: stored as {q.dtype}, described as {spec['dtype']}")
        state[key] = q
    return state


def save_artifact(qmodel: QuantizedGenerator, path: str | Path, card: dict | None = None) -> Path:
    """Write a converted generator to ``path`` atomically; returns the path."""
    if not isinstance(qmodel, QuantizedGenerator) or qmodel.state != "quantized":
        raise ValueError("only a converted (quantized) generator can be saved as an artifact")
    headroom = qmodel.int8_headroom
    if headroom is None and int8_convs(qmodel):
        guard(qmodel, measure_headroom(qmodel, calibration_images(scale=qmodel.scale)))
        headroom = qmodel.int8_headroom
    tensors, quantized, absent = _flatten(qmodel.state_dict())
    metadata = {
        "format": FORMAT,
        "version": str(VERSION),
        "arch": qmodel.arch,
        "config": json.dumps(qmodel.config, sort_keys=True),
        "plan": json.dumps(qmodel.plan.to_json()),
        "backend": backend.NAME,
        "card": json.dumps({**(card or {}), "plan": str(qmodel.plan), "mpsr_version": __version__}),
        "quantized": json.dumps(quantized),
        "absent": json.dumps(absent),
        "sha256": _digest(tensors),
    }
    if headroom is not None:
        metadata["int8_headroom"] = json.dumps({k: round(v, 4) for k, v in headroom.items()}, sort_keys=True)
    return write_atomic(Path(path), lambda tmp: safetensors.torch.save_file(tensors, str(tmp), metadata=metadata))


def _fail(path: Path, message: str) -> ModelError:
    return ModelError(message, path)


def read_info(path: str | Path) -> ArtifactInfo:
    """The description stored in an artifact (no tensors read beyond the header)."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "quantized model file not found" if not path.exists() else "not a file")
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _fail(path, f"corrupt or not a safetensors file ({str(err).splitlines()[0][:120]})") from None
    if meta.get("format") != FORMAT:
        raise _fail(path, "not a quantized generator artifact (no mpsr-quantized-generator metadata)")
    if meta.get("version") != str(VERSION):
        raise _fail(path, f"artifact format version {meta.get('version')!r} is not supported (expected {VERSION})")
    if meta.get("backend") != backend.NAME:
        raise _fail(path, f"artifact was made for backend {meta.get('backend')!r}, this build runs {backend.NAME}")
    try:
        config = json.loads(meta["config"])
        plan = Plan.from_json(json.loads(meta["plan"]))
        card = json.loads(meta["card"])
    except (KeyError, ValueError, PlanError) as err:
        raise _fail(path, f"corrupt artifact metadata ({err})") from None
    if meta.get("arch") not in archs.names():
        raise _fail(path, f"artifact is for unknown architecture {meta.get('arch')!r}")
    _check_config(path, meta["arch"], config, shapes)
    return ArtifactInfo(path, meta["arch"], config, plan, card, meta["backend"], path.stat().st_size)


def _check_config(path: Path, arch: str, config: object, shapes: dict[str, tuple[int, ...]]) -> None:
    """The stored config must be the one the tensors' shapes describe: building from a forged config (say
    num_feat 20000) would allocate gigabytes before the tensors are found not to fit."""
    # Float key names: without the region wrappers (".inner") and the int16 weights' own suffix.
    layout = {re.sub(r"\.inner(?=\.)", "", key).replace(".weight_int16", ".weight"): shape
              for key, shape in shapes.items() if "::" not in key}
    try:
        found = config_from_shapes(layout, path)
    except ModelError as err:
        raise _fail(path, f"artifact tensors are not a generator ({str(err).removeprefix(f'{path}: ')})") from None
    if found != (arch, config):
        raise _fail(path, f"artifact does not match {arch} {config}, its metadata: its tensors are {found[0]} {found[1]}")


def load_artifact(path: str | Path) -> tuple[QuantizedGenerator, ArtifactInfo]:
    """Rebuild a saved quantized generator (eval mode, CPU); any inconsistency is a one-line ModelError."""
    info = read_info(path)
    path = info.path
    try:
        tensors = safetensors.torch.load_file(str(path), device="cpu")
        with safetensors.safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _fail(path, f"corrupt artifact ({str(err).splitlines()[0][:120]})") from None
    if _digest(tensors) != meta.get("sha256"):
        raise _fail(path, "corrupt artifact: its tensors do not match the stored checksum")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation notice for quantized tensors
            state = _unflatten(tensors, json.loads(meta["quantized"]), json.loads(meta["absent"]))
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise _fail(path, f"corrupt artifact: bad quantized tensor ({err})") from None
    try:
        float_model = archs.build(info.arch, **info.config)
    except (TypeError, ValueError) as err:
        raise _fail(path, f"artifact config does not build {info.arch} ({err})") from None
    try:
        qmodel = backend.skeleton(float_model, info.plan)
    except PlanError as err:
        raise _fail(path, f"artifact plan does not fit {info.arch}: {err}") from None
    try:
        headroom = json.loads(meta["int8_headroom"]) if "int8_headroom" in meta else None
        if headroom is not None and not all(isinstance(v, (int, float)) for v in headroom.values()):
            raise ValueError("int8_headroom values must be numbers")
    except (ValueError, AttributeError) as err:
        raise _fail(path, f"corrupt artifact metadata ({err})") from None
    try:
        qmodel.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(err).__name__)
        raise _fail(path, f"artifact does not match {info.arch} {info.config} with plan {info.plan}: {detail[:160]}") from None
    guard(qmodel, headroom)
    return qmodel.eval(), info
