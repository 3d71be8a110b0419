"""The ``mpsr`` command: the engine's commands plus ``mpsr gui [FILES...]``, which opens the desktop app.

The console script and the bundle start here, above both packages, so the engine's CLI never imports the app.
Nothing here imports Qt: a headless ``mpsr upscale`` works without PySide6, and ``mpsr gui`` loads it when it runs.
"""

from __future__ import annotations

import argparse
import sys

from engine import cli


def add_parser(sub) -> None:
    parser = sub.add_parser("gui", help="open the desktop app", description="Open the MPSR desktop app.")
    parser.add_argument("files", nargs="*", metavar="FILE", help="images or folders to queue on start")
    # For packaging/smoke.py: open, wait for the window and the engine, print the times, close.
    parser.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args) -> int:
    try:
        from app.main import main as open_window
    except ImportError as err:
        from engine.errors import MPSRError

        raise MPSRError(f"the desktop app needs PySide6 ({err}); install the project with its dependencies") from None
    return open_window(args.files, smoke_test=args.smoke_test)


def build_parser() -> argparse.ArgumentParser:
    return cli.build_parser(extra=[sys.modules[__name__]])


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, extra=[sys.modules[__name__]])


if __name__ == "__main__":
    sys.exit(main())
