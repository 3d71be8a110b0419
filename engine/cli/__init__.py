"""The ``mpsr`` command line: a thin shell over the engine calls the GUI uses.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``; the parser
stores the module's ``run(args) -> int`` as ``args.func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine import __version__

# Order is the order shown in --help.
COMMANDS = ("upscale", "quantize", "eval", "train", "sweep", "models", "info", "gui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpsr",
        description="Multi-Precision Super-Resolution: 4x upscaling with SRGAN/ESRGAN in fp32, int8 and mixed precision.",
    )
    parser.add_argument("--version", action="version", version=f"mpsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"engine.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from engine.cli.common import run_command

    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
