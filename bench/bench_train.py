"""Training throughput on this machine: steps/s and patches/s, both generators, fp32, bf16 and QAT.

Run: .venv/bin/python bench/bench_train.py [--batch 16] [--patch 24] [--repeat 3] [--threads 2] [--device cpu]
(part of `make bench`). Each row times the real training step of the engine (engine.train's jobs: L1
pre-training step for fp32 and bf16 autocast (the latter only where the hardware has native bf16),
distillation step of a mixed-precision fake-quant student for QAT, alone and with adversarial distillation
at the weights docs/training.md uses) on random patches, after one warm-up step, in this one process; the
ratios to fp32 are from the same run.
Trained SRGAN weights are used when shipped; otherwise an untrained SRResNet-16 (the cost is the same).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import copy
import statistics
import time

import torch

from engine import archs
from engine.errors import ModelError
from engine.quant import prepare_qat
from engine.train.common import native_bf16
from engine.train.distributed import World, pick_device
from engine.train.qat import QATJob
from engine.train.srgan import PretrainJob
from engine.weights import load_model


def generator(spec: str) -> torch.nn.Module:
    try:
        return load_model(spec)[0]
    except ModelError:
        if spec != "srgan":
            raise
        return archs.build("srresnet")


def steps_per_second(job, batch: int, patch: int, device: torch.device, repeat: int) -> float:
    lr = torch.rand(batch, 3, patch, patch, device=device).contiguous(memory_format=torch.channels_last)
    hr = torch.rand(batch, 3, 4 * patch, 4 * patch, device=device).contiguous(memory_format=torch.channels_last)
    job.step(0, lr, hr)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        job.step(i + 1, lr, hr)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=24, help="LR patch side")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    world = World(device=device)
    print(f"device {device}, {args.threads} threads, batch {args.batch}, LR patch {args.patch}, "
          f"median of {args.repeat} steps")
    print(f"{'generator':10} {'mode':14} {'steps/s':>8} {'patches/s':>10} {'vs fp32':>8}")
    for name in ("srgan", "esrgan"):
        model = generator(name)
        jobs = {"fp32 (L1)": PretrainJob(copy.deepcopy(model), {"lr": 1e-9, "steps": 10, "bf16": False}, world)}
        if native_bf16(device):
            jobs["bf16 (L1)"] = PretrainJob(copy.deepcopy(model), {"lr": 1e-9, "steps": 10, "bf16": True}, world)
        qat = {"lr": 1e-9, "steps": 10, "hr_weight": 0.0}
        jobs["QAT mixed"] = QATJob(copy.deepcopy(model), prepare_qat(model, "mixed"), qat, world)
        jobs["QAT mixed+adv"] = QATJob(copy.deepcopy(model), prepare_qat(model, "mixed"),
                                       {**qat, "adv_weight": 5e-3, "fm_weight": 1.0}, world)
        fp32 = None
        for mode, job in jobs.items():
            rate = steps_per_second(job, args.batch, args.patch, device, args.repeat)
            fp32 = fp32 or rate
            print(f"{name:10} {mode:14} {rate:8.3f} {rate * args.batch:10.2f} {rate / fp32:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
