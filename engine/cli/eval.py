"""``mpsr eval``: the standard x4 benchmark (PSNR-Y, SSIM-Y, NIQE, PI, time, size) on a dataset folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import cancel_token, progress_bar
from engine.errors import MPSRError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="benchmark a generator at several precisions on a dataset",
        description=(
            "Evaluate a generator on a folder of HR images with the standard protocol at the model's scale s "
            "(x4 for the bundled models): HR cropped to a multiple of s, LR by MATLAB-style bicubic 1/s, metrics "
            "on the Y channel with an s-pixel border crop. Bicubic is always a row. Writes a JSON report and a Markdown table beside it and prints "
            "the table. The JSON is saved after every image, so running the same command again after an "
            "interruption continues where it stopped; runs of other precisions into the same report, even at "
            "the same time, add their rows to it."
        ),
        epilog="example:\n  mpsr eval data/Set14 --model esrgan --precision fp32 --precision int8 --out set14.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", metavar="DATASET_DIR", help="folder of ground-truth (HR) images")
    p.add_argument("--model", default="esrgan", help="esrgan, srgan, or a weights file (default: esrgan)")
    p.add_argument(
        "--precision",
        action="append",
        metavar="P",
        help="fp32, int8, mixed, a plan such as 16,8,8,16, or an artifact file; repeat for several (default: fp32)",
    )
    p.add_argument("--out", required=True, metavar="REPORT.json", help="JSON report; the Markdown goes beside it (.md)")
    p.add_argument("--tile", type=int, help="tile size in LR pixels, 0 = whole image (default: the upscaler's)")
    p.add_argument("--overlap", type=int, help="tile context in LR pixels (default: the upscaler's)")
    p.add_argument(
        "--metrics",
        default="psnr,ssim,niqe,pi",
        help="comma-separated subset of psnr,ssim,niqe,pi (default: all; pi needs the Ma model, ~15 s/image)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    p.add_argument("--no-per-image", action="store_true", help="print only the summary table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.metrics.evaluate import evaluate, markdown_path
    from engine.metrics.report import to_markdown

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise MPSRError("the report must be a .json file", out)
    if (args.tile is not None and args.tile < 0) or (args.overlap is not None and args.overlap < 0):
        raise MPSRError("--tile and --overlap must be >= 0")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    with progress_bar("eval", unit="row") as bar:
        report = evaluate(
            args.dataset,
            args.model,
            args.precision or ["fp32"],
            out=out,
            tile=args.tile,
            overlap=args.overlap,
            metrics=metrics,
            device=args.device,
            progress=bar,
            cancel=cancel_token(),
        )
    print(to_markdown(report, per_image=not args.no_per_image), end="")
    print(f"report: {out}  table: {markdown_path(out)}", file=sys.stderr)
    return 0
