"""``mpsr upscale``: upscale files, folders and globs 4x."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import cancel_token, error, progress_bar, status, warn
from engine.errors import MPSRError
from engine.tiling import DEFAULT_OVERLAP, DEFAULT_TILE


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="upscale images 4x",
        description="Upscale images 4x. Every input is read and checked before the model loads. Inputs are "
        "never overwritten; each output is written atomically and named after the model and precision "
        "(photo_esrgan_int8_x4.png), so runs at other precisions do not replace it.",
        epilog="examples:\n  mpsr upscale photo.jpg -o out/\n  mpsr upscale photo.jpg -o photo_big.png\n"
        "  mpsr upscale 'shots/*.png' --precision int8 --tile 128 -o out/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output folder (created if missing), or for a single input the output image file")
    p.add_argument("--model", default="esrgan", help="esrgan, srgan, or a .safetensors/.pth file (default: esrgan)")
    p.add_argument(
        "--precision",
        default="fp32",
        help="fp32, int8, mixed, a plan such as 16,8,8,16, or a quantized artifact file (default: fp32)",
    )
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile size in input pixels, 0 = whole image (default: {DEFAULT_TILE})")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help=f"tile context in input pixels (default: {DEFAULT_OVERLAP})")
    p.add_argument("--format", choices=["png", "jpg", "webp", "tif", "bmp"], help="output format (default: same as input)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality 1-100 (default: 95)")
    p.add_argument("--suffix", help="added to each output file name (default: _MODEL_PRECISION_xSCALE, e.g. _esrgan_int8_x4)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    p.set_defaults(func=run)


def _check_inputs(pairs: list[tuple[Path, Path]], args: argparse.Namespace, scale: int) -> list[tuple[Path, Path]]:
    """The pairs whose input decodes and fits in memory; the others are reported, one line each."""
    from engine import imageio, upscaler

    good = []
    for src, dst in pairs:
        try:
            info = imageio.check_image(src)
            imageio.check_output_format(dst, alpha=info.alpha)
            upscaler.check_memory(info.width, info.height, alpha=info.alpha, bits=info.bits, tile=args.tile,
                                  overlap=args.overlap, scale=scale, path=src)
        except MPSRError as err:
            error(str(err))
            continue
        if info.frames_note:
            warn(f"{src}: {info.frames_note}")
        good.append((src, dst))
    return good


def run(args: argparse.Namespace) -> int:
    from engine import files, imageio, outputs
    from engine.quant.precision import parse_precision
    from engine.upscaler import check_quality, make_upscaler, upscale_file
    from engine.weights import describe_model

    if args.tile < 0 or args.overlap < 0:
        raise MPSRError("--tile and --overlap must be >= 0")
    check_quality(args.quality)
    precision = parse_precision(args.precision)
    # The scale names the outputs and sizes the memory check before any work: read from the weights' header.
    scale = describe_model(args.model).scale
    suffix = args.suffix if args.suffix is not None else outputs.default_suffix(args.model, precision, scale)
    sources = imageio.collect_inputs(args.inputs)
    pairs = outputs.plan_outputs(sources, args.output, suffix=suffix, ext=args.format)
    good = _check_inputs(pairs, args, scale)
    failed = len(pairs) - len(good)
    if good:
        status(f"loading {args.model} at {precision.label}...")
        with progress_bar("loading model") as bar:
            upscaler = make_upscaler(args.model, precision, tile=args.tile, overlap=args.overlap,
                                     device=args.device, progress=bar, cancel=cancel_token())
        info = upscaler.info
        print(f"{info.display_name} {info.precision} on {info.device}, {info.size_bytes / 1e6:.1f} MB", file=sys.stderr)
        if info.notice:
            warn(info.notice)
    with files.run_files(inputs=sources, outputs=[dst for _, dst in good]):
        for i, (src, dst) in enumerate(good):
            label = src.name if len(good) == 1 else f"[{i + 1}/{len(good)}] {src.name}"
            try:
                with progress_bar(label, unit="tile") as bar:
                    res = upscale_file(upscaler, src, dst, quality=args.quality, progress=bar, cancel=cancel_token())
            except MPSRError as err:
                failed += 1
                error(str(err))
                continue
            if res.output != dst:
                warn(f"{dst} was written by another run while this one worked; kept it, wrote {res.output.name}")
            w, h = res.size
            print(f"{res.source} -> {res.output}  {w}x{h}  {res.seconds:.2f} s  {res.bytes / 1e6:.2f} MB")
    if failed:
        error(f"{failed} of {len(pairs)} file(s) failed")
        return 1
    return 0
