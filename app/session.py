"""What the window knows about the images it was given: inputs, outputs and their metrics.

Plain Python, no Qt: the GUI thread owns a :class:`Session` and stores what worker jobs return.
Outputs are keyed per image by (model, precision, benchmark), so switching the generator or the
precision keeps earlier results around for A/B comparison instead of replacing them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

# The float precision's key (engine.quant.precision.FLOAT_KEY); the window uses it before torch is loaded.
FLOAT_PRECISION = "fp32"
# Sources of a side of the comparison besides the outputs: the input (enlarged) and, in benchmark mode, the original.
INPUT = "input"
REFERENCE = "reference"


class Status(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ResultKey:
    model: str  # the spec given to make_upscaler: "esrgan", "srgan" or a file path
    precision: str  # a PrecisionSpec's key: "fp32", "int8", "mixed", "8,8,32,32" or a plan/artifact path
    benchmark: bool = False  # True: the input was the image downscaled x4, the image is the reference

    def at(self, precision: str) -> ResultKey:
        """The same generator and mode at another precision (key)."""
        return ResultKey(self.model, precision, self.benchmark)


def output_id(key: ResultKey) -> str:
    """An output as a source of the comparison (the benchmark flag is the mode, not part of the source)."""
    return f"out:{key.model}|{key.precision}"


def metric_id(source_id: str, input_view: str) -> str:
    """Where a source's scores are kept: the input's depend on how it was enlarged for the view."""
    return f"{INPUT}:{input_view}" if source_id == INPUT else source_id


@dataclass
class Output:
    key: ResultKey
    picture: Any  # engine.imageio.Picture
    seconds: float  # inference time only
    info: Any  # engine.upscaler.UpscalerInfo

    @property
    def label(self) -> str:
        return f"{self.info.display_name} {self.info.precision_label}"


@dataclass
class Inputs:
    """The pictures an image yields: as read, and for benchmark mode the x4-downscaled input."""

    picture: Any  # engine.imageio.Picture, as read
    lr: Any = None  # benchmark-mode input (picture downscaled x4); None until asked for
    reference: Any = None  # benchmark-mode reference: ``picture`` cropped to a multiple of 4


@dataclass
class ImageEntry:
    id: int
    path: Path
    status: Status = Status.WAITING
    message: str = ""
    input_error: str = ""  # why the file cannot be read; such an entry is skipped, not retried
    inputs: Inputs | None = None
    outputs: dict[ResultKey, Output] = field(default_factory=dict)
    # metrics[benchmark][metric_id] -> {registry metric key: tasks.Score}
    metrics: dict[bool, dict[str, dict]] = field(default_factory=lambda: {False: {}, True: {}})

    def input_for(self, benchmark: bool):
        """The picture the generator sees in this mode (None if not loaded yet)."""
        if self.inputs is None:
            return None
        return self.inputs.lr if benchmark else self.inputs.picture

    def outputs_for(self, benchmark: bool) -> list[Output]:
        return [o for k, o in self.outputs.items() if k.benchmark == benchmark]


class Session:
    """The images in the queue, in order, with their results."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._entries: dict[int, ImageEntry] = {}

    def add(self, path: str | Path) -> ImageEntry | None:
        """Add an image; returns None if it is already queued (same resolved path)."""
        path = Path(path)
        if self.find(path) is not None:
            return None
        entry = ImageEntry(next(self._ids), path)
        self._entries[entry.id] = entry
        return entry

    def get(self, entry_id: int) -> ImageEntry | None:
        return self._entries.get(entry_id)

    def find(self, path: str | Path) -> ImageEntry | None:
        """The entry of ``path`` (same resolved path), if it is queued."""
        resolved = Path(path).resolve()
        return next((e for e in self._entries.values() if e.path.resolve() == resolved), None)

    def remove(self, entry_id: int) -> None:
        self._entries.pop(entry_id, None)

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self):
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)
