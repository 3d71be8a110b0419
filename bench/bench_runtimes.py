"""Inference runtimes side by side, natively and with oneDNN capped at AVX2 (the kernels of a CPU without VNNI).

Run: .venv/bin/python bench/bench_runtimes.py [--models srgan esrgan] [--isa native avx2] [--repeat 3]
(or `make bench`, which installs the `bench` extra: openvino, nncf).

Rows, per generator: torch fp32 (channels-last); this project's torch.ao int8 and mixed PTQ (load_precision)
and the shipped QAT artifacts (models/*-qat.safetensors); onnxruntime fp32 and QDQ int8 / mixed (quantize_static:
u8 activations, s8 per-channel weights, MinMax; mixed keeps u16/s16 QDQ in the 16-bit stages); OpenVINO fp32
(convert_model on the ONNX), int8 from onnxruntime's QDQ ONNX (8-bit weights, and 7-bit weights: reduce_range),
and NNCF PTQ with overflow_fix first_layer_only
(its default), enable (7-bit weights everywhere) and first_layer_only with the head and tail left fp32. Every
quantizer calibrates on the same images, engine.quant.calibration_images() (the bundled samples).

Per row: latency at 1 thread as process CPU time (median of --repeat runs on the first crop; other jobs on a
shared machine barely move it), at 2 threads as wall clock (median over the crops), PSNR (RGB, 8-bit output) to
the torch fp32 output on real photo crops (../shared/data/train/sun_hays80, never Set5/Set14), size on disk, and
the conv kernels each runtime reports: oneDNN's verbose lines for torch, the compiled runtime model for OpenVINO.
onnxruntime's MLAS picks kernels by CPUID itself and does not name them.

ONEDNN_MAX_CPU_ISA must be set before oneDNN loads, so every (ISA setting, generator, runtime) runs in its own
subprocess; the AVX2 table also compares each row's output with its native output, which shows whether the
runtime obeyed the cap. Models derived once per generator (ONNX, QDQ ONNX, OpenVINO IRs) are cached under
out/bench_runtimes/cache; the torch.ao PTQ artifacts live in the app's model cache.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # measure this checkout's engine, whatever the venv has installed

PHOTOS = REPO.parent / "shared" / "data" / "train" / "sun_hays80"
SAMPLES = REPO / "resources" / "samples"
OUT = REPO / "out" / "bench_runtimes"
RECIPE = 2  # bump when prepare() makes its files differently
SIZES = {"srgan": 128, "esrgan": 96}
ISA_ENV = {"native": None, "avx2": "AVX2"}
NNCF_ROWS = (  # (file stem, label, overflow_fix, head and tail left fp32)
    ("ov-nncf", "NNCF PTQ int8, overflow_fix=first_layer_only (default)", "first_layer_only", False),
    ("ov-nncf-fix", "NNCF PTQ int8, overflow_fix=enable", "enable", False),
    ("ov-nncf-mixed", "NNCF PTQ int8 body, head+tail fp32", "first_layer_only", True),
)


# ---------------------------------------------------------------- inputs
def photo_crops(count: int, size: int) -> tuple[np.ndarray, str]:
    """``count`` LR inputs (N x 3 x size x size float32): centre crops of 4*size of real photos, bicubic /4."""
    paths = sorted(PHOTOS.glob("*.jpg"))
    source = "../shared/data/train/sun_hays80"
    if not paths:
        paths = sorted(SAMPLES.glob("*.png"))
        source = "resources/samples (sun_hays80 absent; these are also the calibration images)"
    paths = [paths[i * len(paths) // count] for i in range(min(count, len(paths)))]
    crops = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        side = min(4 * size, *img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        hr = img.crop((left, top, left + side, top + side))
        lr = hr.resize((size, size), Image.Resampling.BICUBIC)
        crops.append(np.asarray(lr, dtype=np.float32).transpose(2, 0, 1) / 255.0)
    return np.ascontiguousarray(np.stack(crops)), f"{source}: " + ", ".join(p.stem for p in paths)


def to_8bit(y: np.ndarray) -> np.ndarray:
    """1 x 3 x H x W float output -> H x W x 3 uint8, as the app saves it."""
    return np.round(np.clip(y[0], 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# ---------------------------------------------------------------- derived models (once per generator)
class _Reader:
    """onnxruntime CalibrationDataReader over HxWx3 images."""

    def __init__(self, images):
        self._it = iter([{"x": np.ascontiguousarray(i.transpose(2, 0, 1))[None]} for i in images])

    def get_next(self):
        return next(self._it, None)


def _ort_quantize(fp32: Path, out: Path, images, plan, *, weights_7bit: bool = False) -> None:
    """QDQ int8 (u8 activations: they fuse every Conv, s8 ones do not), u16/s16 QDQ in the plan's 16-bit stages.

    ``weights_7bit``: onnxruntime's reduce_range, int8 weights on [-64, 63], so no pair of u8 x s8 products can
    overflow 16 bits (the overflow fix of NNCF's overflow_fix=enable, with MinMax ranges and ORT's placement).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from engine.archs import STAGES
    from engine.quant import Precision

    sixteen = {s for s, p in zip(STAGES, plan.stages) if p is Precision.INT16}
    overrides = {}
    for node in onnx.load(str(fp32)).graph.node:
        if node.name.strip("/").split("/")[0] in sixteen:
            for name in [*node.input, *node.output]:
                if name and name != "x":
                    kind = QuantType.QInt16 if name.endswith("weight") else QuantType.QUInt16
                    overrides[name] = [{"quant_type": kind}]
    quantize_static(str(fp32), str(out), _Reader(images), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, reduce_range=weights_7bit,
                    extra_options={"TensorQuantOverrides": overrides, "UseQDQContribOps": bool(overrides)})


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "onnxruntime", "openvino", "nncf"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def prepare(spec: str, dest: Path) -> None:
    """Fill the torch.ao PTQ cache and write the ONNX / OpenVINO files of ``spec`` into ``dest``."""
    import torch

    from engine.quant import PRESETS, calibration_images, load_precision
    from engine.weights import load_model

    model, info = load_model(spec)
    images = calibration_images(scale=info.scale)
    for plan in ("int8", "mixed"):
        load_precision(model, info, plan)
    recipe = {"recipe": RECIPE, "sha256": info.card.get("sha256") if info.card else None, "versions": _versions()}
    if (dest / "recipe.json").is_file() and json.loads((dest / "recipe.json").read_text()) == recipe:
        return
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    fp32 = tmp / "ort-fp32.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.rand(1, 3, 32, 32),), str(fp32), input_names=["x"], output_names=["y"],
                          dynamo=False, opset_version=17, dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "H", 3: "W"}})
    for plan in ("int8", "mixed"):
        _ort_quantize(fp32, tmp / f"ort-{plan}.onnx", images, PRESETS[plan])
    _ort_quantize(fp32, tmp / "ort-int8-w7.onnx", images, PRESETS["int8"], weights_7bit=True)
    if recipe["versions"]["openvino"] and recipe["versions"]["nncf"]:
        _prepare_openvino(tmp, images)
    (tmp / "recipe.json").write_text(json.dumps(recipe))
    if dest.exists():
        for f in dest.iterdir():
            f.unlink()
        dest.rmdir()
    tmp.rename(dest)


