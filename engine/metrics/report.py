"""Evaluation reports: what was run, one row per (method, image), their summaries and the Markdown table
(the paper's Table 2/3 layout). Columns and means come from the metric registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import files
from engine.errors import MPSRError
from engine.files import check_document, read_json

from . import registry

FORMAT = "mpsr-eval/1"
BICUBIC = "bicubic"
PROTOCOL = {
    "hr": "8-bit RGB, cropped at the bottom/right to a multiple of the model's scale s (config 'scale')",
    "lr": "MATLAB imresize(HR, 1/s): bicubic with antialiasing (pyiqa.matlab_utils.imresize, as BasicSR), "
    "rounded to 8 bits",
    "bicubic": "MATLAB bicubic imresize(LR, s), rounded to 8 bits",
    "outputs": "clipped to [0,1] and rounded to 8 bits",
    "metrics": "Y of BT.601 YCbCr (MATLAB rgb2ycbcr), s-px border crop; PSNR on unrounded Y, "
    "SSIM/NIQE/Ma on rounded Y (pyiqa); PI = 0.5*((10-Ma)+NIQE); psnr_fp32 = PSNR-Y to the fp32 output",
    "time": "generator wall clock per image after one warm-up run",
}


@dataclass
class Report:
    """An evaluation report: what was run, one row per (method, image), and the notes to show."""

    config: dict[str, Any]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complete: bool = False
    # (method, image) of the rows this process scored; they win over the same rows on disk when saving
    fresh: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)
    # methods whose saved rows no longer count (their precision file changed): not taken back from disk
    discarded: set[str] = field(default_factory=set, repr=False, compare=False)

    def row(self, method: str, image: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["method"] == method and r["image"] == image), None)

    def methods(self) -> list[str]:
        """Bicubic, then fp32 (other precisions are compared with its outputs), then the rest in order."""
        return [BICUBIC, *sorted(self.config["precisions"], key=lambda p: p != "fp32")]

    def summary(self) -> list[dict[str, Any]]:
        """Per method: mean metrics over the images done so far, total and mean time, sizes."""
        return summarize(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "complete": self.complete,
            "protocol": PROTOCOL,
            "config": self.config,
            "models": self.models,
            "notes": self.notes,
            "summary": self.summary(),
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            config=dict(data["config"]),
            models=dict(data.get("models", {})),
            rows=list(data.get("rows", [])),
            notes=list(data.get("notes", [])),
            complete=bool(data.get("complete", False)),
        )

    def put(self, row: dict[str, Any]) -> None:
        """Add or replace the row of ``row``'s (method, image), scored by this process."""
        key = (row["method"], row["image"])
        self.rows = [r for r in self.rows if (r["method"], r["image"]) != key] + [row]
        self.fresh.add(key)

    def absorb(self, other: Report) -> None:
        """Take in what another run of the same evaluation saved: its rows, precisions and models."""
        ours = {(r["method"], r["image"]): r for r in self.rows}
        merged = {(r["method"], r["image"]): r for r in other.rows if r["method"] not in self.discarded}
        for key, row in ours.items():
            if key in self.fresh or key not in merged:
                merged[key] = row
        self.rows = list(merged.values())
        precisions = list(dict.fromkeys([*other.config["precisions"], *self.config["precisions"]]))
        metrics = registry.in_order({*other.config["metrics"], *self.config["metrics"]})
        self.config = {**self.config, "precisions": precisions, "metrics": metrics}
        self.models = {**other.models, **self.models}  # notes stay this run's: they describe the set-up now

    def all_rows_present(self) -> bool:
        have = {(r["method"], r["image"]) for r in self.rows}
        return all((m, img) in have for m in self.methods() for img in self.config["images"])

    def save(self, path: Path) -> None:
        """Merge with the report at ``path`` (another run's rows are kept), write it and its Markdown table."""
        path = Path(path)
        md = markdown_path(path)
        files.make_folder(path.parent)
        with files.folder_lock(path.parent):
            check_markdown_is_ours(md, path)

            def merge(current: dict | None) -> dict:
                if current is not None:
                    other = parse_report(current, path)
                    check_same_run(other.config, self.config, path)
                    self.absorb(other)
                self.complete = self.complete and self.all_rows_present()
                return self.to_json()

            files.update_json(path, merge, what="the evaluation report")
            files.write_text(md, f"{MARKDOWN_TAG}{path.name} -->\n{to_markdown(self)}", what="the Markdown table")


# First line of the Markdown table written beside a report: marks it as ours, safe to rewrite.
MARKDOWN_TAG = "<!-- written by mpsr eval from "


def markdown_path(report_path: str | Path) -> Path:
    return Path(report_path).with_suffix(".md")


def check_markdown_is_ours(md: Path, report_path: Path) -> None:
    """Refuse to replace a .md beside the report unless this program wrote it (a user's notes are kept)."""
    try:
        with md.open(encoding="utf-8") as f:
            first = f.readline().strip()
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError):
        first = ""
    if first.startswith(MARKDOWN_TAG):
        return
    if report_path.exists():  # a table written before the tag existed starts with its report's title
        try:
            if first == f"### {title(load_report(report_path))}":
                return
        except MPSRError:
            pass
    raise MPSRError("exists and was not written by mpsr eval; it would be replaced by the report's table: move it "
                    "or choose another --out", md)


def parse_report(data: object, path: str | Path) -> Report:
    """A :class:`Report` from a report document; anything malformed is one line naming the file."""
    data = check_document(data, path, FORMAT, "evaluation report", sections=("config",))
    try:
        report = Report.from_json(data)
        to_markdown(report)  # touches every field the report's users read
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise MPSRError(f"not a usable mpsr evaluation report: damaged or edited ({type(err).__name__}: {err})",
                        path) from None
    return report


