"""Precision plans: which precision each stage (and optionally each block) of a generator runs at.

A plan gives every one of the four stages in :data:`engine.archs.STAGES` a :class:`Precision`, plus
optional overrides for sub-modules named by their path in the float model ("body.blocks.3",
"upsampling.0", "reconstruction.conv_last"). The innermost override wins.

Text forms accepted by :func:`parse_plan`:

* a preset: ``fp32``, ``int8``, ``mixed`` (the paper's: int16 feature extraction and reconstruction,
  int8 body and upsampling);
* bits per stage in stage order, e.g. ``16,8,8,16`` (32 = fp32, 16 = int16, 8 = int8), optionally
  followed by ``;path=bits`` overrides, e.g. ``32,8,8,32;body.blocks.3=16`` (this is also ``str(plan)``);
* a path to a JSON file ``{"stages": {"body": "int8", ...}, "blocks": {"body.blocks.3": "int16"}}``
  (stages missing from the file are fp32).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from engine.archs import STAGES
from engine.errors import PlanError


class Precision(str, Enum):
    """A numeric precision a stage can run at. New members (bf16, int4 weights) need a backend path too."""

    FP32 = "fp32"
    INT16 = "int16"
    INT8 = "int8"

    @property
    def bits(self) -> int:
        return _BITS[self]

    @classmethod
    def parse(cls, token: str | int | Precision) -> Precision:
        """``"8"``, ``8``, ``"int8"`` -> INT8; ``"16"``/``"int16"`` -> INT16; ``"32"``/``"fp32"`` -> FP32."""
        if isinstance(token, Precision):
            return token
        text = str(token).strip().lower()
        for p in cls:
            if text in (p.value, str(p.bits)):
                return p
        raise PlanError(f"unknown precision {token!r}; use one of {', '.join(_choices())}")

    def __str__(self) -> str:
        return self.value


_BITS = {Precision.FP32: 32, Precision.INT16: 16, Precision.INT8: 8}


def _choices() -> list[str]:
    return [f"{p.value} ({p.bits})" for p in Precision]


_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


@dataclass(frozen=True)
class Plan:
    """Per-stage precisions (in :data:`STAGES` order) and per-module overrides (sorted by path)."""

    stages: tuple[Precision, ...]
    blocks: tuple[tuple[str, Precision], ...] = ()

    def __post_init__(self) -> None:
        if len(self.stages) != len(STAGES):
            raise PlanError(f"a plan needs {len(STAGES)} stage precisions ({', '.join(STAGES)}), got {len(self.stages)}")
        object.__setattr__(self, "stages", tuple(Precision.parse(p) for p in self.stages))
        blocks: dict[str, Precision] = {}
        for path, p in self.blocks:
            if not isinstance(path, str) or not _PATH_RE.match(path):
                raise PlanError(f"bad module path {path!r} in plan (expected e.g. body.blocks.3)")
            if path.split(".")[0] not in STAGES or "." not in path:
                raise PlanError(f"module path {path!r} must name a module inside a stage ({', '.join(STAGES)})")
            if path in blocks:
                raise PlanError(f"module path {path!r} appears twice in plan")
            blocks[path] = Precision.parse(p)
        object.__setattr__(self, "blocks", tuple(sorted(blocks.items())))

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def uniform(cls, precision: Precision | str) -> Plan:
        return cls((Precision.parse(precision),) * len(STAGES))

    @classmethod
    def from_mapping(cls, stages: Mapping[str, str | Precision], blocks: Mapping[str, str | Precision] | None = None) -> Plan:
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise PlanError(f"unknown stage(s) {', '.join(sorted(unknown))}; stages are {', '.join(STAGES)}")
        return cls(
            tuple(Precision.parse(stages.get(s, Precision.FP32)) for s in STAGES),
            tuple((blocks or {}).items()),
        )

    @classmethod
    def from_json(cls, data: object) -> Plan:
        if not isinstance(data, dict) or not set(data) <= {"stages", "blocks"}:
            raise PlanError('plan JSON must be an object with "stages" and optionally "blocks"')
        stages, blocks = data.get("stages", {}), data.get("blocks", {})
        if not isinstance(stages, dict) or not isinstance(blocks, dict):
            raise PlanError('plan JSON "stages" and "blocks" must be objects mapping names to precisions')
        return cls.from_mapping(stages, blocks)

    def with_stage(self, stage: str, precision: Precision | str) -> Plan:
        stages = dict(zip(STAGES, self.stages))
        if stage not in stages:
            raise PlanError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        stages[stage] = Precision.parse(precision)
        return Plan.from_mapping(stages, dict(self.blocks))

    def with_block(self, path: str, precision: Precision | str) -> Plan:
        return Plan(self.stages, tuple({**dict(self.blocks), path: Precision.parse(precision)}.items()))

    # -- queries --------------------------------------------------------------------------------
    def stage(self, name: str) -> Precision:
        try:
            return self.stages[STAGES.index(name)]
        except ValueError:
            raise PlanError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}") from None

    def precision_of(self, path: str) -> Precision:
        """The precision a module path runs at: the innermost override containing it, else its stage's."""
        best, best_len = None, -1
        for block, p in self.blocks:
            if (path == block or path.startswith(block + ".")) and len(block) > best_len:
                best, best_len = p, len(block)
        return best if best is not None else self.stage(path.split(".")[0])

    @property
    def precisions(self) -> set[Precision]:
        return set(self.stages) | {p for _, p in self.blocks}

    @property
    def is_float(self) -> bool:
        return self.precisions == {Precision.FP32}

    @property
    def name(self) -> str:
        """The preset name when the plan is a preset, else ``str(plan)``."""
        for name, plan in PRESETS.items():
            if plan == self:
                return name
        return str(self)

    def to_json(self) -> dict:
        return {
            "stages": {s: p.value for s, p in zip(STAGES, self.stages)},
            "blocks": {path: p.value for path, p in self.blocks},
        }

    def __str__(self) -> str:
        text = ",".join(str(p.bits) for p in self.stages)
        return ";".join([text, *(f"{path}={p.bits}" for path, p in self.blocks)])


