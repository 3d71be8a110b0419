"""How close PTQ outputs stay to the fp32 output of the same generator, on Set5 (evaluation only).

Run: .venv/bin/python bench/fidelity_quant.py [--model esrgan] [--plans int8 mixed] [--observer minmax]
                                              [--calib DIR] [--calib-count 16] [--data ../shared/data]

Per image: the whole LR (MATLAB-bicubic x4 of the HR, as the SR protocol makes it) goes through the
fp32 model and through each quantized model. "fidelity" is PSNR-Y between the quantized and the fp32
outputs (8-bit, 4-pixel border crop); "PSNR-Y" is against the HR image. Calibration never sees Set5.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, set_threads

from engine.quant.kernels import kernel_info
from engine import imageio
from engine.metrics import evaluate
from engine.metrics.iqa import psnr_y
from engine.quant import CalibrationSpec, calibration_images, parse_plan, quantize
from engine.weights import load_model


def run(model: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        y = model(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()
    return evaluate.to_8bit(y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="esrgan")
    ap.add_argument("--plans", nargs="+", default=["int8", "mixed"])
    ap.add_argument("--observer", default="minmax", choices=["minmax", "histogram"])
    ap.add_argument("--calib", help="calibration folder (default: bundled samples)")
    ap.add_argument("--calib-count", type=int, default=16)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--set", default="Set5")
    args = ap.parse_args()
    set_threads(2)

    model, info = load_model(args.model)
    spec = CalibrationSpec(args.calib, count=args.calib_count)
    images = calibration_images(spec, scale=info.scale)
    pairs = [(p.stem, *evaluate.prepare_pair(imageio.read_image(p).rgb, scale=info.scale))
             for p in imageio.collect_inputs([Path(args.data) / args.set])]
    fp32 = {name: run(model, lr) for name, _, lr in pairs}
    print(f"{info.display_name} on {args.set}; calibration {spec.to_json()}, {len(images)} patches; "
          f"observer {args.observer}; CPU: {kernel_info().label}")
    header = ["plan", *[f"{name} fidelity / PSNR-Y" for name, _, _ in pairs], "mean fidelity", "mean PSNR-Y", "calib s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    ref = [psnr_y(fp32[name], hr) for name, hr, _ in pairs]
    cells = [f"- / {r:.2f}" for r in ref]
    print(f"| fp32 | {' | '.join(cells)} | - | {np.mean(ref):.2f} | - |", flush=True)
    for text in args.plans:
        plan = parse_plan(text)
        t = time.perf_counter()
        qmodel = quantize(model, plan, calib=images, observer=args.observer)
        seconds = time.perf_counter() - t
        fid, vs_hr = [], []
        for name, hr, lr in pairs:
            out = run(qmodel, lr)
            fid.append(psnr_y(out, fp32[name]))
            vs_hr.append(psnr_y(out, hr))
        cells = [f"{f:.2f} / {h:.2f}" for f, h in zip(fid, vs_hr)]
        print(f"| {text} ({plan}) | {' | '.join(cells)} | {np.mean(fid):.2f} | {np.mean(vs_hr):.2f} | {seconds:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
