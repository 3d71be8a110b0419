"""What a job of the main window is about."""

from __future__ import annotations

from typing import NamedTuple


class Work(NamedTuple):
    """What a job is about, for looking through the pending jobs (its outcome goes to its own handlers)."""

    kind: str
    entry_id: int | None = None
    key: object = None  # an upscale's ResultKey; the benchmark flag of a load or metrics job
