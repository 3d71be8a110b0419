"""``mpsr gui [FILES...]``: open the desktop app (Qt is imported only when this runs)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    parser = sub.add_parser("gui", help="open the desktop app", description="Open the MPSR desktop app.")
    parser.add_argument("files", nargs="*", metavar="FILE", help="images or folders to queue on start")
    # For packaging/smoke.py: open, wait for the window and the engine, print the times, close.
    parser.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args) -> int:
    try:
        from app.main import main
    except ImportError as err:
        from engine.errors import MPSRError

        raise MPSRError(f"the desktop app needs PySide6 ({err}); install the project with its dependencies") from None
    return main(args.files, smoke_test=args.smoke_test)