def load_report(path: str | Path) -> Report:
    return parse_report(read_json(path, FORMAT, "evaluation report", sections=("config",)), path)


def check_same_run(old: dict[str, Any], config: dict[str, Any], out: Path) -> None:
    """Rows of ``old``'s run can be kept in ``config``'s report only if they measure the same thing."""
    fixed = ("dataset_dir", "images", "scale", "model_sha256", "tile", "overlap")
    changed = [f"{k} {old.get(k)} -> {config.get(k)}" if k in ("tile", "overlap") else k
               for k in fixed if old.get(k) != config.get(k)]
    if changed:
        raise MPSRError(
            f"holds a report of another run (different {', '.join(changed)}); choose another --out or delete it", out
        )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarize(report: Report) -> list[dict[str, Any]]:
    """One entry per method: means over the images scored so far, total and mean time, model sizes."""
    out = []
    for method in report.methods():
        rows = [r for r in report.rows if r["method"] == method]
        model = report.models.get(method, {})
        size, fp32_size = model.get("size_bytes"), report.config.get("fp32_size_bytes")
        entry: dict[str, Any] = {
            "method": method,
            "images": len(rows),
            "size_bytes": size,
            "fp32_size_bytes": fp32_size,
            "size_ratio": size / fp32_size if size and fp32_size else None,
        }
        for key in registry.row_fields():
            if any(key in r for r in rows):
                entry[key] = _mean([r.get(key) for r in rows])
        seconds = [r["seconds"] for r in rows]
        entry["seconds_total"] = sum(seconds) if rows else None
        entry["seconds_mean"] = sum(seconds) / len(seconds) if rows else None
        out.append(entry)
    return out


def _fmt(value: Any, digits: int, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _column(column: registry.Column, absent: str | None = None) -> tuple[str, Callable[[dict], str]]:
    def cell(e: dict) -> str:
        return absent if absent is not None and column.key not in e else _fmt(e.get(column.key), column.digits)

    return column.header, cell


def _columns(report: Report, per_image: bool) -> list[tuple[str, Callable[[dict], str]]]:
    metrics = report.config["metrics"]
    cols: list[tuple[str, Callable[[dict], str]]] = []
    if not per_image:
        cols += [
            ("size (MB)", lambda e: "-" if e["size_bytes"] is None else f"{e['size_bytes'] / 1e6:.2f}"),
            ("vs fp32", lambda e: "-" if e["size_ratio"] is None else f"{100 * e['size_ratio']:.0f}%"),
        ]
    fidelity = set(registry.fidelity())
    for metric in registry.all_metrics():
        if metric.key in fidelity:
            continue
        if metric.key in metrics:
            cols += [_column(c) for c in metric.columns]
    for metric in registry.all_metrics():  # shown where a row has it: quantized outputs vs the fp32 output
        if metric.key in fidelity and any(metric.row_key in r for r in report.rows):
            cols += [_column(c, absent="-") for c in metric.columns]
    if per_image:
        cols.append(("time (s)", lambda e: _fmt(e["seconds"], 3)))
    else:
        cols += [
            ("time total (s)", lambda e: _fmt(e["seconds_total"], 2)),
            ("time / image (s)", lambda e: _fmt(e["seconds_mean"], 3)),
        ]
    return cols


def _other_reasons(report: Report) -> dict[str, list[str]]:
    """Why single cells are n/a (a flat output, a tiny image), beyond the report-wide notes."""
    reasons: dict[str, list[str]] = {}
    for r in report.rows:
        for reason in r.get("unavailable", {}).values():
            where = reasons.setdefault(reason, [])
            if reason not in report.notes and f"{r['method']} {r['image']}" not in where:
                where.append(f"{r['method']} {r['image']}")
    return {reason: where for reason, where in reasons.items() if where}


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(x) + " |" for x in lines]


def title(report: Report) -> str:
    cfg = report.config
    return f"{cfg['model_name']} ({cfg['arch']}) on {cfg['dataset']}, x{cfg['scale']}, {len(cfg['images'])} images"


def to_markdown(report: Report, *, per_image: bool = True) -> str:
    """The summary table (per method) and, optionally, the per-image table, with the notes."""
    cfg = report.config
    n = len(cfg["images"])
    lines = [f"### {title(report)}", ""]
    cpus = sorted({m["cpu"] for m in report.models.values() if m.get("cpu")})
    if cpus:
        lines += [f"CPU: {'; '.join(cpus)}", ""]
    cols = _columns(report, per_image=False)
    summary = report.summary()
    lines += _table(["method", *[c[0] for c in cols]], [[e["method"], *[f(e) for _, f in cols]] for e in summary])
    total = n * len(report.methods())
    if not report.complete:
        lines += ["", f"Incomplete: {len(report.rows)} of {total} rows; run the same command again to continue."]
    for note in report.notes:
        lines += ["", note]
    for reason, where in _other_reasons(report).items():
        lines += ["", f"{reason} ({', '.join(where)})"]
    if per_image and report.rows:
        cols = _columns(report, per_image=True)
        order = {m: i for i, m in enumerate(report.methods())}
        images = {name: i for i, name in enumerate(cfg["images"])}
        rows = sorted(report.rows, key=lambda r: (images.get(r["image"], n), order.get(r["method"], len(order))))
        lines += ["", "Per image:", ""]
        lines += _table(["image", "method", *[c[0] for c in cols]],
                        [[r["image"], r["method"], *[f(r) for _, f in cols]] for r in rows])
    return "\n".join(lines) + "\n"
