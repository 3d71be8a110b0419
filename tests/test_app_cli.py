"""`mpsr gui`: a command of the app's own (app/cli.py), parsed without importing Qt until it runs."""

from __future__ import annotations

import subprocess
import sys

from app import cli
from app.cli import build_parser


def test_gui_command_takes_files():
    args = build_parser().parse_args(["gui", "a.png", "photos/"])
    assert args.func is cli.run and args.files == ["a.png", "photos/"]
    assert build_parser().parse_args(["gui"]).files == []


def test_cli_does_not_import_qt():
    code = "import sys, app.cli; app.cli.build_parser(); print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_window_module_starts_without_torch_or_pyiqa():
    # Both take seconds to import: they load in the worker thread, never before the window shows.
    code = "import sys, app.main_window; print('torch' in sys.modules, 'pyiqa' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
