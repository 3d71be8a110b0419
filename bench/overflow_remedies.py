"""How to keep int8 right where the kernels saturate 16-bit pair sums: the remedies measured side by side.

Run: .venv/bin/python bench/overflow_remedies.py [--model srgan] [--precision int8|ARTIFACT] [--side 64]

For each CPU class (natively, then ONEDNN_MAX_CPU_ISA=AVX2, each in its own process) and each remedy: PSNR of
the int8 output to the fp32 output on 4 LR crops of training photos (not Set5/Set14), and 1-thread process
CPU time for the 4 crops. Remedies: the int8 kernels as they are; 7-bit weights (every int8 weight halved
and rounded, scale doubled: OpenVINO/NNCF's overflow fix, done at load time); exact arithmetic in every int8
conv; and what the engine does (exact only in convs whose pair sums reach 90% of the limit on calibration
photos, engine/quant/overflow.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.quant import kernel_info, load_artifact, load_precision
from engine.quant.overflow import guard, int8_convs
from engine.weights import load_model

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "train" / "sun_hays80"
REMEDIES = ("kernels as they are", "7-bit weights", "exact everywhere", "engine (guarded)")


def crops(side: int) -> list[torch.Tensor]:
    """4 centre crops of training photos, downscaled x4 with bicubic (the bundled samples without the data)."""
    paths = sorted(PHOTOS.glob("*.jpg"))[:4] or sorted((REPO / "resources" / "samples").glob("*.png"))[:4]
    out = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        x, y = (img.width - 4 * side) // 2, (img.height - 4 * side) // 2
        lr = img.crop((x, y, x + 4 * side, y + 4 * side)).resize((side, side), Image.Resampling.BICUBIC)
        out.append(torch.from_numpy(np.asarray(lr, dtype=np.float32).transpose(2, 0, 1) / 255.0)[None])
    return out


def seven_bit_weights(qmodel) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for conv in int8_convs(qmodel).values():
            w = conv.weight()
            q = torch.round(w.int_repr().float() / 2).to(torch.int8)
            conv.set_weight_bias(torch._make_per_channel_quantized_tensor(
                q, w.q_per_channel_scales() * 2, w.q_per_channel_zero_points(), 0), conv.bias())
            conv.exact = False


def apply(qmodel, remedy: str) -> None:
    headroom = qmodel.int8_headroom
    for conv in int8_convs(qmodel).values():
        conv.exact = remedy == "exact everywhere"
    if remedy == "7-bit weights":
        seven_bit_weights(qmodel)
    elif remedy == "engine (guarded)":
        guard(qmodel, headroom)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * np.log10(1 / float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())))


def table(args) -> None:
    torch.set_num_threads(1)
    net, info = load_model(args.model)
    net = net.to(memory_format=torch.channels_last)  # the app's fp32 path: the stronger baseline
    xs = [x.contiguous(memory_format=torch.channels_last) for x in crops(args.side)]
    k = kernel_info()
    cpu = f"{k.machine} {k.isa}" + (f", ONEDNN_MAX_CPU_ISA={k.isa_cap}" if k.isa_cap else "")
    cpu += f" ({'saturating' if k.saturates else 'exact'} int8 kernels)"
    with torch.inference_mode():
        refs = [net(x) for x in xs]
        start = time.process_time()
        for x in xs:
            net(x)
        fp32_s = time.process_time() - start
        for remedy in REMEDIES:
            if args.precision.endswith(".safetensors"):
                qmodel, _ = load_artifact(args.precision)
            else:
                qmodel, _ = load_precision(net, info, args.precision)
            apply(qmodel, remedy)
            qmodel(xs[0])
            start = time.process_time()
            outs = [qmodel(x) for x in xs]
            seconds = time.process_time() - start
            exact = sum(c.exact for c in int8_convs(qmodel).values())
            print(f"| {cpu} | {remedy} | {exact}/{len(int8_convs(qmodel))} | "
                  f"{np.mean([psnr(r, o) for r, o in zip(refs, outs)]):.2f} | {seconds:.2f} | {fp32_s / seconds:.2f}x |",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="srgan")
    ap.add_argument("--precision", default="int8", help="a plan (PTQ, cached) or a quantized artifact file")
    ap.add_argument("--side", type=int, default=64, help="LR crop side in pixels")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return table(args)
    print(f"{args.model} {Path(args.precision).name}, 4 crops {args.side}x{args.side} -> {4 * args.side}x{4 * args.side}, "
          "1 thread, process CPU time")
    print("| CPU class | remedy | exact convs | PSNR to fp32 (dB) | time (s) | speed vs fp32 |")
    print("|---|---|---|---|---|---|")
    for cap in (None, "AVX2"):
        env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
        if cap:
            env["ONEDNN_MAX_CPU_ISA"] = cap
        subprocess.run([sys.executable, __file__, "--child", *sys.argv[1:]], env=env, check=True)


if __name__ == "__main__":
    main()
