"""``mpsr sweep``: per-stage / per-block quantization sensitivity, and a plan chosen under a budget."""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import cancel_token, progress_bar
from engine.errors import MPSRError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="measure which stages/blocks tolerate int8 and recommend a plan for a budget",
        description=(
            "Quantize a generator with many precision plans (PTQ, or QAT for --steps steps per plan) and "
            "evaluate each on a folder of HR images (LR = bicubic 1/scale of the model): size, latency, PSNR-Y, SSIM-Y, NIQE, "
            "PI and PSNR to the fp32 output. Spaces: 'stages' = the 15 subsets of the four stages at int8 "
            "(the paper's Figure 7), 'grid' = all 81 stage plans over fp32/int16/int8, 'blocks' = all int8 "
            "with one block kept at 16 bits, per block. fp32 and the paper's mixed plan are always measured. "
            "Writes sweep.json (saved after every plan: rerunning the command resumes), sweep.md and PNG plots."
        ),
        epilog=(
            "examples:\n"
            "  mpsr sweep --model esrgan --method ptq --data data/Set14 --out sweeps/esrgan-ptq\n"
            "  mpsr sweep --model srgan --method qat --steps 200 --data data/Set14 --out sweeps/srgan-qat "
            "--calib data/train/sun_hays80\n"
            "  mpsr sweep --model esrgan --method ptq --data data/Set14 --out sweeps/esrgan-ptq --space blocks "
            "--recommend --max-quality-loss 0.05\n\n"
            "quality loss = mean PSNR-Y (vs HR) of fp32 minus that of the plan, in dB, on --data"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default="esrgan", help="esrgan, srgan, or a weights file (default: esrgan)")
    p.add_argument("--method", default="ptq", choices=["ptq", "qat"], help="ptq or qat (default: ptq)")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="QAT training steps per plan (qat only)")
    p.add_argument("--data", required=True, metavar="DIR", help="folder of HR evaluation images, e.g. Set14")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (sweep.json, sweep.md, *.png)")
    p.add_argument("--space", default="stages", choices=["stages", "grid", "blocks"], help="plans to measure "
                   "(default: stages)")
    p.add_argument("--calib", metavar="DIR", help="PTQ calibration / QAT training images, never the evaluation set "
                   "(default: bundled samples)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="plans measured in parallel processes; "
                   "latency is then measured with 1/N of the CPU threads (default: 1)")
    p.add_argument("--metrics", default="psnr,ssim,niqe,pi",
                   help="comma-separated subset of psnr,ssim,niqe,pi (default: all; pi needs the Ma model)")
    p.add_argument("--recommend", action="store_true", help="choose a plan for the budget given below")
    p.add_argument("--max-quality-loss", type=float, metavar="DB", help="budget: PSNR-Y loss vs fp32 in dB")
    p.add_argument("--max-size-mb", type=float, metavar="MB", help="budget: model file size in MB (10^6 bytes)")
    p.add_argument("--max-latency-s", type=float, metavar="S", help="budget: median seconds per image")
    p.set_defaults(func=run)


def _budget(args: argparse.Namespace) -> dict | None:
    limits = {"max_quality_loss": args.max_quality_loss, "max_size_mb": args.max_size_mb,
              "max_latency_s": args.max_latency_s}
    given = {k: v for k, v in limits.items() if v is not None}
    if args.recommend and not given:
        raise MPSRError("--recommend needs --max-quality-loss, --max-size-mb or --max-latency-s")
    if given and not args.recommend:
        raise MPSRError("budget options need --recommend")
    return given or None


def _print_recommendations(sweep) -> int:
    rec = sweep.recommendations
    failed = False
    for name in ("stage", "block"):
        entry = rec.get(name, {})
        if "plan" in entry:
            m = entry["measured"]
            print(f"recommended {name} plan: {entry['plan']}  ({entry['kind']}) size {m['size_bytes'] / 1e6:.3f} MB, "
                  f"latency {m['latency_s']:.3f} s, PSNR-Y loss {m['quality_loss']:.3f} dB")
        elif "error" in entry:
            failed = True
            print(f"mpsr: error: {name} recommendation: {entry['error']}", file=sys.stderr)
    mixed = rec.get("presets", {}).get("mixed")
    if mixed:
        print(f"paper's mixed plan: {mixed['plan']}  size {mixed['size_bytes'] / 1e6:.3f} MB, "
              f"latency {mixed['latency_s']:.3f} s, PSNR-Y loss {mixed['quality_loss']:.3f} dB")
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    from engine.sweep import load_sweep, run_sweep

    budget = _budget(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    with progress_bar(f"sweep {args.space}", unit="plan") as bar:
        path = run_sweep(args.model, args.method, args.data, args.steps, args.out, bar, cancel_token(),
                         space=args.space, recommend=budget, workers=args.workers, calib=args.calib, metrics=metrics)
    sweep = load_sweep(path)
    status = _print_recommendations(sweep) if budget else 0
    last = sweep.config["runs"][-1]
    print(f"{last['rows_measured']} plans measured in {last['elapsed_s']:.0f} s, {len(sweep.rows)} in the sweep; "
          f"report: {path}  table: {path.parent / sweep.files['markdown']}", file=sys.stderr)
    return status