def _prepare_openvino(tmp: Path, images) -> None:
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        OverflowFix,
    )

    def save(model, stem):  # fp32 weights stay fp32 (save_model would halve them by default)
        ov.save_model(model, str(tmp / f"{stem}.xml"), compress_to_fp16=False)

    save(ov.convert_model(str(tmp / "ort-fp32.onnx")), "ov-fp32")
    save(ov.convert_model(str(tmp / "ort-int8.onnx")), "ov-qdq")
    save(ov.convert_model(str(tmp / "ort-int8-w7.onnx")), "ov-qdq-w7")
    data = nncf.Dataset(images, lambda im: np.ascontiguousarray(im.transpose(2, 0, 1))[None])
    for stem, _, fix, keep_ends in NNCF_ROWS:
        scope = nncf.IgnoredScope(patterns=["/feature_extraction/.*", "/reconstruction/.*"]) if keep_ends else None
        q = nncf.quantize(ov.convert_model(str(tmp / "ort-fp32.onnx")), data, subset_size=len(images),
                          ignored_scope=scope,
                          advanced_parameters=AdvancedQuantizationParameters(overflow_fix=OverflowFix(fix)))
        save(q, stem)


# ---------------------------------------------------------------- timing (inside a worker)
def measure(make_runner, crops: np.ndarray, repeat: int) -> dict:
    """2 threads: warm-up, then one wall-clock run per crop (outputs kept); 1 thread: CPU time on crop 0."""
    run = make_runner(2)
    run(crops[:1])  # warm-up: kernels are built on the first call
    outs, walls = [], []
    for i in range(len(crops)):
        t = time.perf_counter()
        y = run(crops[i:i + 1])
        walls.append(time.perf_counter() - t)
        outs.append(to_8bit(y))
    run = make_runner(1)
    run(crops[:1])
    cpu = []
    for _ in range(repeat):
        t = time.process_time()
        run(crops[:1])
        cpu.append(time.process_time() - t)
    return {"cpu1": statistics.median(cpu), "wall2": statistics.median(walls), "outputs": np.stack(outs)}


