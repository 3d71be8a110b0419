"""Quantized generators vs fp32 on this CPU: size on disk and latency, 128x128 -> 512x512, 2 threads.

Run: .venv/bin/python bench/bench_quant.py [--repeat N] [--threads 2] [--cpu-time] [--isa native,AVX2]
(or `make bench`). One table per CPU class: natively, then with ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN's no-VNNI
kernels, where int8 convs whose pair sums could overflow 16 bits run exact: engine/quant/overflow.py); each
table is made in its own process, since the variable only takes effect before torch starts.

Rows: both generators x {PyTorch fp32, int8, mixed (16,8,8,16)} plus onnxruntime fp32, the baseline a
user would otherwise pick. Speed-ups are against PyTorch fp32 measured in the same run. Quantized
models are the PTQ artifacts the app uses (calibrated on the bundled samples once, then cached), so
their size is the artifact file's size. SRGAN weights are not trained yet: an untrained SRResNet-16 is
used for timing and size only, and labelled so.

OMP_WAIT_POLICY defaults to PASSIVE here: with the default (spinning) policy, any other busy process
made the 2-thread int8 runs 3-8x slower and erratic (2.8-7.3 s instead of 0.90 s, measured).
``--threads 1 --cpu-time`` measures process CPU time instead, which other jobs barely disturb.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP; see the docstring

import argparse
import copy
import subprocess
import sys
import statistics
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
from common import photo, set_threads

from engine import archs
from engine.errors import ModelError
from engine.quant import kernel_info, load_precision
from engine.weights import load_model, save_model

PRECISIONS = ("int8", "mixed")


def generators(tmp: Path):
    """(label, float model, ModelInfo) for ESRGAN and SRGAN (an untrained SRResNet-16 when not trained)."""
    out = [("ESRGAN (RealESRGAN_x4plus)", *load_model("esrgan"))]
    try:
        out.append(("SRGAN", *load_model("srgan")))
    except ModelError:
        torch.manual_seed(0)  # fixed weights: the PTQ cache then holds across runs
        path = save_model(archs.build("srresnet").eval(), tmp / "srresnet16-untrained.safetensors",
                          {"name": "srresnet16-untrained", "display_name": "SRResNet-16 (untrained)"})
        out.append(("SRGAN = SRResNet-16, untrained weights (timing/size only)", *load_model(path)))
    return out


def onnx_session(model: torch.nn.Module, tmp: Path, threads: int):
    import onnxruntime as ort

    path = tmp / f"{model.arch_name}.onnx"
    x = torch.rand(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice (no onnxscript here)
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"], dynamo=False,
                          dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "H", 3: "W"}}, opset_version=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]), path.stat().st_size


def median_seconds(fn, repeat: int, cpu_time: bool) -> float:
    clock = time.process_time if cpu_time else time.perf_counter
    fn()  # warm-up: oneDNN builds its kernels on the first call
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu-time", action="store_true", help="time with process CPU time, not wall clock")
    ap.add_argument("--isa", default="native,AVX2",
                    help="comma-separated CPU classes, one table each: native, or an ONEDNN_MAX_CPU_ISA value")
    args, rest = ap.parse_known_args()
    if args.isa != "this":
        for isa in args.isa.split(","):
            env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
            if isa != "native":
                env["ONEDNN_MAX_CPU_ISA"] = isa
            child = [sys.executable, __file__, "--isa", "this", "--repeat", str(args.repeat), "--threads",
                     str(args.threads), *(["--cpu-time"] if args.cpu_time else []), *rest]
            if subprocess.run(child, env=env).returncode:
                sys.exit(1)
            print()
        return
    set_threads(args.threads)
    lr = photo(128, 128)
    x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
    clock = "process CPU time" if args.cpu_time else "wall clock"
    print(f"128x128 -> 512x512, {args.threads} threads, {clock}, median of {args.repeat} runs after 1 warm-up; "
          f"torch {torch.__version__}, quantized engine onednn\nCPU: {kernel_info().label}")
    print("| generator | runtime | precision | size (MB) | % of fp32 size | latency (s) | speed-up vs torch fp32 |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp_dir, torch.inference_mode():
        for label, model, info in generators(Path(tmp_dir)):
            bench_generator(label, model, info, x, Path(tmp_dir), args)


def bench_generator(label: str, model: torch.nn.Module, info, x: torch.Tensor, tmp: Path, args) -> None:
    fp32_mb = info.size_bytes / 1e6

    def row(runtime: str, precision: str, size_mb: float, seconds: float) -> None:
        print(f"| {label} | {runtime} | {precision} | {size_mb:.2f} | {100 * size_mb / fp32_mb:.1f}% | "
              f"{seconds:.3f} | {base / seconds:.2f}x |", flush=True)

    def timed(fn) -> float:
        return median_seconds(fn, args.repeat, args.cpu_time)

    base = timed(lambda: model(x))
    row("PyTorch", "fp32", fp32_mb, base)
    # The same fp32 model in oneDNN's preferred NHWC layout: a stronger baseline than the app's NCHW
    # path, shown so the int8 speed-ups are not read against a weak one.
    cl_model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    row("PyTorch, channels_last", "fp32", fp32_mb, timed(lambda: cl_model(x_cl)))
    sess, onnx_bytes = onnx_session(model, tmp, args.threads)
    xn = x.numpy()
    row("onnxruntime", "fp32", onnx_bytes / 1e6, timed(lambda: sess.run(None, {"x": xn})))
    for precision in PRECISIONS:
        t = time.perf_counter()
        qmodel, size = load_precision(model, info, precision)
        setup = time.perf_counter() - t
        row(f"PyTorch {precision} (load/calibrate {setup:.0f} s)", precision, size / 1e6, timed(partial(qmodel, x)))


if __name__ == "__main__":
    main()
