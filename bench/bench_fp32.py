"""fp32 inference on this CPU for both generators: latency, tiled throughput, peak RSS on a 12 MP photo.

Run: .venv/bin/python bench/bench_fp32.py [--skip-big]   (or `make bench`)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from common import generators, load, median_seconds, photo, set_threads

from engine.quant.kernels import kernel_info
from engine.upscaler import DEFAULT_OVERLAP, DEFAULT_TILE

BIG = (4000, 3000)


def big_run(spec: str, tile: int) -> None:
    """Child process: upscale a 4000x3000 photo, print time and peak RSS as JSON."""
    set_threads(2)
    up, _ = load(spec)
    up.tile = tile
    img = photo(*BIG)
    t = time.perf_counter()
    out = up.upscale_array(img)
    seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "out": list(out.shape)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-big", action="store_true", help="skip the 4000x3000 run (minutes per generator)")
    ap.add_argument("--tile", type=int, default=DEFAULT_TILE)
    ap.add_argument("--big-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.big_child:
        return big_run(args.big_child, args.tile)

    set_threads(2)
    small, mid = photo(128, 128), photo(1024, 768)
    print(f"fp32, 2 threads, CPU ({kernel_info().isa}). tiled runs use tile {args.tile}, overlap {DEFAULT_OVERLAP}")
    print(f"| generator | 128x128->512x512 median (s) | 1024x768 tiled: s | output MP/s | 4000x3000: s | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for label, spec in generators():
        up, note = load(spec)
        lat = median_seconds(lambda: up.upscale_array(small), repeat=5)
        up.tile = args.tile
        t = time.perf_counter()
        out = up.upscale_array(mid)
        mid_s = time.perf_counter() - t
        mps = out.shape[0] * out.shape[1] / 1e6 / mid_s
        big_s = rss = "skipped"
        if not args.skip_big:
            child = subprocess.run(
                [sys.executable, __file__, "--big-child", spec, "--tile", str(args.tile)],
                capture_output=True, text=True, check=True,
            )
            r = json.loads(child.stdout.strip().splitlines()[-1])
            big_s, rss = f"{r['seconds']:.0f}", f"{r['peak_rss_mb']:.0f}"
        print(f"| {label}{note} | {lat:.3f} | {mid_s:.1f} | {mps:.3f} | {big_s} | {rss} |", flush=True)


if __name__ == "__main__":
    main()