@contextmanager
def _stdout_to(path: Path):
    """Send the process's fd 1 (where oneDNN prints its verbose lines) to ``path`` for a while."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.close(fd)
    try:
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def onednn_convs(fn) -> str:
    """Run ``fn`` once with oneDNN verbose on; the conv implementations it used, by source data type."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "verbose.txt"
        with _stdout_to(log), torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            fn()
        lines = log.read_text().splitlines()
    seen = Counter()
    for line in lines:
        parts = line.split(",")
        if len(parts) > 8 and parts[2:4] == ["primitive", "exec"] and parts[5] == "convolution":
            src = re.search(r"src:(\w+)", line)
            seen[f"{src.group(1) if src else '?'} {parts[6]}"] += 1
    return "; ".join(f"{k} x{n}" for k, n in sorted(seen.items())) or "no oneDNN conv"


def _artifact(path: Path):
    from engine.quant import load_artifact

    module, info = load_artifact(path)
    return module, info.size_bytes


def worker_torch(spec: str, prepared: Path, crops: np.ndarray, repeat: int) -> list[dict]:
    import torch

    from engine.quant import load_precision
    from engine.weights import load_model

    model, info = load_model(spec)
    model = model.eval().to(memory_format=torch.channels_last)
    variants = [
        ("torch", "fp32 (channels-last)", lambda: (model, info.size_bytes)),
        ("torch.ao", "int8 PTQ", lambda: load_precision(model, info, "int8")),
        ("torch.ao", "mixed PTQ (16,8,8,16)", lambda: load_precision(model, info, "mixed")),
    ]
    for plan in ("int8", "mixed"):
        path = REPO / "models" / f"{spec}-{plan}-qat.safetensors"
        if path.is_file():
            variants.append(("torch.ao", f"{plan} QAT (models/{path.name})", lambda p=path: _artifact(p)))
    rows = []
    for runtime, precision, load in variants:
        module, size = load()

        def make_runner(threads, module=module):
            def run(x):
                torch.set_num_threads(threads)
                with torch.inference_mode():
                    t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
                    return module(t).float().numpy()
            return run

        kernels = onednn_convs(lambda: make_runner(2)(crops[:1]))
        rows.append({"runtime": runtime, "precision": precision, "size": size, "kernels": kernels,
                     **measure(make_runner, crops, repeat)})
    return rows


def worker_ort(spec: str, prepared: Path, crops: np.ndarray, repeat: int) -> list[dict]:
    import onnxruntime as ort

    rows = []
    for stem, precision in (("ort-fp32", "fp32"), ("ort-int8", "int8 QDQ (u8 act, s8 per-channel weights)"),
                            ("ort-mixed", "mixed QDQ (u16/s16 head+tail, u8/s8 body)")):
        path = prepared / f"{stem}.onnx"

        def make_runner(threads, path=path):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores; CPU time
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            return lambda x: sess.run(None, {"x": x})[0]

        rows.append({"runtime": f"onnxruntime {ort.__version__}", "precision": precision,
                     "size": path.stat().st_size, "kernels": "MLAS (own CPUID dispatch)",
                     **measure(make_runner, crops, repeat)})
    return rows


def _ov_kernels(compiled) -> str:
    seen = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        if rt["layerType"].astype(str) == "Convolution":
            seen[f"{rt['runtimePrecision'].astype(str)} {rt['primitiveType'].astype(str)}"] += 1
    return "; ".join(f"{k} x{n}" for k, n in sorted(seen.items()))


