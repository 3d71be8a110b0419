"""Safe checkpoint loading, architecture detection and saving of generator weights.

Pickled checkpoints are opened with ``torch.load(weights_only=True)`` only, so a file that
tries to run code is refused instead of executed. The architecture and its size are read off
the keys and tensor shapes (as spandrel does), then loaded strictly into our own modules.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import safetensors
import safetensors.torch
import torch
from torch import nn

from engine import archs
from engine.errors import ModelError
from engine.files import write_atomic

from .cache import model_dir, sha256_file, shipped_dir

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
_WRAPPERS = ("params_ema", "params", "state_dict", "model")  # Real-ESRGAN/BasicSR first: EMA weights are the good ones
# engine.quant.artifact.FORMAT, the metadata tag of a quantized generator (engine.quant imports this module)
QUANTIZED_FORMAT = "mpsr-quantized-generator"

@dataclass
class ModelInfo:
    name: str
    display_name: str
    arch: str
    config: dict
    path: Path | None
    size_bytes: int  # file size on disk
    card: dict | None
    scale: int = 4  # output side / input side: the architecture's (archs.StagedSR.scale), read off the model


def _reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _refusal(exc: pickle.UnpicklingError) -> str:
    text = str(exc)
    match = re.search(r"GLOBAL ([\w.]+)", text)
    if match and match.group(1).rpartition(".")[2][:1].isupper():  # a class: a whole pickled model object
        return (f"refused: the file holds a pickled {match.group(1)} object, not just weights "
                "(save model.state_dict() instead)")
    if match:
        return f"refused: the file contains code, not just weights (it references {match.group(1)})"
    detail = re.search(r"(Unsupported [^\n.]*)", text)
    return ("refused: the file contains code or pickled objects, not just weights"
            + (f" ({detail.group(1).strip()})" if detail else ""))


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(len(_WRAPPERS)):  # nested wrappers, e.g. {"state_dict": {"params_ema": ...}}
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise ModelError(f"not a model: the file holds a {type(obj).__name__}, not a dict of weights", path)
    state = {}
    for key, value in obj.items():
        if isinstance(key, str) and isinstance(value, torch.Tensor):
            state[key.removeprefix("module.")] = value  # nn.DataParallel checkpoints
    if not state:
        raise ModelError("not a model: no weight tensors found", path)
    return state


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read the weights in a .safetensors/.pth/.pt/.ckpt file safely, unwrapping common containers."""
    path = Path(path)
    if not path.exists():
        raise ModelError("model file not found", path)
    if not path.is_file():
        raise ModelError("not a file", path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ModelError(f"unknown model file type {suffix or '(none)'!r}: expected {', '.join(SUFFIXES)}", path)
    if path.stat().st_size == 0:
        raise ModelError("empty file (0 bytes), not a model", path)
    if suffix == ".safetensors":
        try:
            with safetensors.safe_open(str(path), framework="pt") as f:
                quantized = (f.metadata() or {}).get("format") == QUANTIZED_FORMAT
            obj = None if quantized else safetensors.torch.load_file(path, device="cpu")
        except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"corrupt or not a safetensors file ({_reason(exc)})", path) from None
        if quantized:
            raise ModelError("this is a quantized artifact, not fp32 weights: pass it as --precision (with its "
                             "source generator as --model)", path)
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            if "Weights only load failed" in str(exc):
                raise ModelError(_refusal(exc), path) from None
            raise ModelError(f"corrupt or not a PyTorch checkpoint ({_reason(exc)})", path) from None
        except RuntimeError as exc:  # torch's own diagnosis of a damaged zip archive
            raise ModelError(f"corrupt or not a PyTorch checkpoint ({_reason(exc).split('. ')[0]})", path) from None
        except Exception:  # noqa: BLE001 - damaged pickles raise KeyError, EOFError, OSError... with no useful text
            raise ModelError("corrupt or not a PyTorch checkpoint", path) from None
    return _unwrap(obj, path)


def detect(state: Mapping[str, torch.Tensor], source: str | Path | None = None) -> tuple[str, dict, dict]:
    """Recognise a generator from its keys and shapes: ``(arch, config, state dict in our keys)``.

    Each architecture's detector (beside its definition in engine.archs) recognises its own layouts; this
    project's, and for RRDBNet BasicSR's and the original ESRGAN repository's. ``source`` names the file in errors.
    """
    state = dict(state)
    for arch, found in archs.detectors():
        if (result := found(state, source)) is not None:
            return (arch, *result)
    sample = ", ".join(list(state)[:3])
    raise ModelError(f"{archs.UNKNOWN} (its first keys: {sample})", source)


def _check_values(state: Mapping[str, torch.Tensor], source) -> None:
    """Weights must be finite floating-point numbers: integers are not weights, NaN gives a black image."""
    for key, tensor in state.items():
        if key.endswith("num_batches_tracked"):  # BatchNorm's step counter, an integer by design
            continue
        if not tensor.is_floating_point():
            raise ModelError(f"weights must be floating point, but {key} is {str(tensor.dtype).removeprefix('torch.')}",
                             source)
        if not torch.isfinite(tensor).all():
            raise ModelError(f"damaged weights: {key} holds NaN or infinite values", source)


