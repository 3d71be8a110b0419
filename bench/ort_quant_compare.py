"""Backend choice: torch.ao eager (oneDNN) vs onnxruntime QDQ for the same plans, same calibration images.

Run: .venv/bin/python bench/ort_quant_compare.py [--model esrgan] [--repeat 3] [--threads 2] [--cpu-time]

For each plan: latency 128x128 -> 512x512 on 2 threads (median) and fidelity (PSNR-Y of the output
against the fp32 output, on a real photo that is not in Set5/Set14). onnxruntime gets u8 activations and
per-channel s8 weights (u8 fuses every Conv, s8 activations do not: FACTS.md); its int16 stages use
16-bit QDQ tensors through TensorQuantOverrides (contrib Q/DQ ops).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
from bench_quant import median_seconds
from common import photo, set_threads

from engine.metrics import evaluate
from engine.metrics.iqa import psnr_y
from engine.quant import PRESETS, calibration_images, quantize
from engine.quant.plan import Precision
from engine.weights import load_model


class _Reader:
    """onnxruntime CalibrationDataReader over HxWx3 images."""

    def __init__(self, images):
        self._it = iter([{"x": np.ascontiguousarray(i.transpose(2, 0, 1))[None]} for i in images])

    def get_next(self):
        return next(self._it, None)


def _export(model, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 3, 32, 32),), str(path), input_names=["x"], output_names=["y"],
                          dynamo=False, opset_version=17,
                          dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "H", 3: "W"}})


def _ort_quantize(fp32: Path, out: Path, images, plan) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    overrides = {}
    graph = onnx.load(str(fp32)).graph
    sixteen = {s for s, p in zip(("feature_extraction", "body", "upsampling", "reconstruction"), plan.stages)
               if p is Precision.INT16}
    for node in graph.node:
        stage = node.name.strip("/").split("/")[0]
        if stage in sixteen:
            for name in [*node.input, *node.output]:
                if name and name != "x":
                    is_weight = name.endswith("weight")
                    overrides[name] = [{"quant_type": QuantType.QInt16 if is_weight else QuantType.QUInt16}]
    quantize_static(str(fp32), str(out), _Reader(images), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"TensorQuantOverrides": overrides, "UseQDQContribOps": bool(overrides)})


def main() -> None:
    import onnxruntime as ort

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="esrgan")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu-time", action="store_true", help="time with process CPU time (see bench_quant.py)")
    args = ap.parse_args()
    set_threads(args.threads)
    model, info = load_model(args.model)
    images = calibration_images()
    lr = photo(128, 128)
    x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        ref = evaluate.to_8bit(model(x)[0].clamp(0, 1).permute(1, 2, 0).numpy())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = args.threads, 1
    if args.cpu_time:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # spinning would count as CPU time
    clock = "process CPU time" if args.cpu_time else "wall clock"
    print(f"{info.display_name}, 128x128 -> 512x512, {args.threads} threads, {clock}; "
          "fidelity = PSNR-Y vs the fp32 output")
    print("| plan | backend | latency (s) | fidelity (dB) | file (MB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp_dir:
        fp32 = Path(tmp_dir) / "fp32.onnx"
        _export(model, fp32)
        for name in ("int8", "mixed"):
            plan = PRESETS[name]
            qmodel = quantize(model, plan, calib=images)
            with torch.inference_mode():
                t = median_seconds(partial(qmodel, x), args.repeat, args.cpu_time)
                out = evaluate.to_8bit(qmodel(x)[0].clamp(0, 1).permute(1, 2, 0).numpy())
            print(f"| {name} | torch.ao eager, oneDNN | {t:.3f} | {psnr_y(out, ref):.2f} | - |", flush=True)
            qpath = Path(tmp_dir) / f"{name}.onnx"
            _ort_quantize(fp32, qpath, images, plan)
            sess = ort.InferenceSession(str(qpath), opts, providers=["CPUExecutionProvider"])
            feed = {"x": x.numpy()}
            t = median_seconds(partial(sess.run, None, feed), args.repeat, args.cpu_time)
            y = sess.run(None, feed)[0][0]
            out = evaluate.to_8bit(np.clip(y, 0, 1).transpose(1, 2, 0))
            print(f"| {name} | onnxruntime QDQ | {t:.3f} | {psnr_y(out, ref):.2f} | {qpath.stat().st_size / 1e6:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
