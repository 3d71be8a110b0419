"""What one kind of long job (QAT retraining, a sweep) is, apart from its widgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.jobs import CancelToken, ProgressFn

JobFn = Callable[[ProgressFn, CancelToken], Any]
Values = dict[str, Any]


@dataclass(frozen=True)
class JobKind:
    """A form's job: its names, which values may start, the CPU warning rule, its jobs and its resume note.

    ``estimate`` and ``job`` take the values and the device setting; ``warns`` takes the device setting and
    says whether the run must be measured and confirmed first; ``resume_note`` says what an earlier run left.
    """

    title: str
    start_text: str
    check: Callable[[Values], str | None]
    warns: Callable[[str], bool]
    estimate: Callable[[Values, str], JobFn]
    job: Callable[[Values, str], JobFn]
    resume_note: Callable[[Values], str | None]


def check_paths(values: Values) -> str | None:
    """Why the data folder or the output cannot start a job, or None."""
    if not values["data"] or not Path(values["data"]).is_dir():
        return f"Choose a data folder first ({values['data'] or 'none given'})."
    if not values["out"]:
        return "Choose where the results go first."
    return None