def worker_openvino(spec: str, prepared: Path, crops: np.ndarray, repeat: int) -> list[dict]:
    import openvino as ov

    core = ov.Core()
    rows = []
    variants = [("ov-fp32", "fp32"), ("ov-qdq", "int8 from onnxruntime's QDQ ONNX"),
                ("ov-qdq-w7", "int8 from the QDQ ONNX with 7-bit weights (reduce_range)")]
    variants += [(stem, label) for stem, label, _, _ in NNCF_ROWS]
    for stem, precision in variants:
        xml = prepared / f"{stem}.xml"
        model = core.read_model(str(xml))
        model.reshape([1, 3, *crops.shape[2:]])
        compiled = {}

        def make_runner(threads, model=model, compiled=compiled):
            # f32 explicitly: on a CPU with AVX512_BF16 the plugin's default is bf16 (and under the AVX2 cap that
            # default fails to compile); NHWC/pinning left to the plugin except pinning, off on shared cores.
            compiled[threads] = core.compile_model(model, "CPU", {
                "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": False})
            request = compiled[threads].create_infer_request()
            return lambda x: request.infer({0: x})[0].copy()

        result = measure(make_runner, crops, repeat)
        rows.append({"runtime": f"OpenVINO {ov.__version__.split('-')[0]}", "precision": precision,
                     "size": xml.stat().st_size + xml.with_suffix(".bin").stat().st_size,
                     "kernels": _ov_kernels(compiled[1]), **result})
    return rows


WORKERS = {"torch": worker_torch, "ort": worker_ort, "openvino": worker_openvino}


def run_worker(args) -> None:
    crops = np.load(args.crops)
    rows = WORKERS[args.worker](args.model, Path(args.prepared), crops, args.repeat)
    out = Path(args.result)
    if args.worker == "torch":
        from engine.quant import kernel_info

        (out.parent / f"{out.stem}-kernels.txt").write_text(kernel_info().label)
    for i, row in enumerate(rows):
        np.save(out.with_name(f"{out.stem}-{i}.npy"), row.pop("outputs"))
        row["outputs"] = str(out.with_name(f"{out.stem}-{i}.npy"))
    out.write_text(json.dumps(rows))


# ---------------------------------------------------------------- the parent: subprocesses and tables
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _env(isa: str) -> dict:
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONWARNINGS="ignore")
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if ISA_ENV[isa]:
        env["ONEDNN_MAX_CPU_ISA"] = ISA_ENV[isa]
    return env


def _child(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env, text=True,
                          capture_output=True, check=False)


def fmt_psnr(values: list[float]) -> str:
    if all(v == float("inf") for v in values):
        return "identical"
    finite = [min(v, 99.0) for v in values]
    return f"{statistics.mean(finite):.2f} ({min(finite):.2f})"


