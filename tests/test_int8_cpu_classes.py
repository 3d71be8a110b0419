"""int8 is right on both CPU classes: with VNNI (32-bit pair sums) and without (16-bit saturating pair sums).

Each case runs tests/int8_cpu_probe.py in a subprocess, natively and with ONEDNN_MAX_CPU_ISA=AVX2, which makes
oneDNN pick its no-VNNI kernels on a VNNI machine (on a machine without VNNI both runs are of that class).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from engine.quant.kernels import kernel_info

PROBE = Path(__file__).with_name("int8_cpu_probe.py")
REPO = PROBE.parents[1]
CLASSES = {"native": None, "avx2": "AVX2"}

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="oneDNN int8 kernel classes are an x86 matter")


def probe(isa_cap: str | None, *args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa_cap:
        env["ONEDNN_MAX_CPU_ISA"] = isa_cap
    done = subprocess.run([sys.executable, str(PROBE), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_probe_agrees_with_the_cpu_flags():
    info = kernel_info()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if not flags:
        pytest.skip("no /proc/cpuinfo to compare with")
    vnni = any(f in flags.split() for f in ("avx512_vnni", "avx_vnni", "amx_int8"))
    if not os.environ.get("ONEDNN_MAX_CPU_ISA"):
        assert info.saturates == (not vnni), info.label
    assert info.int8 and info.isa in info.label
    assert probe("AVX2", "info")["kernels"]["saturates"]  # the cap takes effect, whatever the CPU


@pytest.mark.parametrize("cpu_class", CLASSES)
def test_a_worst_case_int8_conv_is_exact(cpu_class):
    """Same-sign weights and a bright, clipped image: the no-VNNI kernels overflow (checked, so this test can
    fail), and the guarded conv still gives the exact integer result."""
    result = probe(CLASSES[cpu_class], "conv")
    assert result["headroom"] > 1
    assert result["guarded_steps"] <= 1, result
    if result["kernels"]["saturates"]:
        assert result["unguarded_steps"] > 4, result


def test_the_shipped_int8_artifact_matches_on_both_classes():
    native, avx2 = (probe(cap, "generator") for cap in CLASSES.values())
    assert native["psnr"] > 38 and avx2["psnr"] > 38
    assert abs(native["psnr"] - avx2["psnr"]) < 0.3, (native, avx2)


@pytest.mark.parametrize("made_on, run_on", [("avx2", "native"), ("native", "avx2")])
def test_one_artifact_file_serves_both_classes(tmp_path, made_on, run_on):
    path = tmp_path / "tiny-int8.safetensors"
    made = probe(CLASSES[made_on], "save", str(path))
    run = probe(CLASSES[run_on], "load", str(path))
    worst = max(abs(a - b) for a, b in zip(made["output"], run["output"]))
    assert worst < 0.02, worst  # one int8 output step of the last conv is ~0.01
