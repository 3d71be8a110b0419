"""``mpsr upscale``: upscale files, folders and globs 4x."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli.common import error, progress_bar
from engine.errors import MPSRError
from engine.tiling import DEFAULT_OVERLAP, DEFAULT_TILE


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="upscale images 4x",
        description="Upscale images 4x. Inputs are never overwritten; each output is written atomically.",
        epilog="examples:\n  mpsr upscale photo.jpg -o out/\n  mpsr upscale 'shots/*.png' --precision int8 --tile 128 -o out/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
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
    p.add_argument("--suffix", default="_x4", help="added to each output file name (default: _x4)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import imageio
    from engine.upscaler import make_upscaler, upscale_file

    if args.tile < 0 or args.overlap < 0:
        raise MPSRError("--tile and --overlap must be >= 0")
    sources = imageio.collect_inputs(args.inputs)
    out_dir = Path(args.output)
    with progress_bar("loading model") as bar:
        upscaler = make_upscaler(args.model, args.precision, tile=args.tile, overlap=args.overlap,
                                 device=args.device, progress=bar)
    info = upscaler.info
    print(f"{info.display_name} {info.precision} on {info.device}, {info.size_bytes / 1e6:.1f} MB", file=sys.stderr)
    if info.notice:
        print(f"mpsr: note: {info.notice}", file=sys.stderr)
    failed = 0
    for src in sources:
        ext = f".{args.format}" if args.format else None
        dst = imageio.default_output_path(src, out_dir, suffix=args.suffix, ext=ext)
        try:
            with progress_bar(src.name, unit="tile") as bar:
                res = upscale_file(upscaler, src, dst, quality=args.quality, progress=bar)
        except MPSRError as err:
            failed += 1
            error(str(err))
            continue
        w, h = res.size
        print(f"{res.source} -> {res.output}  {w}x{h}  {res.seconds:.2f} s  {res.bytes / 1e6:.2f} MB")
    if failed:
        error(f"{failed} of {len(sources)} file(s) failed")
        return 1
    return 0
