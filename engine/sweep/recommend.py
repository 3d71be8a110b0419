"""Choosing a plan under a budget: exact over measured stage plans, greedy over per-block estimates.

Budget: any of a maximum size (MB = 10**6 bytes of the shipped file), a maximum latency (median seconds
per image, as measured) and a maximum quality loss: the fp32 row's mean PSNR-Y (vs HR, on the sweep's
dataset) minus the plan's. PSNR-Y is the one quality number that is defined for every row, measured
against ground truth, and additive enough (as noise power) to estimate; NIQE/PI are reported, not searched.

Objective: with a quality budget, the fastest plan that meets every limit (then the smallest, then the
best quality); with only size/latency limits, the best quality that fits (then the fastest).

Per-block estimates (see :mod:`engine.sweep.plans` for the probes and :class:`Additive` for the model)
come from one probe row per unit; a greedy path protects units in order of fidelity gain per cost, the
budget picks among its prefixes, and the chosen plan is then measured (see :func:`block_candidates`). A
measured per-block row that ranks better (:func:`best_measured_block`) is recommended instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from engine.errors import MPSRError

from .plans import INT8, is_stage_plan, keep16, unit_of

MB = 1e6
# Quality-budget verification: how many estimated plans to measure before giving up.
MAX_CHECKS = 3


@dataclass(frozen=True)
class Budget:
    max_size_mb: float | None = None
    max_latency_s: float | None = None
    max_quality_loss: float | None = None  # dB of mean PSNR-Y below the fp32 row

    def __post_init__(self) -> None:
        limits = asdict(self)
        if all(v is None for v in limits.values()):
            raise MPSRError("a budget needs a maximum quality loss, size or latency")
        for name, value in limits.items():
            if value is not None and (not math.isfinite(value) or value < 0 or (value == 0 and name != "max_quality_loss")):
                raise MPSRError(f"budget {name} must be a positive number, got {value}")

    @classmethod
    def from_any(cls, value: Budget | Mapping[str, Any]) -> Budget:
        if isinstance(value, Budget):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise MPSRError(f"unknown budget field(s) {', '.join(sorted(unknown))}")
        return cls(**{k: None if v is None else float(v) for k, v in value.items()})

    @property
    def objective(self) -> str:
        return "fastest" if self.max_quality_loss is not None else "best-quality"

    def misses(self, figures: Mapping[str, Any], quality: bool = True) -> list[str]:
        """The limits ``figures`` (size_bytes, latency_s, quality_loss) break, as readable phrases."""
        out = []
        if quality and self.max_quality_loss is not None and not figures["quality_loss"] <= self.max_quality_loss:
            out.append(f"quality loss {figures['quality_loss']:.3f} dB > {self.max_quality_loss:g}")
        if self.max_size_mb is not None and not figures["size_bytes"] <= self.max_size_mb * MB:
            out.append(f"size {figures['size_bytes'] / MB:.2f} MB > {self.max_size_mb:g}")
        if self.max_latency_s is not None and not figures["latency_s"] <= self.max_latency_s:
            out.append(f"latency {figures['latency_s']:.3f} s > {self.max_latency_s:g}")
        return out

    def describe(self) -> str:
        parts = []
        if self.max_quality_loss is not None:
            parts.append(f"quality loss <= {self.max_quality_loss:g} dB PSNR-Y")
        if self.max_size_mb is not None:
            parts.append(f"size <= {self.max_size_mb:g} MB")
        if self.max_latency_s is not None:
            parts.append(f"latency <= {self.max_latency_s:g} s")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "objective": self.objective, "text": self.describe()}

    def rank(self, figures: Mapping[str, Any]) -> tuple:
        """Sort key: smaller is better under this budget's objective."""
        if self.objective == "fastest":
            return figures["latency_s"], figures["size_bytes"], figures["quality_loss"]
        return figures["quality_loss"], figures["latency_s"], figures["size_bytes"]


def quality_loss(row: Mapping[str, Any], reference: Mapping[str, Any]) -> float | None:
    if row.get("psnr_y") is None or reference.get("psnr_y") is None:
        return None
    return reference["psnr_y"] - row["psnr_y"]


