"""The sweep file (sweep.json): a fixed schema, rewritten atomically after every row, resumed on rerun.

Rows are keyed on plan + method + QAT steps + dataset identity. Rerunning into the same folder keeps the
rows it finds and measures only the missing ones; a folder holding a sweep of another model, dataset,
method, step count, calibration or metric set is refused rather than mixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import MPSRError
from engine.files import read_json, write_json
from engine.metrics import registry

FORMAT = "mpsr-sweep"
VERSION = 1
FILE = "sweep.json"
# Config entries that must match for rows of an earlier run to be reused.
IDENTITY = ("model_sha256", "dataset_id", "method", "steps", "qat_ranges", "calib", "metrics", "tile", "overlap")

# Every measured row has exactly these keys (values may be null where "unavailable" says why).
ROW_KEYS = (
    "key", "plan", "plan_name", "method", "steps", "dataset_id", "measured", "kind", "estimate",
    "size_bytes", "latency_s", "seconds_total", *registry.row_fields(),
    "unavailable", "images", "threads", "wall_s", "finished_at",
)
# Per-image entries of a row.
IMAGE_KEYS = ("image", "seconds", *registry.row_fields())

DEFINITIONS = {
    "size_bytes": "bytes of the file the plan ships as: the quantized artifact written by "
    "engine.quant.save_artifact (integer weights, scales, plan, card), or for fp32 the float weights as "
    "safetensors; written to a temp folder and measured with stat",
    "latency_s": "median over the dataset images of the generator's wall-clock seconds per image (after one "
    "warm-up run), on the CPU with the row's thread count, through engine.upscaler.Upscaler's default tiling",
    "quality": "means over the dataset images; PSNR-Y/SSIM-Y vs HR, NIQE, Ma, PI per engine.metrics.evaluate."
    "PROTOCOL; psnr_fp32 = PSNR-Y of the plan's output vs the fp32 output",
    "quality_loss_db": "mean PSNR-Y (vs HR) of the fp32 row minus that of the plan, on the sweep's dataset",
}


def row_key(plan: str, method: str, steps: int | None, dataset_id: str) -> str:
    return f"{plan}|{method}|{steps if steps is not None else '-'}|{dataset_id}"


@dataclass
class Sweep:
    """The whole sweep file in memory."""

    config: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    recommendations: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)
    complete: bool = False

    def key(self, plan: str) -> str:
        c = self.config
        return row_key(plan, c["method"], c["steps"], c["dataset_id"])

    def row(self, plan: str) -> dict[str, Any] | None:
        key = self.key(plan)
        return next((r for r in self.rows if r["key"] == key), None)

    def put(self, row: dict[str, Any]) -> None:
        self.rows = [r for r in self.rows if r["key"] != row["key"]] + [row]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "complete": self.complete,
            "definitions": DEFINITIONS,
            "config": self.config,
            "notes": self.notes,
            "recommendations": self.recommendations,
            "files": self.files,
            "rows": self.rows,
        }

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file (the folder or its sweep.json); a file of another kind is a one-line error."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE
    data = read_json(path, FORMAT, "sweep file", sections=("config",))
    if data.get("version") != VERSION:
        raise MPSRError(f"sweep file version {data.get('version')!r} is not supported (expected {VERSION})", path)
    return Sweep(
        config=dict(data["config"]),
        rows=list(data.get("rows", [])),
        recommendations=dict(data.get("recommendations", {})),
        notes=list(data.get("notes", [])),
        files=dict(data.get("files", {})),
        complete=bool(data.get("complete", False)),
    )


def open_sweep(path: Path, config: dict[str, Any]) -> Sweep:
    """A new sweep for ``config``, or the one in ``path`` with its rows if it is of the same run."""
    if not path.exists():
        return Sweep(config=config)
    old = load_sweep(path)
    changed = [k for k in IDENTITY if old.config.get(k) != config.get(k)]
    if changed:
        raise MPSRError(
            f"holds a sweep of another run (different {', '.join(changed)}); choose another output folder or delete it",
            path,
        )
    # Spaces accumulate: a grid run after a stages run reuses the 16 plans they share.
    spaces = list(dict.fromkeys([*old.config.get("spaces", []), *config.get("spaces", [])]))
    return Sweep(config={**config, "spaces": spaces, "runs": old.config.get("runs", [])}, rows=old.rows)
