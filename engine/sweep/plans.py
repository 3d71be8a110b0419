"""The plans a sweep measures: stage subsets (the paper's Figure 7), the 81-plan stage grid, per-block units.

Plans are carried as their text form (``str(plan)``, e.g. ``8,32,32,32`` or ``8,8,8,8;body.blocks.3=16``)
because that is what rows are keyed on and what ``mpsr quantize --plan`` accepts.

Per-block sensitivity is measured from the all-int8 corner: one row per *unit* with that unit kept at
16 bits and everything else int8. That is the neighbourhood the recommender searches (mostly int8, a
few units protected), so the gains it adds up are measured in the context they are used in. The
opposite probe (one unit int8, the rest fp32) measures each unit's noise with a float context, which
is not the context of the chosen plan, and its tiny latency deltas would be lost in timing noise.
"""

from __future__ import annotations

import itertools

from torch import nn

from engine.archs import STAGES
from engine.quant import Plan, Precision, override_targets, parse_plan

SPACES = ("stages", "grid", "blocks")
FP32 = str(Plan.uniform(Precision.FP32))
INT8 = str(Plan.uniform(Precision.INT8))
MIXED = str(parse_plan("mixed"))
# Stages that are one or two convs are protected whole; the body and upsampling are split into blocks.
WHOLE_STAGES = ("feature_extraction", "reconstruction")
_GRID_PRECISIONS = (Precision.FP32, Precision.INT16, Precision.INT8)


def stage_subsets() -> list[str]:
    """The 15 plans with a non-empty set of stages at int8 and the rest fp32, in Figure 7's order."""
    plans = []
    for size in range(1, len(STAGES) + 1):
        for chosen in itertools.combinations(range(len(STAGES)), size):
            plans.append(str(Plan(tuple(Precision.INT8 if i in chosen else Precision.FP32 for i in range(len(STAGES))))))
    return plans


def stage_grid() -> list[str]:
    """All 3**4 = 81 stage plans over {fp32, int16, int8}."""
    return [str(Plan(combo)) for combo in itertools.product(_GRID_PRECISIONS, repeat=len(STAGES))]


def _has_weights(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) and not isinstance(module, nn.modules.batchnorm._BatchNorm)


def block_units(model: nn.Module) -> list[str]:
    """What per-block plans switch: the head and tail stages whole, each block of the body and upsampling.

    A unit inside a stage is a direct child with weights, or each child with weights of a container child
    (``body.blocks`` -> ``body.blocks.0`` ...). BatchNorm is skipped: it is folded into the conv before it.
    """
    targets = set(override_targets(model))
    units = list(WHOLE_STAGES[:1])
    for stage in STAGES:
        if stage in WHOLE_STAGES:
            continue
        for name, child in getattr(model, stage).named_children():
            path = f"{stage}.{name}"
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                units += [f"{path}.{n}" for n, c in child.named_children() if _has_weights(c)]
            elif _has_weights(child):
                units.append(path)
    units.append(WHOLE_STAGES[1])
    return [u for u in units if u in STAGES or u in targets]


def keep16(units: list[str] | tuple[str, ...], base: str = INT8) -> str:
    """``base`` with each unit (a whole stage or a block path) at int16."""
    plan = parse_plan(base)
    for unit in units:
        plan = plan.with_stage(unit, Precision.INT16) if unit in STAGES else plan.with_block(unit, Precision.INT16)
    return str(plan)


def protected_units(plan_text: str) -> list[str]:
    """The stages and blocks ``plan_text`` keeps above int8, in plan order."""
    plan = parse_plan(plan_text)
    stages = [s for s, p in zip(STAGES, plan.stages) if p is not Precision.INT8]
    return [*stages, *(path for path, p in plan.blocks if p is not Precision.INT8)]


def unit_of(plan_text: str) -> str | None:
    """The unit a per-block probe keeps at 16 bits, or None when ``plan_text`` is not such a probe."""
    plan = parse_plan(plan_text)
    if plan.blocks:
        if len(plan.blocks) == 1 and plan.stages == parse_plan(INT8).stages and plan.blocks[0][1] is Precision.INT16:
            return plan.blocks[0][0]
        return None
    raised = [s for s, p in zip(STAGES, plan.stages) if p is not Precision.INT8]
    if len(raised) == 1 and raised[0] in WHOLE_STAGES and plan.stage(raised[0]) is Precision.INT16:
        return raised[0]
    return None


def int8_stages_label(plan_text: str) -> str | None:
    """Figure 7's label ("1,3") for a plan whose stages are each int8 or fp32 without overrides, else None."""
    plan = parse_plan(plan_text)
    if plan.blocks or not set(plan.stages) <= {Precision.FP32, Precision.INT8}:
        return None
    chosen = [str(i + 1) for i, p in enumerate(plan.stages) if p is Precision.INT8]
    return ",".join(chosen) if chosen else None


def is_stage_plan(plan_text: str) -> bool:
    return not parse_plan(plan_text).blocks


def plans_for(space: str, model: nn.Module) -> list[str]:
    """The plans of ``space`` in measuring order, always with the fp32 reference first and the paper's mixed."""
    if space == "stages":
        body = stage_subsets()
    elif space == "grid":
        body = stage_grid()
    elif space == "blocks":
        body = [INT8, *(keep16([u]) for u in block_units(model))]
    else:
        raise ValueError(f"unknown sweep space {space!r}; choose from {', '.join(SPACES)}")
    return list(dict.fromkeys([FP32, *body, MIXED]))