PRESETS: dict[str, Plan] = {
    "fp32": Plan.uniform(Precision.FP32),
    "int8": Plan.uniform(Precision.INT8),
    "mixed": Plan((Precision.INT16, Precision.INT8, Precision.INT8, Precision.INT16)),
}


def parse_plan(text: str | os.PathLike | Plan) -> Plan:
    """A plan from a preset name, ``"16,8,8,16[;path=bits...]"`` or a JSON file path; errors are :class:`PlanError`."""
    if isinstance(text, Plan):
        return text
    if isinstance(text, os.PathLike) or str(text).lower().endswith(".json"):
        return _plan_file(Path(text))
    spec = str(text).strip()
    if spec.lower() in PRESETS:
        return PRESETS[spec.lower()]
    head, *overrides = [part.strip() for part in spec.split(";")]
    tokens = [t.strip() for t in head.split(",")]
    if len(tokens) != len(STAGES):
        raise PlanError(
            f"plan {spec!r}: expected a preset ({', '.join(PRESETS)}), {len(STAGES)} comma-separated "
            f"bit widths such as 16,8,8,16, or a .json file"
        )
    blocks = []
    for item in overrides:
        path, sep, bits = item.partition("=")
        if not sep:
            raise PlanError(f"plan {spec!r}: override {item!r} must look like body.blocks.3=16")
        blocks.append((path.strip(), bits.strip()))
    return Plan(tuple(tokens), tuple(blocks))


def _plan_file(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError("plan file not found", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PlanError(f"cannot read plan: {err}", path) from None
    try:
        return Plan.from_json(data)
    except PlanError as err:
        raise PlanError(str(err), path) from None
