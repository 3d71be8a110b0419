"""Peak working memory of one tile of each fp32 generator: the per-pixel figure the upscaler's memory check
uses (engine.upscaler._TILE_BYTES_PER_PIXEL).

Run: .venv/bin/python bench/bench_tile_memory.py   (or `make bench`)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

from common import generators, load, photo, set_threads

from engine.upscaler import DEFAULT_OVERLAP, DEFAULT_TILE

SIDE = DEFAULT_TILE + 2 * DEFAULT_OVERLAP  # an inner tile of the default tiling, with its context


def child(spec: str) -> None:
    """One process per generator, so the peak belongs to it: RSS peak of one tile minus the peak before."""
    import psutil

    set_threads(2)
    up, _ = load(spec)
    up.upscale_array(photo(16, 16))  # one-time allocations (weight packing) are not per-tile memory
    img = photo(SIDE, SIDE)
    before = psutil.Process().memory_info().rss
    up.upscale_array(img)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"bytes": peak - before, "per_pixel": (peak - before) / SIDE**2}))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[2])
    print(f"fp32, CPU, one {SIDE}x{SIDE} tile (tile {DEFAULT_TILE} + 2 x {DEFAULT_OVERLAP} overlap)")
    print("| generator | peak working memory (MB) | per input pixel (kB) |")
    print("|---|---|---|")
    for label, spec in generators():
        done = subprocess.run([sys.executable, __file__, "--child", spec], capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {label} | {r['bytes'] / 1e6:.0f} | {r['per_pixel'] / 1e3:.1f} |")


if __name__ == "__main__":
    main()
