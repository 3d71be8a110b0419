"""One reading of a precision text: FP32 and 32,32,32,32 are the float path, artifacts are read by their header."""

from __future__ import annotations

import pytest
import torch
from test_quant_util import photo, one_thread  # noqa: F401  (one_thread: autouse fixture)

from engine import archs, upscaler
from engine.errors import ModelError, PlanError
from engine.quant import api, parse_precision, quantize, save_artifact
from engine.upscaler import make_upscaler
from engine.weights import save_model

CALIB = [photo(32, 32, 100, 100)]


@pytest.mark.parametrize("text", ["fp32", "FP32", " fp32 ", "32,32,32,32", "32,32,32,32;body.blocks.0=32"])
def test_every_spelling_of_float_is_one_float_spec(text):
    spec = parse_precision(text)
    assert spec.is_float and spec.key == "fp32" and spec.label == "fp32" and spec.artifact is None


def test_plans_are_keyed_by_their_name_and_files_by_their_path(tmp_path):
    assert parse_precision("INT8").key == "int8"
    assert parse_precision("16,8,8,16").key == "mixed"  # the same plan as the preset: one result, one cache
    assert parse_precision("8,8,32,32").key == "8,8,32,32" and not parse_precision("8,8,32,32").is_float
    plan = tmp_path / "p.json"
    plan.write_text('{"stages": {"body": "int8"}}')
    spec = parse_precision(str(plan))
    assert spec.plan is not None and spec.key == str(plan) and spec.label == "p.json" and spec.is_file
    art = parse_precision(str(tmp_path / "q.safetensors"))
    assert art.artifact is not None and art.plan is None and not art.is_float and art.label == "q.safetensors"
    with pytest.raises(PlanError):
        parse_precision("16,8")


@pytest.mark.parametrize("text", ["FP32", "32,32,32,32"])
def test_float_spellings_run_the_float_path(text, tiny_rrdb_file, monkeypatch):
    """The bug of issue 17: these took the quantized branch, pinned to the CPU without channels-last."""
    monkeypatch.setattr(upscaler, "default_device", lambda: "meta")  # the device the float path must choose
    monkeypatch.setattr(api, "load_precision", lambda *a, **k: pytest.fail("took the quantized branch"))
    up = make_upscaler(tiny_rrdb_file, text, tile=0)
    assert up.info.precision == "fp32" and up.info.device == "meta"
    weight = up.module.feature_extraction.conv.weight
    assert weight.device.type == "meta" and weight.is_contiguous(memory_format=torch.channels_last)


@pytest.fixture
def artifact(tmp_path, tiny_rrdb):
    return save_artifact(quantize(tiny_rrdb, "int8", calib=CALIB), tmp_path / "a.safetensors")


def test_an_artifact_precision_does_not_load_the_float_weights(tiny_rrdb_file, artifact, monkeypatch):
    monkeypatch.setattr(upscaler, "load_model", lambda *a: pytest.fail("loaded the fp32 checkpoint"))
    monkeypatch.setattr(api, "load_model", lambda *a: pytest.fail("loaded the fp32 checkpoint"))
    up = make_upscaler(tiny_rrdb_file, str(artifact), tile=0)
    assert up.info.precision == str(artifact) and up.info.device == "cpu"
    assert up.upscale_array(photo(8, 8, 10, 10)).shape == (32, 32, 3)


def test_a_mismatched_artifact_is_refused_from_its_header(tmp_path, artifact, monkeypatch):
    other = save_model(archs.build("rrdbnet", num_feat=8, num_block=3, num_grow=4).eval(), tmp_path / "o.safetensors",
                       {"name": "other"})
    monkeypatch.setattr(api, "load_artifact", lambda *a: pytest.fail("loaded the artifact's tensors"))
    with pytest.raises(ModelError, match="not the chosen"):
        make_upscaler(other, str(artifact), tile=0)


def test_output_names_take_the_precision_as_parsed(tmp_path):
    from engine.outputs import default_suffix

    assert default_suffix("esrgan", parse_precision("FP32")) == "_esrgan_fp32_x4"
    assert default_suffix("esrgan", parse_precision("16,8,8,16")) == "_esrgan_mixed_x4"
    artifact = parse_precision(str(tmp_path / "my q.safetensors"))
    assert default_suffix(tmp_path / "net.pth", artifact, scale=2) == "_net_my-q_x2"
