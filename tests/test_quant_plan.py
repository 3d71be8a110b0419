"""Precision plans: presets, the bits notation, JSON files, overrides and their validation."""

from __future__ import annotations

import itertools
import json

import pytest

from engine.archs import STAGES
from engine.errors import PlanError
from engine.quant import PRESETS, Plan, Precision, parse_plan

I8, I16, F32 = Precision.INT8, Precision.INT16, Precision.FP32


def test_presets():
    assert parse_plan("fp32").stages == (F32,) * 4
    assert parse_plan("INT8").stages == (I8,) * 4
    mixed = parse_plan("mixed")
    assert dict(zip(STAGES, mixed.stages)) == {
        "feature_extraction": I16, "body": I8, "upsampling": I8, "reconstruction": I16}
    assert str(mixed) == "16,8,8,16" and mixed.name == "mixed"
    assert parse_plan("16,8,8,16") == mixed
    assert parse_plan("fp32").is_float and not mixed.is_float


@pytest.mark.parametrize("bits", list(itertools.product(("32", "16", "8"), repeat=4)))
def test_all_81_combinations_round_trip(bits, tmp_path):
    text = ",".join(bits)
    plan = parse_plan(text)
    assert str(plan) == text
    assert [p.bits for p in plan.stages] == [int(b) for b in bits]
    assert parse_plan(str(plan)) == plan
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_precision_tokens():
    assert Precision.parse("int16") is I16 and Precision.parse(8) is I8 and Precision.parse(" FP32 ") is F32
    assert parse_plan("int16, 8, fp32, 16").stages == (I16, I8, F32, I16)
    with pytest.raises(PlanError, match="unknown precision '4'"):
        parse_plan("4,8,8,8")


@pytest.mark.parametrize("text", ["8,8,8", "8,8,8,8,8", "", "int9", "8;;", "16,8,8,16;body.blocks.3"])
def test_malformed_text_is_one_line_plan_error(text):
    with pytest.raises(PlanError) as err:
        parse_plan(text)
    assert "\n" not in str(err.value)


def test_overrides_in_text_and_lookup():
    plan = parse_plan("32,8,8,32;body.blocks.3=16;body.blocks.3.rdb1=32")
    assert plan.blocks == (("body.blocks.3", I16), ("body.blocks.3.rdb1", F32))
    assert plan.precision_of("body.blocks.3.rdb1.conv1") is F32  # innermost override wins
    assert plan.precision_of("body.blocks.3.rdb2") is I16
    assert plan.precision_of("body.blocks.30") is I8  # a prefix of the name is not a parent
    assert plan.precision_of("reconstruction.conv_last") is F32
    assert parse_plan(str(plan)) == plan
    assert plan.with_block("upsampling.0", "8").precision_of("upsampling.0.conv") is I8
    assert plan.with_stage("body", "16").stage("body") is I16


@pytest.mark.parametrize("path", ["body", "nostage.x", "body..x", "body.blocks.3 ", "3.body"])
def test_bad_override_paths(path):
    with pytest.raises(PlanError):
        Plan((I8,) * 4, ((path, I16),))


def test_json_file(tmp_path):
    f = tmp_path / "plan.json"
    f.write_text(json.dumps({"stages": {"body": "int8", "upsampling": 8}, "blocks": {"body.blocks.0": "int16"}}))
    plan = parse_plan(str(f))
    assert plan.stages == (F32, I8, I8, F32)  # stages missing from the file are fp32
    assert plan.blocks == (("body.blocks.0", I16),)
    assert parse_plan(f) == plan


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "cannot read plan"),
        ('{"stages": {"neck": "int8"}}', "unknown stage"),
        ('{"stages": {"body": "int3"}}', "unknown precision"),
        ('{"stages": [8, 8, 8, 8]}', "must be objects"),
        ('{"precision": "int8"}', "must be an object"),
    ],
)
def test_bad_json_files_name_the_file(tmp_path, content, match):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(PlanError, match=match) as err:
        parse_plan(str(f))
    assert str(err.value).startswith(str(f))


def test_missing_plan_file(tmp_path):
    with pytest.raises(PlanError, match="not found"):
        parse_plan(str(tmp_path / "nope.json"))


def test_presets_are_hashable_and_named():
    assert len({*PRESETS.values()}) == 3
    assert {p.name for p in PRESETS.values()} == set(PRESETS)
    assert parse_plan("8,16,8,16").name == "8,16,8,16"
