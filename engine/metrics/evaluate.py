"""Dataset evaluation under the standard x4 SR protocol, resumable, and the app's reference-free scores.

Protocol (recorded in every report as ``PROTOCOL``):
- HR: the dataset image as 8-bit RGB, cropped at the bottom and right to a multiple of 4.
- LR: MATLAB ``imresize(HR, 1/4)``, bicubic with antialiasing, through ``pyiqa.matlab_utils.imresize``
  (the same algorithm as BasicSR's ``imresize``), rounded to 8 bits as if saved as PNG.
- Bicubic baseline: MATLAB bicubic ``imresize(LR, 4)``, rounded to 8 bits.
- Generator outputs: clipped to [0, 1] and rounded to 8 bits, as the saved PNG would be.
- Metrics (see :mod:`engine.metrics.iqa`): Y of BT.601 YCbCr, 4-pixel border crop (= scale).
- Time: wall clock of the generator alone on each image, after one warm-up run.

The report JSON and its Markdown table are rewritten atomically after every finished row, so a killed or
cancelled run continues where it stopped and skips the rows it already has. Each write merges with the
report on disk under a folder lock, so runs of other precisions into the same report at the same time add
their rows instead of replacing each other's.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import files, imageio
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check
from engine.metrics import iqa
from engine.quant.precision import parse_precision
from engine.weights import check_document, load_model, read_json, sha256_file

SCALE = 4
FORMAT = "mpsr-eval/1"
BICUBIC = "bicubic"
ALL_METRICS = ("psnr", "ssim", "niqe", "pi")
PROTOCOL = {
    "hr": "8-bit RGB, cropped at the bottom/right to a multiple of 4",
    "lr": "MATLAB imresize(HR, 1/4): bicubic with antialiasing (pyiqa.matlab_utils.imresize, as BasicSR), "
    "rounded to 8 bits",
    "bicubic": "MATLAB bicubic imresize(LR, 4), rounded to 8 bits",
    "outputs": "clipped to [0,1] and rounded to 8 bits",
    "metrics": "Y of BT.601 YCbCr (MATLAB rgb2ycbcr), 4-px border crop; PSNR on unrounded Y, "
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
        from engine.metrics.report import summarize

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
        metrics = [m for m in ALL_METRICS if m in {*other.config["metrics"], *self.config["metrics"]}]
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
            from engine.metrics.report import to_markdown

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
        from engine.metrics.report import title

        try:
            if first == f"### {title(load_report(report_path))}":
                return
        except MPSRError:
            pass
    raise MPSRError("exists and was not written by mpsr eval; it would be replaced by the report's table: move it "
                    "or choose another --out", md)


def parse_report(data: object, path: str | Path) -> Report:
    """A :class:`Report` from a report document; anything malformed is one line naming the file."""
    from engine.metrics.report import to_markdown

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


def to_8bit(rgb: np.ndarray) -> np.ndarray:
    return imageio.to_uint8(rgb).astype(np.float32) / 255.0


def _imresize(rgb: np.ndarray, *, scale: float | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    from pyiqa.matlab_utils import imresize

    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float64))[None]
    y = imresize(x, scale=scale, sizes=size, antialiasing=True)
    return to_8bit(y[0].permute(1, 2, 0).numpy())


def prepare_pair(rgb: np.ndarray, path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR) of the protocol from a decoded image: 8-bit HR cropped to a multiple of 4, bicubic /4 LR."""
    hr = to_8bit(rgb)
    h, w = (s - s % SCALE for s in hr.shape[:2])
    if h == 0 or w == 0:
        raise MPSRError(f"image is smaller than {SCALE}x{SCALE} pixels", path)
    hr = np.ascontiguousarray(hr[:h, :w])
    return hr, _imresize(hr, scale=1 / SCALE)


def bicubic_x4(lr: np.ndarray) -> np.ndarray:
    h, w = lr.shape[:2]
    return _imresize(lr, size=(h * SCALE, w * SCALE))


