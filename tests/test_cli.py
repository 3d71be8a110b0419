"""The ``mpsr`` command line as a user runs it, on a tiny generator saved to a file."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.weights import save_model


@pytest.fixture
def tiny_model_file(tmp_path, tiny_rrdb):
    path = tmp_path / "tiny.safetensors"
    save_model(tiny_rrdb, path, {"name": "tiny", "display_name": "tiny test RRDBNet"})
    return path


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / name)
    return folder


def test_upscale_folder_and_glob_writes_outputs_named_by_model_and_precision(tmp_path, tiny_model_file, images, capsys):
    out = tmp_path / "out"
    code = main(["upscale", str(images), str(images / "*.png"), "-o", str(out), "--model", str(tiny_model_file), "--tile", "8"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_tiny_fp32_x4.png", "b_tiny_fp32_x4.jpg"]
    assert Image.open(out / "a_tiny_fp32_x4.png").size == (96, 80)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("96x80" in line and " s " in line and "MB" in line for line in lines)


def test_bad_file_fails_with_one_line_and_the_rest_still_runs(tmp_path, tiny_model_file, images, capsys):
    (images / "broken.png").write_text("not an image")
    out = tmp_path / "out"
    code = main(["upscale", str(images), "-o", str(out), "--model", str(tiny_model_file)])
    assert code == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err
    assert {p.name for p in out.iterdir()} == {"a_tiny_fp32_x4.png", "b_tiny_fp32_x4.jpg"}


def test_missing_input_and_bad_model_exit_nonzero(tmp_path, tiny_model_file, capsys):
    assert main(["upscale", str(tmp_path / "nope.png"), "-o", str(tmp_path)]) == 1
    assert "nope.png" in capsys.readouterr().err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00" * 64)
    img = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(img)
    assert main(["upscale", str(img), "-o", str(tmp_path / "o"), "--model", str(junk)]) == 1
    err = capsys.readouterr().err
    assert "junk.pth" in err and len(err.strip().splitlines()) == 1


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "engine.cli", "--help"], capture_output=True, text=True, check=True).stdout
    assert "upscale" in out and "models" in out
    up = subprocess.run([sys.executable, "-m", "engine.cli", "upscale", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--tile" in up and "--model" in up and "--precision" in up