def config_from_shapes(shapes: Mapping[str, tuple[int, ...]], source: str | Path | None = None) -> tuple[str, dict]:
    """``(arch, config)`` as :func:`detect` reads them off tensor shapes alone, nothing allocated."""
    arch, config, _ = detect({key: torch.empty(shape, device="meta") for key, shape in shapes.items()}, source)
    return arch, config


def model_from_state_dict(state: Mapping[str, torch.Tensor], source: str | Path | None = None) -> nn.Module:
    """Detect the architecture, build it and load ``state`` strictly; fp32, eval mode, CPU."""
    arch, config, ours = detect(state, source)
    _check_values(ours, source)
    with torch.device("meta"):  # no storage, no random init: the checkpoint supplies every tensor
        model = archs.build(arch, **config)
    try:
        model.load_state_dict(ours, strict=True, assign=True)
    except RuntimeError as exc:
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc)]
        detail = details[0] if len(details[0]) <= 200 else details[0][:197] + "..."
        shape = ", ".join(f"{k}={v}" for k, v in config.items())
        raise ModelError(f"weights do not fit {arch}({shape}): {detail}", source) from None
    return model.float().eval()


def read_card(path: Path) -> dict | None:
    """The model card (``<weights>.json``) beside a weights file, if there is a readable one."""
    card_path = path.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the card is descriptive; the weights alone define the model
    return card if isinstance(card, dict) else None


def known_models() -> dict[str, Path]:
    """Where the named generators' weights live (they may not exist yet)."""
    return {"esrgan": model_dir(create=False) / "realesrgan_x4plus.safetensors",
            "srgan": shipped_dir() / "srgan.safetensors"}


MISSING_HINTS = {
    "esrgan": "the default ESRGAN weights are not installed: run `mpsr models setup`",
    "srgan": "SRGAN weights are not trained yet: run `mpsr train srgan`",
}


def resolve(spec: str | Path) -> Path:
    """The weights file for "esrgan", "srgan" or a path."""
    if isinstance(spec, str) and spec.lower() in MISSING_HINTS:
        path = known_models()[spec.lower()]
        if not path.is_file():
            raise ModelError(MISSING_HINTS[spec.lower()], path)
        return path
    return Path(spec).expanduser()


def load_model(spec: str | Path) -> tuple[nn.Module, ModelInfo]:
    """Load "esrgan" (the installed default), "srgan" (the shipped weights) or a weights file."""
    path = resolve(spec)
    model = model_from_state_dict(load_state_dict(path), source=path)
    card = read_card(path)
    expected = (card or {}).get("sha256")
    if expected and sha256_file(path) != expected:
        raise ModelError(f"the file's contents changed: its SHA-256 differs from the one in its model card "
                         f"{path.with_suffix('.json').name} (damaged, or replaced without its card)", path)
    name = str((card or {}).get("name") or path.stem)
    info = ModelInfo(
        name=name,
        display_name=str((card or {}).get("display_name") or name),
        arch=model.arch_name,
        config=dict(model.config),
        path=path,
        size_bytes=path.stat().st_size,
        card=card,
        scale=model.scale,
    )
    return model, info


def describe_model(spec: str | Path) -> ModelInfo:
    """The :class:`ModelInfo` of "esrgan", "srgan" or a weights file without loading its weights where the file
    allows (a safetensors header holds the shapes); pickled checkpoints are loaded (safely) to read them."""
    path = resolve(spec)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return load_model(spec)[1]
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            quantized = (f.metadata() or {}).get("format") == QUANTIZED_FORMAT
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118 (not a dict)
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError):
        return load_model(spec)[1]  # its one-line error
    if quantized:
        return load_model(spec)[1]
    shapes = {key.removeprefix("module."): shape for key, shape in shapes.items()}
    arch, config = config_from_shapes(shapes, path)
    card = read_card(path)
    name = str((card or {}).get("name") or path.stem)
    return ModelInfo(name=name, display_name=str((card or {}).get("display_name") or name), arch=arch,
                     config=config, path=path, size_bytes=path.stat().st_size, card=card,
                     scale=archs.scale_of(arch))


def save_model(model: nn.Module, path: str | Path, card: dict) -> Path:
    """Write ``model``'s weights as safetensors and a ``.json`` model card beside them, both atomically;
    returns the path of the weights."""
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    # The path written may differ from ``path`` inside engine.files.run_files: the card goes beside it.
    path = write_atomic(path, lambda tmp: safetensors.torch.save_file(state, str(tmp), metadata={"format": "pt"}))
    name = card.get("name") or path.stem
    full = {"name": name, "display_name": card.get("display_name") or name, **card,
            "arch": model.arch_name, "config": dict(model.config), "scale": model.scale,
            "parameters": sum(p.numel() for p in model.parameters()),
            "file": path.name, "sha256": sha256_file(path)}
    text = json.dumps(full, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path.with_suffix(".json"), lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path
