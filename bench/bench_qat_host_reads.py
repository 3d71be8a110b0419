"""Host reads per QAT step: how often the fake-quant student makes the GPU wait, counted on any device.

Run: .venv/bin/python bench/bench_qat_host_reads.py [--model esrgan] [--plan mixed]   (part of `make bench`)
Counts the reads of a tensor value into Python (``aten::_local_scalar_dense``: ``.item()``, ``if tensor:``) in one
forward + backward of the QAT student, with activation ranges fixed as QAT's default recipe has them, for the
project's ``HostFlagFakeQuantize`` and for torch.ao's own ``FakeQuantize`` on the same student. On CUDA each read
is a wait for the GPU's queue to drain; on the CPU it costs nothing, so the count, not a time, is the measure.
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.ao.quantization as tq
from host_reads import host_reads

from engine.quant import backend, freeze_observers, prepare_qat
from engine.weights import load_model


def reads(model: torch.nn.Module, x: torch.Tensor) -> int:
    return host_reads(lambda: model(x).mean().backward())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="esrgan")
    parser.add_argument("--plan", default="mixed")
    args = parser.parse_args()
    x = torch.rand(1, 3, 8, 8)
    student = prepare_qat(load_model(args.model)[0], args.plan)
    student(x)
    for fake_quant in backend._activation_fake_quants(student).values():
        fake_quant.disable_observer()
    stock = copy.deepcopy(student)
    for mod in stock.modules():
        if type(mod) is backend.HostFlagFakeQuantize:
            mod.__class__ = tq.FakeQuantize
    modules = sum(isinstance(m, tq.FakeQuantizeBase) for m in student.modules())
    print(f"{args.model} {args.plan} QAT student, {modules} fake-quant modules; host reads per forward + backward")
    print(f"{'phase':<28}{'torch.ao FakeQuantize':>24}{'HostFlagFakeQuantize':>24}")
    row = [reads(stock, x), reads(student, x)]
    print(f"{'weight ranges moving':<28}{row[0]:>24}{row[1]:>24}")
    freeze_observers(stock)
    freeze_observers(student)
    row = [reads(stock, x), reads(student, x)]
    print(f"{'all ranges frozen':<28}{row[0]:>24}{row[1]:>24}")


if __name__ == "__main__":
    main()
