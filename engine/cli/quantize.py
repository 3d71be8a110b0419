"""``mpsr quantize``: post-training quantization of a generator into one artifact file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.cli.common import cancel_token, progress_bar, warn


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="quantize a generator (fp32 -> int8 / mixed) into one file",
        description="Post-training static quantization with a per-stage precision plan. The output is one "
        ".safetensors file (integer weights, scales, plan, model card) that `mpsr upscale --precision FILE` runs.",
        epilog="examples:\n  mpsr quantize --model esrgan --plan mixed -o esrgan-mixed.safetensors\n"
        "  mpsr quantize --model srgan --plan 16,8,8,16 --calib photos/ -o srgan-16881.safetensors\n\n"
        "plans: fp32, int8, mixed (= 16,8,8,16), or bits per stage in the order feature_extraction, body,\n"
        "upsampling, reconstruction (32/16/8), or a JSON file {\"stages\": {...}, \"blocks\": {...}}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default="esrgan", help="esrgan, srgan, or a weights file (default: esrgan)")
    p.add_argument("--plan", default="mixed", help="int8, mixed, 16,8,8,16 style, or a plan .json (default: mixed)")
    p.add_argument("--method", default="ptq", choices=["ptq"], help="ptq (QAT runs inside `mpsr train`)")
    p.add_argument("--calib", metavar="DIR", help="calibration images: folder, file or glob (default: bundled samples)")
    p.add_argument("--calib-count", type=int, default=16, metavar="N", help="calibration patches (default: 16)")
    p.add_argument("--calib-patch", type=int, default=64, metavar="PX", help="LR patch side (default: 64)")
    p.add_argument("--observer", default="minmax", choices=["minmax", "histogram"],
                   help="activation range observer for int8 (default: minmax)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output .safetensors file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import files
    from engine.errors import MPSRError
    from engine.weights import resolve

    out = Path(args.output)
    if out.suffix.lower() != ".safetensors":
        raise MPSRError("the output must be a .safetensors file", out)
    source = resolve(args.model)
    sources = [source, source.with_suffix(".json"), *([args.plan] if args.plan.lower().endswith(".json") else [])]
    with files.run_files(inputs=sources, outputs=[out]):
        files.check_writable(out)
        return _quantize(args, out)


def _quantize(args: argparse.Namespace, out: Path) -> int:
    from engine.errors import MPSRError
    from engine.quant import CalibrationSpec, calibration_images, parse_plan, quantize, save_artifact
    from engine.weights import load_model

    plan = parse_plan(args.plan)
    try:
        spec = CalibrationSpec(args.calib, count=args.calib_count, patch=args.calib_patch)
    except ValueError as err:
        raise MPSRError(str(err)) from None
    model, info = load_model(args.model)
    cancel = cancel_token()
    start = time.perf_counter()
    with progress_bar("reading calibration images", unit="image") as bar:
        images = calibration_images(spec, progress=bar, cancel=cancel, scale=info.scale)
    with progress_bar(f"calibrating {info.display_name} ({plan.name})", unit="patch") as bar:
        qmodel = quantize(model, plan, calib=images, observer=args.observer,
                          progress=bar, cancel=cancel)
    card = {
        "name": f"{info.name}-{plan.name}",
        "display_name": f"{info.display_name} ({plan.name})",
        "source_model": info.name,
        "method": args.method,
        "observer": args.observer,
        "calibration": spec.to_json(),
    }
    written = save_artifact(qmodel, out, card)
    if written != out:
        warn(f"{out} was written by another run while this one worked; kept it, wrote {written.name}")
        out = written
    size = out.stat().st_size
    print(f"{info.display_name} plan {plan} ({plan.name}) -> {out}  {size / 1e6:.2f} MB "
          f"({100 * size / info.size_bytes:.1f}% of {info.size_bytes / 1e6:.1f} MB fp32), "
          f"{len(images)} calibration patches, {time.perf_counter() - start:.1f} s", file=sys.stdout)
    return 0
