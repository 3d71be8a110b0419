"""``mpsr info``: what this machine runs: versions, the CPU class of the int8 kernels, threads, GPU."""

from __future__ import annotations

import argparse
import json
import platform


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show the CPU class, int8 kernels and versions this machine runs",
                       description="Show what quantized generators run on here (int8 results depend on the CPU class).")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from engine import __version__
    from engine.quant import kernel_info

    kernels = kernel_info()
    facts = {
        "mpsr": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": kernels.to_json(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if args.json:
        print(json.dumps(facts))
        return 0
    print(f"mpsr {facts['mpsr']}, Python {facts['python']}, torch {facts['torch']}")
    print(f"CPU: {kernels.label}")
    print(f"threads: {facts['threads']}; GPU: {facts['cuda'] or 'none (training and fp32 run on the CPU)'}")
    return 0
