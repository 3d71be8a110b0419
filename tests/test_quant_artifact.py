"""Quantized generators as files: bit-identical round trips, refusal of bad files, the PTQ cache, the CLI."""

from __future__ import annotations

import json
import os

import pytest
import safetensors
import safetensors.torch
import torch
from test_quant_util import one_thread, photo, to_tensor  # noqa: F401  (one_thread: autouse fixture)

from engine import archs
from engine.errors import ModelError
from engine.quant import api, load_artifact, load_precision, quantize, read_info, save_artifact
from engine.weights import load_model, save_model

CALIB = [photo(32, 32, 100, 100), photo(32, 32, 300, 200)]


@pytest.fixture
def tiny_file(tmp_path, tiny_srresnet):
    return save_model(tiny_srresnet, tmp_path / "tiny.safetensors", {"name": "tiny-srgan"})


@pytest.mark.parametrize("arch", ["tiny_rrdb", "tiny_srresnet"])
@pytest.mark.parametrize("plan", ["int8", "mixed", "16,32,8,16;body.blocks.1=8"])
def test_round_trip_is_bit_identical(arch, plan, request, tmp_path):
    q = quantize(request.getfixturevalue(arch), plan, calib=CALIB)
    path = save_artifact(q, tmp_path / "q.safetensors", {"name": "t", "note": "round trip"})
    loaded, info = load_artifact(path)
    x = to_tensor(photo(20, 24, 150, 220))
    with torch.no_grad():
        assert torch.equal(q(x), loaded(x))
    assert info.plan == q.plan and info.arch == q.arch and info.config == q.config
    assert info.card["note"] == "round trip" and info.card["plan"] == str(q.plan)
    assert info.size_bytes == path.stat().st_size
    with safetensors.safe_open(str(path), framework="pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    assert "I8" in dtypes  # int8 weights are stored as integers, not floats


@pytest.fixture
def artifact(tmp_path, tiny_rrdb):
    return save_artifact(quantize(tiny_rrdb, "mixed", calib=CALIB), tmp_path / "a.safetensors")


def _rewrite(path, *, metadata=None, tensors=None):
    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    data = safetensors.torch.load_file(str(path))
    meta.update(metadata or {})
    data.update(tensors or {})
    safetensors.torch.save_file(data, str(path), metadata=meta)


def _refused(path, match):
    with pytest.raises(ModelError, match=match) as err:
        load_artifact(path)
    text = str(err.value)
    assert "\n" not in text and text.startswith(str(path))


def test_truncated(artifact):
    data = artifact.read_bytes()
    artifact.write_bytes(data[: len(data) // 2])
    _refused(artifact, "corrupt")


def test_flipped_byte_in_weights(artifact):
    data = bytearray(artifact.read_bytes())
    data[-100] ^= 0xFF
    artifact.write_bytes(bytes(data))
    _refused(artifact, "checksum")


def test_garbage_and_empty(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(1000))
    _refused(junk, "corrupt or not a safetensors")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    _refused(empty, "corrupt or not a safetensors")
    _refused(tmp_path / "missing.safetensors", "not found")


def test_float_weights_are_not_an_artifact(tiny_file):
    _refused(tiny_file, "not a quantized generator")


def test_mismatched_arch(artifact):
    _rewrite(artifact, metadata={"arch": "srresnet", "config": json.dumps({"num_feat": 8, "num_block": 2})})
    _refused(artifact, "does not match srresnet")


def test_mismatched_config(artifact):
    _rewrite(artifact, metadata={"config": json.dumps({"num_feat": 8, "num_block": 3, "num_grow": 4})})
    _refused(artifact, "does not match rrdbnet")


def test_mismatched_plan_and_tensor_shape(artifact, tmp_path):
    _rewrite(artifact, metadata={"plan": json.dumps({"stages": {"body": "int8"}})})
    # the checksum is fine (tensors untouched) but they no longer fit the described structure
    _refused(artifact, "does not match")


def test_unknown_format_version(artifact):
    _rewrite(artifact, metadata={"version": "99"})
    _refused(artifact, "version '99'")


@pytest.mark.parametrize("headroom", ["not json", "[1, 2]", json.dumps({"body.inner.conv": "high"})])
def test_damaged_int8_headroom(artifact, headroom):
    """The headroom decides which convs run exact on a CPU without VNNI: a damaged one is refused, not guessed."""
    _rewrite(artifact, metadata={"int8_headroom": headroom})
    _refused(artifact, "corrupt artifact metadata")


def test_the_int8_headroom_survives_a_round_trip(artifact):
    qmodel, _ = load_artifact(artifact)
    assert qmodel.int8_headroom and all(v >= 0 for v in qmodel.int8_headroom.values())


def test_read_info_reads_only_metadata(artifact):
    info = read_info(artifact)
    assert str(info.plan) == "16,8,8,16" and info.arch == "rrdbnet"


def test_load_precision_caches_ptq(tmp_path, tiny_file, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "cache"))
    model, info = load_model(tiny_file)
    cached = api.cached_artifact_path(info, api.parse_plan("int8"))
    older = cached.with_name(cached.name[:-len("0123456789ab.safetensors")] + "0123456789ab.safetensors")
    other_plan = api.cached_artifact_path(info, api.parse_plan("mixed"))
    for stale in (older, other_plan):
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_bytes(b"an artifact from an older recipe")
    module, size = load_precision(model, info, "int8")
    assert cached.is_file() and size == cached.stat().st_size
    assert not older.exists() and other_plan.exists()  # same plan, older recipe: replaced; other plans kept

    def no_calibration(*args, **kwargs):
        raise AssertionError("the cached artifact should have been used")

    monkeypatch.setattr(api, "quantize", no_calibration)
    again, size2 = load_precision(str(tiny_file), None, "int8")
    x = to_tensor(photo(16, 16, 0, 0))
    with torch.no_grad():
        assert torch.equal(module(x), again(x)) and size2 == size
    fp32, fsize = load_precision(model, info, "fp32")
    assert fp32 is model and fsize == info.size_bytes


def test_load_precision_refuses_artifact_of_another_model(tmp_path, tiny_file, artifact):
    model, info = load_model(tiny_file)  # an SRResNet; the artifact is an RRDBNet
    with pytest.raises(ModelError, match="not the chosen"):
        load_precision(model, info, str(artifact))
    _, size = load_precision(*load_model(tiny_file), "fp32")
    assert size == info.size_bytes


def test_cli_quantize_and_errors(tmp_path, tiny_file, capsys):
    from engine.cli import main

    out = tmp_path / "tiny-mixed.safetensors"
    assert main(["quantize", "--model", str(tiny_file), "--plan", "16,8,8,16", "-o", str(out)]) == 0
    assert "16,8,8,16" in capsys.readouterr().out
    _, info = load_artifact(out)
    assert info.card["source_model"] == "tiny-srgan" and info.card["method"] == "ptq"
    assert main(["quantize", "--model", str(tiny_file), "--plan", "8,8", "-o", str(out)]) == 1
    assert main(["quantize", "--model", str(tiny_file), "--plan", "int8", "--calib", str(tmp_path / "none"),
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "expected a preset" in err and "no such file or folder" in err


def test_damaged_cache_entry_is_rebuilt(tmp_path, tiny_file, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "cache"))
    model, info = load_model(tiny_file)
    cached = api.cached_artifact_path(info, api.parse_plan("int8"))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\x00" * 64)
    _, size = load_precision(model, info, "int8")
    assert size == cached.stat().st_size > 64
    assert load_artifact(cached)[1].plan == api.parse_plan("int8")


@pytest.mark.parametrize("config", [{"num_feat": 20000, "num_block": 2, "num_grow": 4},
                                    {"num_feat": 8, "num_block": 9999, "num_grow": 4}])
def test_forged_config_is_refused_before_anything_is_built(artifact, monkeypatch, config):
    # Building from such a config would allocate gigabytes (num_feat) or work for minutes (num_block).
    _rewrite(artifact, metadata={"config": json.dumps(config)})

    def no_build(*args, **kwargs):
        raise AssertionError("a module was built from an unchecked config")

    monkeypatch.setattr(archs, "build", no_build)
    _refused(artifact, r"does not match rrdbnet .*its tensors are rrdbnet \{'num_feat': 8, 'num_block': 2")
