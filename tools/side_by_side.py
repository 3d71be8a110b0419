"""Upscale a crop of a photo 4x with bicubic and with a generator; save the crop and a side-by-side strip.

Usage: .venv/bin/python tools/side_by_side.py PHOTO --crop X,Y,W,H [--shrink N] [--model esrgan] [--precision fp32] -o DIR
``--shrink`` first downsizes the photo N times (bicubic), as a user would do with a web-sized copy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine import imageio
from engine.upscaler import make_upscaler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("photo")
    ap.add_argument("--crop", required=True, help="X,Y,W,H in the (shrunk) photo")
    ap.add_argument("--shrink", type=int, default=1)
    ap.add_argument("--model", default="esrgan")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()

    img = Image.open(args.photo).convert("RGB")
    if args.shrink > 1:
        img = img.resize((img.width // args.shrink, img.height // args.shrink), Image.Resampling.BICUBIC)
    x, y, w, h = (int(v) for v in args.crop.split(","))
    crop = img.crop((x, y, x + w, y + h))
    out = Path(args.out)
    stem = Path(args.photo).stem.split("__")[-1]

    bicubic = crop.resize((w * 4, h * 4), Image.Resampling.BICUBIC)
    up = make_upscaler(args.model, args.precision)
    sr = up.upscale_array(np.asarray(crop, dtype=np.float32) / 255.0)
    sr_img = Image.fromarray(imageio.to_uint8(sr))

    label = f"{args.model}_{args.precision}"
    out.mkdir(parents=True, exist_ok=True)
    crop.save(out / f"{stem}_input.png")
    strip = Image.new("RGB", (w * 8 + 8, h * 4 + 24), "white")
    strip.paste(bicubic, (0, 24))
    strip.paste(sr_img, (w * 4 + 8, 24))
    draw = ImageDraw.Draw(strip)
    draw.text((4, 4), "bicubic x4", fill="black")
    draw.text((w * 4 + 12, 4), f"{up.info.display_name} {args.precision} x4", fill="black")
    strip.save(out / f"{stem}_bicubic_vs_{label}.png")


if __name__ == "__main__":
    main()
