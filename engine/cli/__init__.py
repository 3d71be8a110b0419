"""The ``mpsr`` command line: a thin shell over the engine calls the GUI uses.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``; the parser
stores the module's ``run(args) -> int`` as ``args.func``. Commands of the layers above the engine (``mpsr gui``,
app/cli.py) come in as ``extra`` modules of the same shape: the ``mpsr`` console script starts there.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from engine import __version__

# Order is the order shown in --help.
COMMANDS = ("upscale", "quantize", "eval", "train", "sweep", "models", "info")


def build_parser(extra: Sequence[ModuleType] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpsr",
        description="Multi-Precision Super-Resolution: 4x upscaling with SRGAN/ESRGAN in fp32, int8 and mixed precision.",
    )
    parser.add_argument("--version", action="version", version=f"mpsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in [importlib.import_module(f"engine.cli.{name}") for name in COMMANDS] + list(extra):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None, extra: Sequence[ModuleType] = ()) -> int:
    parser = build_parser(extra)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from engine.cli.common import run_command

    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