ROW_KEYS = {"psnr": "psnr_y", "ssim": "ssim_y", "niqe": "niqe", "pi": "pi", "psnr_fp32": "psnr_fp32"}


def score_image(
    metrics: Iterable[str],
    sr: np.ndarray,
    hr: np.ndarray | None,
    fp32: np.ndarray | None,
    scorer: iqa.IQA,
    cancel: CancelToken | None,
    step: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """Scores of ``sr``; a metric that cannot be computed is ``None`` with its reason under ``unavailable``."""
    scores: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    niqe = None
    for i, name in enumerate(metrics):
        check(cancel)
        if step:
            step(i, name)
        try:
            if name == "psnr":
                scores["psnr_y"] = scorer.psnr_y(sr, hr)
            elif name == "ssim":
                scores["ssim_y"] = scorer.ssim_y(sr, hr)
            elif name == "niqe":
                scores["niqe"] = niqe = scorer.niqe(sr)
            elif name == "pi":
                scores["ma"] = scores["pi"] = None
                if "niqe" in unavailable:
                    raise iqa.MetricUnavailable(unavailable["niqe"])
                niqe = niqe if niqe is not None else scorer.niqe(sr)
                scores["ma"] = ma = scorer.ma(sr)
                scores["pi"] = iqa.pi_from(ma, niqe)
            elif name == "psnr_fp32":
                scores["psnr_fp32"] = scorer.psnr_y(sr, fp32)
            else:
                raise ValueError(f"unknown metric {name!r}")
        except iqa.MetricUnavailable as err:
            scores.setdefault(ROW_KEYS[name], None)
            unavailable[name] = str(err)
    if unavailable:
        scores["unavailable"] = unavailable
    return scores


def _step(tracker: ProgressTracker, done: float, per_metric: float, label: str, i: int, metric: str) -> None:
    tracker.update(done + i * per_metric, f"{label}: {metric}")


def _row_done(row: dict[str, Any] | None, metrics: Iterable[str], ma_ready: bool) -> bool:
    if row is None or any(ROW_KEYS[m] not in row for m in metrics):
        return False
    # A row scored while the Ma model was missing gets its PI once the model is there.
    return not ("pi" in metrics and ma_ready and not row.get("ma_model"))


def _config(dataset: Path, images: list[Path], model_spec: str, model_info, model_sha: str, precisions, metrics,
            tile: int, overlap: int) -> dict[str, Any]:
    return {
        "dataset": dataset.name,
        "dataset_dir": str(dataset.resolve()),
        "images": [p.name for p in images],
        "scale": SCALE,
        "model": str(model_spec),
        "model_name": model_info.display_name,
        "arch": model_info.arch,
        "model_sha256": model_sha,
        "fp32_size_bytes": model_info.size_bytes,
        "precisions": list(precisions),
        "metrics": list(metrics),
        "tile": tile,
        "overlap": overlap,
    }


def check_same_run(old: dict[str, Any], config: dict[str, Any], out: Path) -> None:
    """Rows of ``old``'s run can be kept in ``config``'s report only if they measure the same thing."""
    fixed = ("dataset_dir", "images", "scale", "model_sha256", "tile", "overlap")
    changed = [f"{k} {old.get(k)} -> {config.get(k)}" if k in ("tile", "overlap") else k
               for k in fixed if old.get(k) != config.get(k)]
    if changed:
        raise MPSRError(
            f"holds a report of another run (different {', '.join(changed)}); choose another --out or delete it", out
        )


def _resume(out: Path, config: dict[str, Any]) -> Report:
    check_markdown_is_ours(markdown_path(out), out)
    if not out.exists():
        return Report(config=config)
    old = load_report(out)
    check_same_run(old.config, config, out)
    # Precisions and metrics may grow between runs: rows are keyed by (method, image).
    config = {**config, "precisions": list(dict.fromkeys([*old.config["precisions"], *config["precisions"]]))}
    return Report(config=config, models=old.models, rows=old.rows, notes=[], complete=False)


def _forget_changed_files(report: Report, precisions: list[str]) -> None:
    """Drop the rows of precisions given as files (quantized artifacts) whose content is not what was scored."""
    for method in precisions:
        if not (parse_precision(method).is_file and Path(method).is_file()):
            continue
        digest = sha256_file(method)
        if report.models.get(method, {}).get("sha256") != digest:
            report.rows = [r for r in report.rows if r["method"] != method]
            report.discarded.add(method)
        report.models[method] = {**report.models.get(method, {}), "sha256": digest}


def evaluate(
    dataset_dir: str | Path,
    model_spec: str | Path,
    precisions: Iterable[str],
    *,
    out: str | Path,
    tile: int | None = None,
    overlap: int | None = None,
    metrics: Iterable[str] = ALL_METRICS,
    device: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Report:
    """Evaluate ``model_spec`` at each precision (plus bicubic) on every image of ``dataset_dir``.

    Writes the report JSON to ``out`` after every finished row; if ``out`` already holds rows of the
    same run, they are kept and skipped. Raises :class:`~engine.jobs.Cancelled` when cancelled
    (finished rows stay saved) and :class:`MPSRError` / :class:`ModelError` for unusable inputs.
    """
    from engine.upscaler import DEFAULT_OVERLAP, DEFAULT_TILE

    dataset, out = Path(dataset_dir), Path(out)
    precisions = list(dict.fromkeys(parse_precision(p).key for p in precisions)) or ["fp32"]
    metrics = set(metrics)
    if unknown := metrics - set(ALL_METRICS):
        raise MPSRError(f"unknown metric(s) {', '.join(sorted(unknown))}; known: {', '.join(ALL_METRICS)}")
    metrics = [m for m in ALL_METRICS if m in metrics]
    tile = DEFAULT_TILE if tile is None else tile
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    images = imageio.collect_inputs([dataset])
    files.check_writable(out)
    # Fails fast, before any work, when the model is missing (e.g. SRGAN not trained yet).
    _, model_info = load_model(model_spec)
    config = _config(dataset, images, str(model_spec), model_info, sha256_file(model_info.path), precisions, metrics,
                     tile, overlap)
    report = _resume(out, config)
    _forget_changed_files(report, precisions)
    methods = report.methods()
    scorer = iqa.get_iqa(device)
    ma_ready = iqa.ma_missing_message() is None
    if "pi" in metrics and not ma_ready:
        report.notes.append(iqa.ma_missing_message())

    def row_metrics(method: str) -> list[str]:
        extra = ["psnr_fp32"] if method not in (BICUBIC, "fp32") and "fp32" in methods else []
        return metrics + extra

    todo = [(img, m) for img in images for m in methods
            if not _row_done(report.row(m, img.name), row_metrics(m), ma_ready)]
    tracker = ProgressTracker(progress, len(todo), "evaluating")
    runner = _Runner(report, model_spec, tile=tile, overlap=overlap, device=device, cancel=cancel)
    done = 0
    for image in images:
        pending = [m for img, m in todo if img == image]
        if not pending:
            continue
        check(cancel)
        hr, lr = prepare_pair(imageio.read_image(image).rgb, image)
        fp32_out = None
        for method in pending:
            if _row_done(report.row(method, image.name), row_metrics(method), ma_ready):
                done += 1  # scored meanwhile by another run writing to the same report
                continue
            tracker.update(done, f"{method} {image.name}: upscaling")
            sr, seconds = runner.infer(method, lr)
            if method == "fp32":
                fp32_out = sr
            elif "psnr_fp32" in row_metrics(method) and fp32_out is None:
                tracker.update(done, f"{image.name}: fp32 reference")
                fp32_out = runner.infer("fp32", lr)[0]
            wanted = row_metrics(method)
            scores = score_image(wanted, sr, hr, fp32_out, scorer, cancel,
                            functools.partial(_step, tracker, done, 1 / max(len(wanted), 1), f"{method} {image.name}"))
            row = {"method": method, "image": image.name, "size": [sr.shape[1], sr.shape[0]], "seconds": seconds,
                   "ma_model": ma_ready, **scores}
            report.put(row)
            report.save(out)
            done += 1
            tracker.update(done, f"{method} {image.name}")
    report.complete = True
    report.save(out)
    return report


class _Runner:
    """Upscalers of one evaluation, loaded on first use and warmed up once, and their timed inference."""

    def __init__(self, report: Report, model_spec: str | Path, *, tile: int, overlap: int, device: str | None,
                 cancel: CancelToken | None) -> None:
        self.report, self.model_spec, self.device, self.cancel = report, model_spec, device, cancel
        self.tiling = {"tile": tile, "overlap": overlap}
        self.upscalers: dict[str, Any] = {}

    def _upscaler(self, method: str, lr: np.ndarray):
        from engine.upscaler import make_upscaler

        if method not in self.upscalers:
            from engine.quant.kernels import kernel_info

            up = make_upscaler(self.model_spec, method, **self.tiling, device=self.device, cancel=self.cancel)
            # int8 results depend on the CPU class (kernels.py): every report names the one it ran on.
            self.report.models[method] = {**self.report.models.get(method, {}), "size_bytes": up.info.size_bytes,
                                          "device": up.info.device, "display_name": up.info.display_name,
                                          "cpu": kernel_info().label}
            # One-time costs (kernel selection, weight packing) must not land in the first image's time.
            up.upscale_array(lr[:32, :32], cancel=self.cancel)
            self.upscalers[method] = up
        return self.upscalers[method]

    def infer(self, method: str, lr: np.ndarray) -> tuple[np.ndarray, float]:
        """The 8-bit x4 output of ``method`` and the seconds the upscaling itself took."""
        if method == BICUBIC:
            if BICUBIC not in self.upscalers:
                self.upscalers[BICUBIC] = bicubic_x4  # after a warm-up of the resize's first call
                bicubic_x4(lr[:8, :8])
            start = time.perf_counter()
            sr = bicubic_x4(lr)
            return sr, time.perf_counter() - start
        up = self._upscaler(method, lr)
        start = time.perf_counter()
        sr = up.upscale_array(lr, cancel=self.cancel)
        seconds = time.perf_counter() - start
        return to_8bit(sr), seconds


def reference_free(
    rgb_in: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    fp32_name: str = "fp32",
    *,
    device: str | None = None,
    with_pi: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, dict[str, Any]]:
    """No-reference scores of upscaled ``outputs`` of the photo ``rgb_in`` (no ground truth needed).

    For each output: ``niqe``, ``ma`` and ``pi`` (``None`` with the reason under ``unavailable`` when
    they cannot be computed, e.g. the Ma model is missing), and for every output but ``fp32_name``
    ``psnr_fp32``: PSNR-Y to the fp32 output, i.e. how faithful the quantized model is to fp32.
    Ma takes ~15 s per 512x512 output on 2 CPU cores; progress is reported per output and metric.
    """
    h, w = rgb_in.shape[:2]
    for name, rgb in outputs.items():
        if rgb.shape[:2] != (h * SCALE, w * SCALE):
            raise ValueError(f"output {name!r} is {rgb.shape[1]}x{rgb.shape[0]}, expected {w * SCALE}x{h * SCALE}")
    fp32 = outputs.get(fp32_name)
    scorer = iqa.get_iqa(device)
    plans = {
        name: ["niqe", *(["pi"] if with_pi else []), *(["psnr_fp32"] if fp32 is not None and name != fp32_name else [])]
        for name in outputs
    }
    tracker = ProgressTracker(progress, sum(len(p) for p in plans.values()), "scoring")
    done = 0
    results: dict[str, dict[str, Any]] = {}
    for name, rgb in outputs.items():
        results[name] = score_image(plans[name], rgb, None, fp32, scorer, cancel,
                               functools.partial(_step, tracker, done, 1, name))
        done += len(plans[name])
    tracker.update(done, "done")
    return results
