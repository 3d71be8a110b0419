"""What the user asked a generator to run at, told apart once: a plan, or a quantized artifact file.

Every text the CLI or the GUI receives as a precision ("fp32", "FP32", "32,32,32,32", a preset, "16,8,8,16",
a plan .json, an artifact .safetensors) goes through :func:`parse_precision` where it is received; the rest of
the engine asks the :class:`PrecisionSpec` (``is_float``, ``label``, ``key``) instead of looking at the text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .artifact import SUFFIX
from .plan import Plan, parse_plan

FLOAT_KEY = "fp32"


@dataclass(frozen=True)
class PrecisionSpec:
    """A precision plan (``plan``) or a quantized artifact file (``artifact``); exactly one is set.

    ``text`` is what the user gave; a file is keyed by it (as given), a plan by its name, so "FP32" and
    "32,32,32,32" are the one key "fp32".
    """

    text: str
    plan: Plan | None = None
    artifact: Path | None = None

    @property
    def is_float(self) -> bool:
        return self.plan is not None and self.plan.is_float

    @property
    def is_file(self) -> bool:
        """Given as a file (artifact or plan .json): results keyed by it depend on the file's content."""
        return self.artifact is not None or str(self.text).lower().endswith(".json")

    @property
    def key(self) -> str:
        """What results, caches and reports are keyed by."""
        if self.is_float:
            return FLOAT_KEY
        if self.is_file:
            return self.text
        return self.plan.name

    @property
    def label(self) -> str:
        """Short text for reports and the GUI: files by their name."""
        return Path(self.key).name if self.is_file else self.key

    def __str__(self) -> str:
        return self.key


FP32 = PrecisionSpec(FLOAT_KEY, plan=parse_plan(FLOAT_KEY))


def parse_precision(value: str | os.PathLike | Plan | PrecisionSpec) -> PrecisionSpec:
    """The :class:`PrecisionSpec` of a precision text; bad text is a :class:`~engine.errors.PlanError`.

    An existing file that is not a plan .json, or any name ending in .safetensors, is an artifact (its
    header is read when it is loaded, see :func:`engine.quant.read_info`); anything else is a plan.
    """
    if isinstance(value, PrecisionSpec):
        return value
    if isinstance(value, Plan):
        return PrecisionSpec(value.name, plan=value)
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value).strip()
    lower = text.lower()
    if lower.endswith(SUFFIX) or (not lower.endswith(".json") and Path(text).is_file()):
        return PrecisionSpec(text, artifact=Path(text))
    return PrecisionSpec(text, plan=parse_plan(value if isinstance(value, os.PathLike) else text))
