"""Sensitivity sweeps: which stages and blocks of a generator tolerate int8, and which plan fits a budget.

    path = run_sweep("esrgan", "ptq", "data/Set14", None, "sweeps/esrgan-ptq", space="stages",
                     recommend={"max_quality_loss": 0.05})

writes sweep.json (fixed schema, see :mod:`engine.sweep.store`), sweep.md and PNG plots into the folder.
"""

from .plans import SPACES, block_units, keep16, plans_for, stage_grid, stage_subsets
from .recommend import Budget, recommend_stage
from .report import to_markdown, write_report
from .store import FORMAT, VERSION, Sweep, load_sweep
from .sweep import METHODS, SweepRun, open_run, run_sweep

__all__ = [
    "FORMAT",
    "METHODS",
    "SPACES",
    "VERSION",
    "Budget",
    "Sweep",
    "SweepRun",
    "block_units",
    "keep16",
    "load_sweep",
    "open_run",
    "plans_for",
    "recommend_stage",
    "run_sweep",
    "stage_grid",
    "stage_subsets",
    "to_markdown",
    "write_report",
]
