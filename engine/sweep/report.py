"""The human side of a sweep: sweep.md (tables like the paper's Figure 7) and PNG plots.

Plots use matplotlib's object API with the Agg canvas (no pyplot, no GUI backend), so the engine stays
Qt-free and thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.archs import STAGES
from engine.files import write_atomic

from .plans import FP32, INT8, MIXED, int8_stages_label, is_stage_plan, stage_grid, stage_subsets, unit_of
from .recommend import MB, quality_loss
from .store import DEFINITIONS, Sweep

MARKDOWN = "sweep.md"
PLOTS = {"stages": "sensitivity_stages.png", "blocks": "sensitivity_blocks.png", "pareto": "pareto.png"}
PRESET_STYLE = {"fp32": ("s", "black"), "int8": ("^", "tab:red"), "mixed": ("D", "tab:orange")}


def _f(value: Any, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _unit_key(unit: str) -> tuple:
    parts = unit.split(".")
    return (STAGES.index(parts[0]), *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts[1:]))


def probes(sweep: Sweep) -> list[tuple[str, dict[str, Any]]]:
    """(unit, row) of the per-block probe rows, in network order."""
    found = [(unit_of(r["plan"]), r) for r in sweep.rows if r["kind"] == "measured"]
    return sorted(((u, r) for u, r in found if u is not None), key=lambda item: _unit_key(item[0]))


def _row_cells(row: dict[str, Any], reference: dict[str, Any] | None) -> list[str]:
    loss = quality_loss(row, reference) if reference else None
    return [
        f"`{row['plan']}`", f"{row['size_bytes'] / MB:.3f}", f"{row['latency_s']:.4f}", _f(row.get("psnr_y"), 3),
        _f(loss, 3), _f(row.get("ssim_y"), 4), _f(row.get("niqe"), 3), _f(row.get("pi"), 3),
        "-" if row["plan"] == FP32 else _f(row.get("psnr_fp32"), 2),
    ]


_COLUMNS = ["plan", "size (MB)", "latency (s)", "PSNR-Y (dB)", "loss (dB)", "SSIM-Y", "NIQE", "PI", "PSNR to fp32 (dB)"]


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(c) + " |" for c in lines)]


def to_markdown(sweep: Sweep) -> str:
    c = sweep.config
    reference = sweep.row(FP32)
    qat = f", {c['steps']} QAT steps per row" if c["method"] == "qat" else ""
    measured = [r for r in sweep.rows if r["measured"]]
    runs = "; ".join(f"{r['space']} with {r['workers']} worker(s), {r['rows_measured']} rows in {r['elapsed_s']:.0f} s"
                     for r in c.get("runs", []))
    out = [
        (f"# Sensitivity sweep: {c['model_name']} ({c['arch']}), {c['method'].upper()}{qat}, "
         f"{c['dataset']} ({len(c['images'])} images)"),
        "",
        (f"{len(measured)} rows, all measured; time spent producing them (calibration/training + inference + "
         f"metrics, summed over rows): {sum(r['wall_s'] for r in measured):.0f} s. Runs: {runs}."),
        (f"Calibration/training images: {c['calibration']['source']} ({c['calibration']['used_for']}); "
         "never the evaluation set."),
        "",
        f"- size: {DEFINITIONS['size_bytes']}",
        f"- latency: {DEFINITIONS['latency_s']}",
        f"- quality: {DEFINITIONS['quality']}; loss: {DEFINITIONS['quality_loss_db']}",
        "",
    ]
    subsets = [(int8_stages_label(p), sweep.row(p)) for p in stage_subsets() if sweep.row(p)]
    if subsets and {"stages", "grid"} & set(c["spaces"]):
        out += ["## Stage subsets at int8, the rest fp32 (the paper's Figure 7)", "",
                "Stages: " + ", ".join(f"{i + 1} {s.replace('_', ' ')}" for i, s in enumerate(STAGES)) + ".", ""]
        lines = [[label, *_row_cells(r, reference)] for label, r in subsets]
        if reference:
            lines.append(["none (fp32)", *_row_cells(reference, reference)])
        out += [*_table(["stages int8", *_COLUMNS], lines), ""]
    grid = [sweep.row(p) for p in stage_grid() if sweep.row(p)]
    if "grid" in c["spaces"]:
        out += [f"## Stage grid over fp32/int16/int8 ({len(grid)} of 81 plans)", "",
                *_table(_COLUMNS, [_row_cells(r, reference) for r in grid]), ""]
    found = probes(sweep)
    base = sweep.row(INT8)
    if found and base:
        out += ["## Per-block sensitivity: all int8, one unit kept at 16 bits", "",
                (f"All-int8 row `{INT8}`: PSNR to fp32 {_f(base.get('psnr_fp32'), 2)} dB, "
                 f"PSNR-Y {_f(base.get('psnr_y'), 3)} dB, latency {base['latency_s']:.4f} s, "
                 f"size {base['size_bytes'] / MB:.3f} MB. Gains and costs are each probe minus the all-int8 row."), ""]
        lines = []
        for unit, r in found:
            gain = None if r.get("psnr_fp32") is None or base.get("psnr_fp32") is None else r["psnr_fp32"] - base["psnr_fp32"]
            gain_y = None if r.get("psnr_y") is None or base.get("psnr_y") is None else r["psnr_y"] - base["psnr_y"]
            lines.append([unit, _f(r.get("psnr_fp32"), 2), _f(gain, 3), _f(gain_y, 4), f"{r['latency_s']:.4f}",
                          f"{r['latency_s'] - base['latency_s']:+.4f}", f"{(r['size_bytes'] - base['size_bytes']) / MB:+.3f}"])
        out += [*_table(["unit at 16 bits", "PSNR to fp32 (dB)", "gain (dB)", "PSNR-Y gain (dB)", "latency (s)",
                         "latency cost (s)", "size cost (MB)"], lines), ""]
    out += _recommendation_markdown(sweep, reference)
    notes = list(sweep.notes)
    for r in sweep.rows:
        for reason in (r.get("unavailable") or {}).values():
            if reason not in notes and not any(reason.startswith(n.split(":")[0]) for n in sweep.notes):
                notes.append(reason)
    if notes:
        out += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    out += ["## Plots", "", *(f"![{k}]({v})" for k, v in sweep.files.get("plots", {}).items()), ""]
    return "\n".join(out)


def _fig_cells(fig: dict[str, Any]) -> list[str]:
    return [f"{fig['size_bytes'] / MB:.3f}", f"{fig['latency_s']:.4f}", _f(fig.get("psnr_y"), 3),
            _f(fig.get("quality_loss"), 3), _f(fig.get("psnr_fp32"), 2)]


def _recommendation_markdown(sweep: Sweep, reference: dict[str, Any] | None) -> list[str]:
    rec = sweep.recommendations
    if not rec:
        return []
    header = ["plan", "what", "size (MB)", "latency (s)", "PSNR-Y (dB)", "loss (dB)", "PSNR to fp32 (dB)", "meets budget"]
    out = [f"## Recommendation for {rec['budget']['text']} ({rec['budget']['objective']})", ""]
    lines = []
    for name, fig in rec.get("presets", {}).items():
        what = "paper's hand-picked plan" if name == "mixed" else name
        lines.append([f"`{fig['plan']}`", f"{what}, measured", *_fig_cells(fig), "-"])
    stage = rec.get("stage", {})
    if "plan" in stage:
        lines.append([f"`{stage['plan']}`", f"stage plan, exact search over {stage['searched']} measured rows",
                      *_fig_cells(stage["measured"]), "yes"])
    block = rec.get("block", {})
    for t in block.get("tried", []):
        units = ", ".join(t["units"]) or "none"
        lines.append([f"`{t['plan']}`", f"per-block estimate (16 bits: {units})", *_fig_cells(t["estimate"]), "-"])
        lines.append([f"`{t['plan']}`", f"same plan, measured ({t['row']})", *_fig_cells(t["measured"]),
                      "yes" if t["meets_budget"] else "no: " + ", ".join(t["misses"])])
    if block.get("kind") == "measured":
        units = ", ".join(block["units"])
        lines.append([f"`{block['plan']}`", f"per-block plan, best measured row (16 bits: {units}); ranks above "
                      "the estimates", *_fig_cells(block["measured"]), "yes"])
    out += [*_table(header, lines), ""]
    for name, entry in (("Stage", stage), ("Per-block", block)):
        for key in ("error", "skipped"):
            if key in entry:
                out.append(f"- {name} recommendation {'failed' if key == 'error' else 'skipped'}: {entry[key]}")
    out.append(f"- Quality loss: {rec['quality_loss']}.")
    return [*out, ""]


# -- plots ------------------------------------------------------------------------------------------

def _save(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _bars(ax, labels: list[str], values: list[float | None], title: str, colors: list[str], baseline=None) -> None:
    xs = range(len(labels))
    ax.bar(xs, [v if v is not None else 0 for v in values], color=colors)
    ax.set_xticks(list(xs), labels, rotation=90 if len(labels) > 16 else 45, fontsize=7 if len(labels) > 16 else 8)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    if baseline is not None:
        ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label="fp32")
        ax.legend(fontsize=7)


def _zoom(ax, values: list[float | None]) -> None:
    """Start the axis near the data: fidelities sit at 30-70 dB and differ by a few dB."""
    present = [v for v in values if v is not None]
    if present:
        low, high = min(present), max(present)
        pad = max(0.5, 0.15 * (high - low))
        ax.set_ylim(low - pad, high + pad)


def plot_stages(sweep: Sweep, path: Path) -> bool:
    reference = sweep.row(FP32)
    rows = [(int8_stages_label(p), sweep.row(p)) for p in stage_subsets() if sweep.row(p)]
    if not rows or reference is None or not {"stages", "grid"} & set(sweep.config["spaces"]):
        return False
    labels = [label for label, _ in rows]
    colors = ["tab:red" if "," not in label else "tab:gray" for label in labels]
    panels: list[tuple[str, list, Any]] = [
        ("PSNR-Y to the fp32 output (dB), higher = less sensitive", [r.get("psnr_fp32") for _, r in rows], None),
        ("PSNR-Y loss vs fp32 (dB)", [quality_loss(r, reference) for _, r in rows], None),
    ]
    if any(r.get("pi") is not None for _, r in rows):
        panels.append(("PI (lower is better)", [r.get("pi") for _, r in rows], reference.get("pi")))
    fig = _figure(4.2 * len(panels), 3.4)
    axes = fig.subplots(1, len(panels))
    for ax, (title, values, baseline) in zip(axes, panels):
        _bars(ax, labels, values, title, colors, baseline)
    _zoom(axes[0], panels[0][1])
    fig.supxlabel("stages at int8, the rest fp32 (1 head, 2 body, 3 upsampling, 4 tail); red = one stage alone",
                  fontsize=8)
    fig.suptitle(f"{sweep.config['model_name']}: {sweep.config['method'].upper()} stage sensitivity "
                 f"on {sweep.config['dataset']}", fontsize=10)
    _save(fig, path)
    return True


def plot_blocks(sweep: Sweep, path: Path) -> bool:
    found, base = probes(sweep), sweep.row(INT8)
    if not found or base is None or base.get("psnr_fp32") is None:
        return False
    labels = [u.replace("body.blocks.", "b").replace("feature_extraction", "head").replace("reconstruction", "tail")
              .replace("upsampling.", "up") for u, _ in found]
    gains = [None if r.get("psnr_fp32") is None else r["psnr_fp32"] - base["psnr_fp32"] for _, r in found]
    costs = [r["latency_s"] - base["latency_s"] for _, r in found]
    fig = _figure(max(6.0, 0.28 * len(found) + 2), 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    _bars(top, labels, gains, "gain in PSNR-Y to fp32 (dB) from keeping this unit at 16 bits (rest int8)",
          ["tab:blue"] * len(labels))
    top.axhline(0, color="black", linewidth=0.8)
    _bars(bottom, labels, costs, "latency cost vs all int8 (s per image)", ["tab:gray"] * len(labels))
    fig.suptitle(f"{sweep.config['model_name']}: per-block sensitivity ({sweep.config['method'].upper()})", fontsize=10)
    _save(fig, path)
    return True


def _front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Pareto front for smaller x and larger y."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def plot_pareto(sweep: Sweep, path: Path) -> bool:
    rows = [r for r in sweep.rows if r.get("psnr_y") is not None]
    if len(rows) < 2:
        return False
    rec = sweep.recommendations
    marked = {FP32: "fp32", INT8: "int8", MIXED: "mixed (paper)"}
    chosen = {}
    if "plan" in rec.get("stage", {}):
        chosen[rec["stage"]["plan"]] = ("recommended stage plan", "tab:green")
    if "plan" in rec.get("block", {}):
        chosen[rec["block"]["plan"]] = ("recommended per-block plan", "tab:purple")
    fig = _figure(10.5, 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    axes_spec: list[tuple[str, Callable[[dict], float]]] = [
        ("size (MB)", lambda r: r["size_bytes"] / MB), ("latency (s per image, median)", lambda r: r["latency_s"])]
    for ax, (xlabel, x_of) in zip(axes, axes_spec):
        stage = [(x_of(r), r["psnr_y"]) for r in rows if is_stage_plan(r["plan"])]
        block = [(x_of(r), r["psnr_y"]) for r in rows if not is_stage_plan(r["plan"])]
        if stage:
            ax.scatter(*zip(*stage), s=14, color="tab:gray", alpha=0.7, label="stage plans")
        if block:
            ax.scatter(*zip(*block), s=14, color="tab:cyan", alpha=0.7, label="per-block plans")
        front = _front([(x_of(r), r["psnr_y"]) for r in rows])
        ax.step(*zip(*front), where="post", color="tab:blue", linewidth=1, label="Pareto front")
        for plan, name in marked.items():
            row = sweep.row(plan)
            if row is not None and row.get("psnr_y") is not None:
                marker, color = PRESET_STYLE[name.split()[0]]
                ax.scatter([x_of(row)], [row["psnr_y"]], marker=marker, s=60, color=color, label=name, zorder=3)
        for plan, (name, color) in chosen.items():
            row = sweep.row(plan)
            ax.scatter([x_of(row)], [row["psnr_y"]], marker="*", s=160, color=color, label=name, zorder=4)
        budget = rec.get("budget", {})
        if budget.get("max_quality_loss") is not None and sweep.row(FP32):
            ax.axhline(sweep.row(FP32)["psnr_y"] - budget["max_quality_loss"], color="tab:green", linestyle=":",
                       linewidth=1, label="quality budget")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"PSNR-Y vs HR on {sweep.config['dataset']} (dB)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{sweep.config['model_name']} ({sweep.config['method'].upper()}): size and latency vs quality",
                 fontsize=10)
    _save(fig, path)
    return True


def write_report(sweep: Sweep, folder: Path) -> dict[str, Any]:
    """Write the plots and sweep.md into ``folder``; returns what was written, relative to it."""
    plots = {}
    for key, draw in (("stages", plot_stages), ("blocks", plot_blocks), ("pareto", plot_pareto)):
        if draw(sweep, folder / PLOTS[key]):
            plots[key] = PLOTS[key]
    sweep.files = {"markdown": MARKDOWN, "plots": plots}
    text = to_markdown(sweep)
    write_atomic(folder / MARKDOWN, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return sweep.files
