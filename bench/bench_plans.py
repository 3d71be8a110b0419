"""Latency and size of precision plans, measured side by side in one process (the sweeps' recommendations
against the paper's hand-picked mixed plan).

Run: .venv/bin/python bench/bench_plans.py [--model esrgan] [--plans P ...] [--threads 1] [--repeat 7] [--cpu-time]

Sweep latencies come from separate runs that shared the CPU with other jobs, so plans from two sweeps
cannot be compared by them. Here every plan runs on the same 128x128 photo, in interleaved rounds (one run of
each plan per round), so load changes hit all plans alike; the median per plan and its ratio to the
paper's plan are printed. PTQ on the bundled samples (the app's default); the size is the artifact file's.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP (bench_quant.py says why)

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from common import photo, set_threads

from engine.quant.kernels import kernel_info
from engine.quant import parse_plan, quantize, save_artifact
from engine.weights import load_model

# Plans from docs/sensitivity.md (PSNR-Y loss <= 0.05 dB on Set14): full int8, the stage and per-block
# recommendations, and the per-block plan the greedy estimate chose.
DEFAULT_PLANS = {
    "esrgan": ["8,8,8,8", "16,8,8,16", "8,8,32,8", "8,8,8,8;body.blocks.5=16", "8,8,8,8;upsampling.1=16",
               "16,8,8,8;body.blocks.22=16;upsampling.0=16"],
    "srgan": ["8,8,8,8", "16,8,8,16", "16,8,32,8", "8,8,8,8;upsampling.1=16", "16,8,8,8;upsampling.0=16;upsampling.1=16"],
}
PAPER = "16,8,8,16"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="esrgan", choices=sorted(DEFAULT_PLANS))
    ap.add_argument("--plans", nargs="+", help="plan texts (default: the model's recommended plans)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7, help="rounds (one run of every plan per round)")
    ap.add_argument("--cpu-time", action="store_true", help="time with process CPU time, not wall clock")
    args = ap.parse_args()
    set_threads(args.threads)
    warnings.simplefilter("ignore")
    model, _ = load_model(args.model)
    plans = args.plans or DEFAULT_PLANS[args.model]
    if PAPER not in plans:
        plans = [PAPER, *plans]
    x = torch.from_numpy(np.ascontiguousarray(photo(128, 128).transpose(2, 0, 1)))[None]
    runners, sizes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for text in plans:
            qmodel = quantize(model, parse_plan(text))
            path = save_artifact(qmodel, Path(tmp) / "plan.safetensors")
            sizes[text] = path.stat().st_size / 1e6
            runners[text] = qmodel
    clock = time.process_time if args.cpu_time else time.perf_counter
    times: dict[str, list[float]] = {text: [] for text in plans}
    with torch.inference_mode():
        for net in runners.values():
            net(x)  # warm-up: oneDNN builds its kernels on the first call
        for _ in range(args.repeat):
            for text, net in runners.items():
                start = clock()
                net(x)
                times[text].append(clock() - start)
    medians = {text: statistics.median(ts) for text, ts in times.items()}
    what = "process CPU time" if args.cpu_time else "wall clock"
    print(f"{args.model}, 128x128 -> 512x512, {args.threads} thread(s), {what}, median of {args.repeat} "
          f"interleaved rounds; torch {torch.__version__}; CPU: {kernel_info().label}")
    print("| plan | size (MB) | latency (s) | latency vs paper's mixed |")
    print("|---|---|---|---|")
    for text in plans:
        label = f"`{text}`" + (" (paper's mixed)" if text == PAPER else "")
        print(f"| {label} | {sizes[text]:.2f} | {medians[text]:.3f} | {medians[text] / medians[PAPER]:.2f}x |")


if __name__ == "__main__":
    main()