def figures(row: Mapping[str, Any], reference: Mapping[str, Any]) -> dict[str, Any]:
    return {"size_bytes": row["size_bytes"], "latency_s": row["latency_s"], "quality_loss": quality_loss(row, reference),
            "psnr_y": row.get("psnr_y"), "psnr_fp32": row.get("psnr_fp32")}


def _no_psnr() -> MPSRError:
    return MPSRError("recommending a plan needs PSNR-Y: run the sweep with the psnr metric")


def recommend_stage(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, Any], budget: Budget) -> dict[str, Any]:
    """Exact search: the best measured stage-level row (no block overrides) under ``budget``."""
    if reference.get("psnr_y") is None:
        raise _no_psnr()
    candidates = [r for r in rows if is_stage_plan(r["plan"]) and r.get("psnr_y") is not None]
    row = _best(candidates, reference, budget)
    if row is None:
        best_q = min(candidates, key=lambda r: quality_loss(r, reference))
        small = min(candidates, key=lambda r: r["size_bytes"])
        fast = min(candidates, key=lambda r: r["latency_s"])
        raise MPSRError(
            f"none of the {len(candidates)} measured stage plans meets the budget ({budget.describe()}); "
            f"closest: loss {quality_loss(best_q, reference):.3f} dB ({best_q['plan']}), "
            f"size {small['size_bytes'] / MB:.2f} MB ({small['plan']}), latency {fast['latency_s']:.3f} s ({fast['plan']})"
        )
    return {"plan": row["plan"], "key": row["key"], "kind": "measured", "searched": len(candidates),
            "measured": figures(row, reference)}


def best_measured_block(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, Any],
                        budget: Budget) -> Mapping[str, Any] | None:
    """The best measured row with per-block overrides (a probe, or a plan checked earlier) under ``budget``.

    The estimate can miss a plan the sweep has already measured: e.g. one probe alone meets a quality budget
    because its unit carries error vs HR that fidelity gains do not show.
    """
    return _best([r for r in rows if not is_stage_plan(r["plan"]) and r.get("psnr_y") is not None], reference, budget)


def _best(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, Any], budget: Budget) -> Mapping[str, Any] | None:
    """The best-ranked of ``rows`` that meets ``budget``, or None."""
    fits = [r for r in rows if not budget.misses(figures(r, reference))]
    return min(fits, key=lambda r: budget.rank(figures(r, reference))) if fits else None


def _power(psnr: float) -> float:
    return 10.0 ** (-psnr / 10.0)


def _psnr(power: float) -> float:
    # A negative HR error estimate would need quantization to beat fp32 by more than it measured; 1e-10 is 100 dB.
    return -10.0 * math.log10(max(power, 1e-10))


