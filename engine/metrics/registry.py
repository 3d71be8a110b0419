"""Every metric an evaluation can compute, described once: key, label, unit, direction, reference, function.

``mpsr eval``, sweeps, the report tables and the app read this registry; adding a metric is one
:func:`register` call and nothing else. A metric's function gets a :class:`Sample` (the output, its
references, the shared pyiqa scorer) and returns its value, or a mapping of row fields when it yields
several (PI also gives Ma). It raises :class:`~engine.metrics.errors.MetricUnavailable`, with a ``reason``
code, when it cannot run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import MetricModelMissing, MetricUnavailable

if TYPE_CHECKING:  # the scorer module loads torch; the registry is read before it is (the app's start-up)
    from .iqa import IQA

HR, FP32 = "hr", "fp32"  # what a metric compares with: the ground truth, or the fp32 output of the same input


@dataclass(frozen=True)
class Column:
    """One row field a metric writes and how tables show it."""

    key: str
    header: str
    digits: int


@dataclass
class Sample:
    """One output to score and what it may be compared with; values computed once per sample."""

    sr: np.ndarray
    hr: np.ndarray | None = None
    fp32: np.ndarray | None = None
    scorer: IQA | None = None
    crop: int = 4  # pixels shaved off each border before scoring: the protocol shaves the model's scale
    _values: dict[str, Any] = field(default_factory=dict, repr=False)

    def reference(self, kind: str) -> np.ndarray:
        ref = self.hr if kind == HR else self.fp32
        if ref is None:
            raise ValueError(f"this metric needs the {'ground truth' if kind == HR else 'fp32 output'}")
        return ref

    def remember(self, key: str, result: Any) -> None:
        """Take metric ``key``'s result (a value, or the :class:`MetricUnavailable` it raised) as already known,
        so metrics built on it (PI on NIQE) reuse it instead of computing it again."""
        self._values[key] = result

    def value(self, key: str) -> Any:
        """The result of metric ``key`` on this sample (its failure, once, re-raised to every caller)."""
        if key not in self._values:
            try:
                self._values[key] = get(key).compute(self)
            except MetricUnavailable as err:
                self._values[key] = err
        result = self._values[key]
        if isinstance(result, MetricUnavailable):
            raise result
        return result


@dataclass(frozen=True)
class Metric:
    key: str  # the name in --metrics and in report configs
    label: str
    unit: str
    higher_is_better: bool
    reference: str | None  # HR, FP32, or None for a no-reference metric
    compute: Callable[[Sample], float | Mapping[str, float | None]]
    digits: int = 3
    field: str = ""  # the row field of its value (default: the key)
    also: tuple[Column, ...] = ()  # further row fields it fills, shown before its own column
    selectable: bool = True  # chosen by the user; False: added by the evaluation itself (fidelity to fp32)
    description: str = ""  # one sentence for tooltips and help: what it measures

    @property
    def needs_reference(self) -> bool:
        return self.reference is not None

    @property
    def row_key(self) -> str:
        return self.field or self.key

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def columns(self) -> tuple[Column, ...]:
        return (*self.also, Column(self.row_key, self.header, self.digits))

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    def text(self, value: float) -> str:
        """``value`` as tables and the app show it: the metric's digits and unit."""
        return f"{value:.{self.digits}f} {self.unit}" if self.unit else f"{value:.{self.digits}f}"

    def fields(self, result: float | Mapping[str, float | None]) -> dict[str, float | None]:
        return dict(result) if isinstance(result, Mapping) else {self.row_key: result}


_METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric``; a key or row field already taken is refused."""
    taken = {c.key for m in _METRICS.values() for c in m.columns}
    if metric.key in _METRICS or taken & {c.key for c in metric.columns}:
        raise ValueError(f"metric {metric.key!r} is already registered (or one of its row fields is taken)")
    _METRICS[metric.key] = metric
    return metric


def get(key: str) -> Metric:
    try:
        return _METRICS[key]
    except KeyError:
        raise ValueError(f"unknown metric {key!r}; known: {', '.join(selectable())}") from None


def all_metrics() -> list[Metric]:
    return list(_METRICS.values())


def selectable() -> list[str]:
    """Keys the user may choose, in registry (= table) order."""
    return [m.key for m in _METRICS.values() if m.selectable]


def fidelity() -> list[str]:
    """Metrics added to every quantized output's scores: how close it is to the fp32 output."""
    return [m.key for m in _METRICS.values() if m.reference == FP32]


def row_fields() -> list[str]:
    """Every row field a metric can write, in table order."""
    return [c.key for m in _METRICS.values() for c in m.columns]


def in_order(keys: Iterable[str]) -> list[str]:
    wanted = set(keys)
    return [k for k in _METRICS if k in wanted]


def score(keys: Iterable[str], sample: Sample, check: Callable[[], None] | None = None,
          step: Callable[[int, str], None] | None = None) -> dict[str, Any]:
    """The row fields of metrics ``keys`` on ``sample``; a metric that cannot run leaves its fields ``None`` and its
    reason under ``unavailable``."""
    scores: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for i, key in enumerate(keys):
        if check:
            check()
        if step:
            step(i, key)
        metric = get(key)
        try:
            scores.update(metric.fields(sample.value(key)))
        except MetricUnavailable as err:
            for column in metric.columns:
                scores.setdefault(column.key, None)
            unavailable[key] = str(err)
    if unavailable:
        scores["unavailable"] = unavailable
    return scores


def _pi(s: Sample) -> dict[str, float]:
    from . import iqa

    if missing := iqa.ma_missing_message():  # the reason the user can act on, before NIQE's
        raise MetricModelMissing(missing)
    niqe = s.value("niqe")  # first: it is cheap, and if it is undefined the slow Ma is not needed
    ma = s.scorer.ma(s.sr, s.crop)
    return {"ma": ma, "pi": iqa.pi_from(ma, niqe)}


for _metric in (
    Metric("psnr", "PSNR-Y", "dB", True, HR, lambda s: s.scorer.psnr_y(s.sr, s.reference(HR), s.crop), 2, "psnr_y",
           description="PSNR on luma against the ground truth"),
    Metric("ssim", "SSIM-Y", "", True, HR, lambda s: s.scorer.ssim_y(s.sr, s.reference(HR), s.crop), 4, "ssim_y",
           description="SSIM on luma against the ground truth"),
    Metric("niqe", "NIQE", "", False, None, lambda s: s.scorer.niqe(s.sr, s.crop), 3,
           description="Naturalness Image Quality Evaluator; lower looks more natural. No reference needed"),
    Metric("pi", "PI", "", False, None, _pi, 3, also=(Column("ma", "Ma", 3),),
           description="Perceptual Index, 0.5*((10 - Ma) + NIQE); lower looks more natural. Needs the Ma (NRQM) "
                       "model file"),
    Metric("psnr_fp32", "PSNR to fp32", "dB", True, FP32, lambda s: s.scorer.psnr_y(s.sr, s.reference(FP32), s.crop), 2,
           selectable=False, description="How close this output is to the same generator's fp32 output "
                                         "(higher = closer)"),
):
    register(_metric)