def table(isa: str, results: dict, native: dict | None) -> list[str]:
    head = ("| model | runtime | precision | 1 thread CPU s | speed-up | 2 threads wall s | speed-up | "
            f"PSNR to torch fp32, dB mean (min) | MB |{' output vs native dB |' if native else ''} conv kernels |")
    lines = [head,
             "|---|---|---|---|---|---|---|---|---|" + ("---|" if native else "") + "---|"]
    for model, rows in results.items():
        ref = next((r for r in rows if r.get("precision", "").startswith("fp32") and r["runtime"] == "torch"), None)
        for r in rows:
            if "error" in r:
                lines.append(f"| {model} | {r['runtime']} | not run: {r['error']} |")
                continue
            same = ""
            if native:
                twin = next((n for n in native.get(model, []) if (n.get("runtime"), n.get("precision"))
                             == (r["runtime"], r["precision"]) and "error" not in n), None)
                same = f" {fmt_psnr(r['vs_native']) if twin else '-'} |"
            lines.append(
                f"| {model} | {r['runtime']} | {r['precision']} | {r['cpu1']:.3f} | {ref['cpu1'] / r['cpu1']:.2f}x | "
                f"{r['wall2']:.3f} | {ref['wall2'] / r['wall2']:.2f}x | {fmt_psnr(r['psnr'])} | "
                f"{r['size'] / 1e6:.2f} |{same} {r['kernels']} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["srgan", "esrgan"], choices=sorted(SIZES))
    ap.add_argument("--isa", nargs="+", default=["native", "avx2"], choices=list(ISA_ENV))
    ap.add_argument("--runtimes", nargs="+", default=list(WORKERS), choices=list(WORKERS))
    ap.add_argument("--crops", type=int, default=4, help="photo crops for PSNR and the 2-thread timing")
    ap.add_argument("--repeat", type=int, default=3, help="1-thread runs (median)")
    ap.add_argument("--keep-outputs", action="store_true", help="keep the upscaled crops (.npy) in the run folder")
    ap.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--prepared", help=argparse.SUPPRESS)
    ap.add_argument("--crops-file", dest="crops_path", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        return prepare(args.model, Path(args.prepared))
    if args.worker:
        args.crops = args.crops_path
        return run_worker(args)

    import engine

    run_dir = OUT / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True)
    versions = _versions()
    runtimes = ["torch"] + [w for w in args.runtimes if w != "torch"]  # torch fp32 is every row's reference
    runtimes = [w for w in runtimes if w != "openvino" or (versions["openvino"] and versions["nncf"])]
    if "openvino" in args.runtimes and "openvino" not in runtimes:
        print("OpenVINO rows skipped: openvino/nncf not installed (pip install -e '.[bench]', or `make bench`)")
    header = [f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs",
              "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
              f"engine: {Path(engine.__file__).parent}"]
    crops, inputs = {}, {}
    for model in args.models:
        crops[model], inputs[model] = photo_crops(args.crops, SIZES[model])
        np.save(run_dir / f"crops-{model}.npy", crops[model])
        header.append(f"{model}: {SIZES[model]}x{SIZES[model]} -> {4 * SIZES[model]}x{4 * SIZES[model]}, "
                      f"{len(crops[model])} crops of {inputs[model]}")
        t = time.perf_counter()
        done = _child(["--prepare", "--model", model, "--prepared", str(OUT / "cache" / model)], _env("native"))
        if done.returncode:
            sys.exit(f"preparing {model} failed:\n{done.stderr[-3000:]}")
        print(f"prepared {model} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    print("\n".join(header) + "\n")
    all_results: dict[str, dict] = {}
    for isa in args.isa:
        results: dict[str, list] = {}
        for model in args.models:
            results[model] = []
            for worker in runtimes:
                result = run_dir / f"{isa}-{model}-{worker}.json"
                t = time.perf_counter()
                done = _child(["--worker", worker, "--model", model, "--prepared", str(OUT / "cache" / model),
                               "--crops-file", str(run_dir / f"crops-{model}.npy"), "--repeat", str(args.repeat),
                               "--result", str(result)], _env(isa))
                print(f"{isa} {model} {worker}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
                if done.returncode:
                    if worker == "torch":
                        sys.exit(f"the torch reference run failed ({isa}, {model}):\n{done.stderr[-3000:]}")
                    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
                    results[model].append({"runtime": worker, "error": last[:200]})
                    continue
                results[model].extend(json.loads(result.read_text()))
            ref = next(np.load(r["outputs"]) for r in results[model] if r.get("runtime") == "torch")
            for r in results[model]:
                if "error" not in r:
                    out = np.load(r["outputs"])
                    r["psnr"] = [psnr(a, b) for a, b in zip(out, ref)]
                    twin = next((n for n in all_results.get("native", {}).get(model, [])
                                 if (n.get("runtime"), n.get("precision")) == (r["runtime"], r["precision"])
                                 and "error" not in n), None)
                    if twin and isa != "native":
                        r["vs_native"] = [psnr(a, b) for a, b in zip(out, np.load(twin["outputs"]))]
        all_results[isa] = results
        cap = ISA_ENV[isa]
        labels = sorted({p.read_text() for p in run_dir.glob(f"{isa}-*-torch-kernels.txt")})
        title = (f"### {'native' if not cap else f'ONEDNN_MAX_CPU_ISA={cap}'}: 1 thread = process CPU time, median "
                 f"of {args.repeat} runs; 2 threads = wall clock, median over the crops (shared machine)")
        lines = [title, "", *(f"int8 kernels (engine.quant.kernel_info): {label}" for label in labels), "", *table(isa, results, all_results.get("native") if isa != "native" else None), ""]
        print("\n".join(lines), flush=True)
        with (run_dir / "tables.md").open("a") as f:
            f.write("\n".join(lines) + "\n")
    (run_dir / "results.json").write_text(json.dumps({"header": header, "results": all_results}, indent=1))
    if not args.keep_outputs:
        for f in run_dir.glob("*.npy"):
            f.unlink()
    print(f"results: {run_dir.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