class Additive:
    """Per-block estimates from the fp32 row, the all-int8 row and one keep-at-16 probe row per unit.

    Per image: each probe leaves a fraction r_u = N_u / N_int8 of the all-int8 noise (squared error to the
    fp32 output); protecting a set K leaves the product of its fractions (gains add in dB, so the estimate
    can never drop below zero noise, as a plain sum of removed noise powers can when units interact). The
    extra error vs HR of the all-int8 plan over fp32 is scaled by the same remaining fraction. Size and
    latency add the probes' differences to the all-int8 row.
    """

    def __init__(self, reference: Mapping[str, Any], base: Mapping[str, Any], probes: Mapping[str, Mapping[str, Any]]):
        if not probes:
            raise MPSRError("no per-block rows to estimate from: run the sweep with space 'blocks'")
        self.reference, self.base, self.probes = reference, base, dict(probes)
        self.units = list(self.probes)
        names = [im["image"] for im in base["images"]]
        for row in [reference, *self.probes.values()]:
            if [im["image"] for im in row["images"]] != names:
                raise MPSRError(f"row {row['plan']} was measured on other images than the all-int8 row")
        for row in [reference, base, *self.probes.values()]:
            if any(im.get("psnr_y") is None for im in row["images"]):
                raise _no_psnr()
        for row in [base, *self.probes.values()]:
            if any(im.get("psnr_fp32") is None for im in row["images"]):
                raise MPSRError(f"row {row['plan']} has no PSNR to the fp32 output on every image")
        self.ref_psnr = reference["psnr_y"]

    def estimate(self, units: Sequence[str]) -> dict[str, Any]:
        psnr_y, psnr_fp32 = [], []
        for i, (ref, base) in enumerate(zip(self.reference["images"], self.base["images"])):
            gain_db = sum(self.probes[u]["images"][i]["psnr_fp32"] - base["psnr_fp32"] for u in units)
            psnr_fp32.append(base["psnr_fp32"] + gain_db)
            remaining = 10.0 ** (-gain_db / 10.0)
            extra = _power(base["psnr_y"]) - _power(ref["psnr_y"])
            psnr_y.append(_psnr(_power(ref["psnr_y"]) + extra * remaining))
        out: dict[str, Any] = {"psnr_y": sum(psnr_y) / len(psnr_y), "psnr_fp32": sum(psnr_fp32) / len(psnr_fp32)}
        for key in ("size_bytes", "latency_s"):
            out[key] = self.base[key] + sum(self.probes[u][key] - self.base[key] for u in units)
        out["quality_loss"] = self.ref_psnr - out["psnr_y"]
        return out

    def greedy_path(self, cost: str, allowed: Callable[[Mapping[str, Any]], bool] = lambda est: True,
                    ) -> list[tuple[list[str], dict[str, Any]]]:
        """Prefixes of the greedy order, from nothing protected to the last unit that still gains fidelity.

        Each step adds, among the units whose addition keeps ``allowed(estimate)`` true, the one with the
        largest gain in PSNR to the fp32 output per unit of ``cost``. Fidelity measures the quantization
        error itself, while PSNR-Y vs HR moves by thousandths of a dB per block, within its noise.
        """
        chosen: list[str] = []
        current = self.estimate(chosen)
        path = [(list(chosen), current)]
        while True:
            best = None
            for unit in self.units:
                if unit in chosen:
                    continue
                trial = self.estimate([*chosen, unit])
                gain = trial["psnr_fp32"] - current["psnr_fp32"]
                if gain <= 0 or not allowed(trial):
                    continue
                # Measured cost deltas can be ~0 or slightly negative (timing noise): floor them.
                ratio = gain / max(trial[cost] - current[cost], 1e-9 if cost == "latency_s" else 1.0)
                if best is None or ratio > best[0]:
                    best = (ratio, unit, trial)
            if best is None:
                return path
            chosen.append(best[1])
            current = best[2]
            path.append((list(chosen), current))


def block_model(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, Any]) -> Additive:
    """The :class:`Additive` model of the per-block probe rows present in ``rows``."""
    by_plan = {r["plan"]: r for r in rows}
    if INT8 not in by_plan:
        raise MPSRError("no all-int8 row to estimate per-block plans from: run the sweep with space 'blocks'")
    probes = {}
    for row in rows:
        unit = unit_of(row["plan"])
        if unit is not None and row["kind"] == "measured":
            probes[unit] = row
    return Additive(reference, by_plan[INT8], probes)


def block_candidates(model: Additive, budget: Budget) -> list[tuple[list[str], str, dict[str, Any]]]:
    """Per-block plans whose estimate meets ``budget``, best first: (units at 16 bits, plan, estimate).

    The greedy path only takes units that keep the size/latency limits. With a quality budget the shortest
    prefix that meets it comes first (fewest units protected, so cheapest), then longer ones in case the
    measurement misses; otherwise the longest prefix (the best quality that fits), then shorter ones.
    """
    cost = "size_bytes" if budget.max_latency_s is None and budget.max_size_mb is not None and \
        budget.objective != "fastest" else "latency_s"
    path = model.greedy_path(cost, lambda est: not budget.misses(est, quality=False))
    fits = [(units, keep16(units), est) for units, est in path if not budget.misses(est)]
    if not fits:
        last_units, last = path[-1]
        raise MPSRError(
            f"no per-block plan meets the budget ({budget.describe()}) by estimate: with "
            f"{len(last_units)} of {len(model.units)} units at 16 bits the estimate is still "
            f"{'; '.join(budget.misses(last))}"
        )
    return fits if budget.objective == "fastest" else fits[::-1]
