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


class Status(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ResultKey:
    model: str  # the spec given to make_upscaler: "esrgan", "srgan" or a file path
    precision: str  # "fp32", "int8", "mixed", "16,8,8,16" or an artifact path
    benchmark: bool = False  # True: the input was the image downscaled x4, the image is the reference


@dataclass
class Output:
    key: ResultKey
    picture: Any  # engine.imageio.Picture
    seconds: float  # inference time only
    info: Any  # engine.upscaler.UpscalerInfo

    @property
    def label(self) -> str:
        return f"{self.info.display_name} {precision_label(self.key.precision)}"


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
    # metrics[benchmark][source name] -> engine metric dict; source names come from source_names().
    metrics: dict[bool, dict[str, dict]] = field(default_factory=lambda: {False: {}, True: {}})

    def input_for(self, benchmark: bool):
        """The picture the generator sees in this mode (None if not loaded yet)."""
        if self.inputs is None:
            return None
        return self.inputs.lr if benchmark else self.inputs.picture

    def outputs_for(self, benchmark: bool) -> list[Output]:
        return [o for k, o in self.outputs.items() if k.benchmark == benchmark]


def precision_label(precision: str) -> str:
    """Short text for a precision spec: artifact and plan files by their name."""
    if "/" in precision or "\\" in precision or precision.endswith((".json", ".safetensors")):
        return Path(precision).name
    return precision


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
