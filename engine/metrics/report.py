"""Summaries and the Markdown rendering of an evaluation report (the paper's Table 2/3 layout)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.metrics.evaluate import Report

MEAN_KEYS = ("psnr_y", "ssim_y", "niqe", "ma", "pi", "psnr_fp32")


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
        for key in MEAN_KEYS:
            if any(key in r for r in rows):
                entry[key] = _mean([r.get(key) for r in rows])
        seconds = [r["seconds"] for r in rows]
        entry["seconds_total"] = sum(seconds) if rows else None
        entry["seconds_mean"] = sum(seconds) / len(seconds) if rows else None
        out.append(entry)
    return out


def _fmt(value: Any, digits: int, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _columns(report: Report, per_image: bool) -> list[tuple[str, Callable[[dict], str]]]:
    metrics = report.config["metrics"]
    cols: list[tuple[str, Callable[[dict], str]]] = []
    if not per_image:
        cols += [
            ("size (MB)", lambda e: "-" if e["size_bytes"] is None else f"{e['size_bytes'] / 1e6:.2f}"),
            ("vs fp32", lambda e: "-" if e["size_ratio"] is None else f"{100 * e['size_ratio']:.0f}%"),
        ]
    if "psnr" in metrics:
        cols.append(("PSNR-Y (dB)", lambda e: _fmt(e.get("psnr_y"), 2)))
    if "ssim" in metrics:
        cols.append(("SSIM-Y", lambda e: _fmt(e.get("ssim_y"), 4)))
    if "niqe" in metrics:
        cols.append(("NIQE", lambda e: _fmt(e.get("niqe"), 3)))
    if "pi" in metrics:
        cols.append(("Ma", lambda e: _fmt(e.get("ma"), 3)))
        cols.append(("PI", lambda e: _fmt(e.get("pi"), 3)))
    if any("psnr_fp32" in r for r in report.rows):
        cols.append(("PSNR to fp32 (dB)", lambda e: "-" if "psnr_fp32" not in e else _fmt(e["psnr_fp32"], 2)))
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
