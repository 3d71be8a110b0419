"""Nothing lost, no tracebacks: the bad-input and fault cases of the command line (issue 16), as a user meets them.

Each test names the case it covers. Faults a test cannot cause for real without root (a read-only folder for
root, a full disk) are caused at the boundary the program meets them: the OS call that fails, or the writer's
own exception as observed on a full tmpfs (safetensors: "(os error 28)", torch.save: "unexpected pos").
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from PIL import Image

from test_quant_util import one_thread  # noqa: F401  (one_thread: autouse fixture)

from engine import upscaler as upscaler_module
from engine.cli import main
from engine.quant import quantize, save_artifact
from engine.train.loop import CHECKPOINT, LOG
from engine.weights import save_model

REPO = Path(__file__).resolve().parents[1]
TINY_TRAIN = ["--num-feat", "8", "--num-block", "1", "--batch", "2", "--patch", "12"]


@pytest.fixture
def model(tmp_path, tiny_rrdb) -> Path:
    return save_model(tiny_rrdb, tmp_path / "tiny.safetensors", {"name": "tiny", "display_name": "tiny RRDBNet"})


@pytest.fixture
def srresnet(tmp_path, tiny_srresnet) -> Path:
    return save_model(tiny_srresnet, tmp_path / "sr.safetensors", {"name": "sr"})


def _png(path: Path, seed: int = 0, size=(20, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.startswith("mpsr: error:")]
    assert "Traceback" not in err and lines, err
    assert all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails the test if the model is loaded: the case must be refused before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs and arguments were checked")

    monkeypatch.setattr(upscaler_module, "make_upscaler", refuse)


# ----------------------------------------------------------------------------------------------- 1. inputs of a batch


def test_1_an_output_that_would_replace_another_input_is_refused_before_any_work(tmp_path, model, capsys):
    folder = tmp_path / "d"
    _png(folder / "pic.png", 1)
    _png(folder / "pic_x4.png", 2)  # the user's own file
    before = _tree(folder)
    code = main(["upscale", str(folder), "-o", str(folder), "--model", str(model), "--suffix", "_x4"])
    assert code == 1
    _one_error_line(capsys, "pic_x4.png", "would replace the input")
    assert _tree(folder) == before
    # With the default names (model and precision in them) the same folder upscales without touching an input.
    assert main(["upscale", str(folder), "-o", str(folder), "--model", str(model)]) == 0
    after = _tree(folder)
    assert {k: after[k] for k in before} == before
    assert sorted(after) == ["pic.png", "pic_tiny_fp32_x4.png", "pic_x4.png", "pic_x4_tiny_fp32_x4.png"]


# ----------------------------------------------------------------------------------------------- 2. sources of quantize and train


def test_2_quantize_and_train_never_replace_their_source(tmp_path, srresnet, hr_dir, capsys):
    before = srresnet.read_bytes()
    code = main(["quantize", "--model", str(srresnet), "--plan", "int8", "--calib", str(hr_dir), "--calib-count", "1",
                 "-o", str(srresnet)])
    assert code == 1
    _one_error_line(capsys, str(srresnet), "input of this run")
    code = main(["train", "srgan", "--phase", "gan", "--init", str(srresnet), "-o", str(srresnet), "--steps", "1",
                 "--data", str(hr_dir), *TINY_TRAIN])
    assert code == 1
    _one_error_line(capsys, str(srresnet), "input of this run")
    assert srresnet.read_bytes() == before
    assert not srresnet.with_name(srresnet.name + ".work").exists()  # refused before any work


# ----------------------------------------------------------------------------------------------- 3. output collisions


def test_3_two_inputs_with_one_output_name_are_refused_up_front(tmp_path, model, capsys, no_model_load):
    a, b = _png(tmp_path / "a" / "img.png", 1), _png(tmp_path / "b" / "img.png", 2)
    out = tmp_path / "out"
    assert main(["upscale", str(a), str(b), "-o", str(out), "--model", str(model)]) == 1
    _one_error_line(capsys, str(a), str(b), "would both be written to")
    assert not out.exists()


def test_3_an_output_written_by_another_run_meanwhile_is_kept(tmp_path, model, capsys, monkeypatch):
    src = _png(tmp_path / "img.png")
    out = tmp_path / "out"
    target = out / "img_tiny_fp32_x4.png"
    real = upscaler_module.Upscaler.upscale_picture

    def another_run_writes_the_target(self, picture, progress=None, cancel=None):
        out.mkdir(exist_ok=True)
        target.write_bytes(b"the other run's result")
        return real(self, picture, progress, cancel)

    monkeypatch.setattr(upscaler_module.Upscaler, "upscale_picture", another_run_writes_the_target)
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model)]) == 0
    captured = capsys.readouterr()
    assert "written by another run" in captured.err and "img_tiny_fp32_x4-2.png" in captured.out
    assert target.read_bytes() == b"the other run's result"
    assert Image.open(out / "img_tiny_fp32_x4-2.png").size == (96, 80)


def test_3_write_atomic_keeps_a_declared_output_that_changed_and_replaces_one_that_did_not(tmp_path):
    from engine import files

    changed, same = tmp_path / "changed.txt", tmp_path / "same.txt"
    same.write_text("old")
    with files.run_files(outputs=[changed, same]):
        changed.write_text("another run")
        assert files.write_text(changed, "ours") == tmp_path / "changed-2.txt"
        assert files.write_text(same, "ours") == same
        assert files.write_text(same, "ours again") == same  # our own write is not a change by another run
    assert changed.read_text() == "another run" and same.read_text() == "ours again"


# ----------------------------------------------------------------------------------------------- 4. concurrent evals


def test_4_concurrent_evals_of_other_precisions_keep_each_others_rows(tmp_path, model, hr_dir, torch_home):
    from engine.metrics.evaluate import evaluate, load_report

    torch.manual_seed(0)
    artifact = save_artifact(quantize(_load(model), "int8", calib=[np.random.default_rng(0).random(
        (16, 16, 3), dtype=np.float32)]), tmp_path / "q.safetensors")
    out = tmp_path / "r.json"
    other = []

    def second_run_starts_and_finishes_meanwhile(p):
        if p.done >= 1 and not other:  # the first run has saved a row
            other.append(evaluate(hr_dir, str(model), [str(artifact)], out=out, tile=0, metrics=("psnr",)))

    evaluate(hr_dir, str(model), ["fp32"], out=out, tile=0, metrics=("psnr",),
             progress=second_run_starts_and_finishes_meanwhile)
    saved = load_report(out)
    assert {(r["method"], r["image"]) for r in saved.rows} == {
        (m, p.name) for m in ("bicubic", "fp32", str(artifact)) for p in hr_dir.iterdir()}
    assert saved.complete and set(saved.config["precisions"]) == {"fp32", str(artifact)}
    assert str(artifact) in out.with_suffix(".md").read_text()


def test_4_a_users_markdown_beside_the_report_is_not_replaced(tmp_path, model, hr_dir, capsys):
    notes = tmp_path / "r.md"
    notes.write_text("my own notes\n")
    code = main(["eval", str(hr_dir), "--model", str(model), "--out", str(tmp_path / "r.json"), "--metrics", "psnr"])
    assert code == 1
    _one_error_line(capsys, str(notes), "not written by mpsr eval")
    assert notes.read_text() == "my own notes\n" and not (tmp_path / "r.json").exists()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def _load(path):
    from engine.weights import load_model

    return load_model(path)[0]


# ----------------------------------------------------------------------------------------------- 5. forged artifact


def test_5_an_artifact_whose_config_does_not_fit_its_tensors_is_one_line(tmp_path, model, capsys):
    artifact = save_artifact(quantize(_load(model), "int8", calib=[np.random.default_rng(0).random(
        (16, 16, 3), dtype=np.float32)]), tmp_path / "q.safetensors")
    with safetensors.safe_open(str(artifact), framework="pt") as f:
        meta = dict(f.metadata())
    tensors = safetensors.torch.load_file(str(artifact))
    safetensors.torch.save_file(tensors, str(artifact), metadata={**meta, "config": json.dumps(
        {"num_feat": 20000, "num_block": 2, "num_grow": 4})})
    src = _png(tmp_path / "img.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model", str(model),
                 "--precision", str(artifact)]) == 1
    _one_error_line(capsys, str(artifact), "its tensors are rrdbnet")


# ----------------------------------------------------------------------------------------------- 6. memory


def test_6_an_image_too_big_for_memory_is_one_line_before_any_work(tmp_path, model, capsys, monkeypatch,
                                                                    no_model_load):
    from engine import memory

    monkeypatch.setattr(memory, "available", lambda: 300_000_000)
    src = _png(tmp_path / "photo.png", size=(600, 800))
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model", str(model)]) == 1
    line = _one_error_line(capsys, str(src), "upscaling 800x600 to 3200x2400 needs about", "0.3 GB is available")
    assert "largest input that fits now" in line
    assert not (tmp_path / "out").exists()


def test_6_a_12_megapixel_photo_fits_in_8_gb_and_the_bomb_limit_does_not(monkeypatch):
    from engine import memory

    monkeypatch.setattr(memory, "available", lambda: 8_000_000_000)
    upscaler_module.check_memory(4000, 3000)  # tiled (the default): no error
    with pytest.raises(Exception, match="tile it"):
        upscaler_module.check_memory(4000, 3000, tile=0)
    with pytest.raises(Exception, match=r"upscaling 10000x9998 to 40000x39992 needs about \d+\.\d GB"):
        upscaler_module.check_memory(10000, 9998)


# ----------------------------------------------------------------------------------------------- 7. write errors


@pytest.fixture
def read_only(monkeypatch):
    """Folders that refuse new files and subfolders (EROFS), as a read-only mount does even for root."""
    folders: list[Path] = []

    def inside(path) -> bool:
        try:
            path = Path(os.fsdecode(path)).absolute()
        except TypeError:  # a file descriptor
            return False
        return any(path == f or f in path.parents for f in folders)

    def deny(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    real_open, real_mkdir = builtins.open, os.mkdir

    def open_(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wxa+") and inside(file):
            deny(file)
        return real_open(file, mode, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if inside(path):
            deny(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)
    return folders.append


@pytest.fixture
def full_disk(monkeypatch):
    """A file system with no space left: statvfs says so; writers fail as they did on a full tmpfs."""
    real_statvfs = os.statvfs

    class Full:
        f_bavail, f_frsize = 0, 4096

    monkeypatch.setattr(os, "statvfs", lambda path: Full() if "full" in os.fsdecode(path) else real_statvfs(path))

    def safetensors_full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 4096)
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    def torch_full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(safetensors.torch, "save_file", safetensors_full)
    monkeypatch.setattr(torch, "save", torch_full)


def test_7_eval_into_a_read_only_folder_is_one_line_before_any_work(tmp_path, model, hr_dir, read_only, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(folder)
    code = main(["eval", str(hr_dir), "--model", str(model), "--out", str(folder / "r.json"), "--metrics", "psnr"])
    assert code == 1
    _one_error_line(capsys, str(folder / "r.json"), "Read-only file system")
    assert list(folder.iterdir()) == []


def test_7_sweep_into_a_read_only_folder_is_one_line(tmp_path, model, hr_dir, read_only, capsys):
    read_only(tmp_path / "ro")
    code = main(["sweep", "--model", str(model), "--data", str(hr_dir), "--out", str(tmp_path / "ro" / "s"),
                 "--metrics", "psnr"])
    assert code == 1
    _one_error_line(capsys, "ro", "Read-only file system")


def test_7_quantize_on_a_full_disk_is_one_line_and_leaves_no_file(tmp_path, srresnet, hr_dir, full_disk, capsys):
    out = tmp_path / "full" / "q.safetensors"
    code = main(["quantize", "--model", str(srresnet), "--plan", "int8", "--calib", str(hr_dir),
                 "--calib-count", "1", "-o", str(out)])
    assert code == 1
    _one_error_line(capsys, str(out), "No space left on device")
    assert list(out.parent.iterdir()) == []


def test_7_train_on_a_full_disk_is_one_line_and_leaves_no_partial_checkpoint(tmp_path, hr_dir, full_disk, capsys):
    out = tmp_path / "full" / "t.safetensors"
    code = main(["train", "srgan", "--steps", "2", "--data", str(hr_dir), "-o", str(out), *TINY_TRAIN])
    assert code == 1
    _one_error_line(capsys, str(out.with_name(out.name + ".work") / CHECKPOINT), "No space left on device")
    assert sorted(p.name for p in out.with_name(out.name + ".work").iterdir()) == [LOG]


# ----------------------------------------------------------------------------------------------- 8. arguments


@pytest.mark.parametrize("args, needle", [(["--quality", "0", "--format", "jpg"], "quality must be between 1 and 100"),
                                          (["--suffix", "/../../x"], "must be part of a file name"),
                                          (["--tile", "-1"], "--tile and --overlap")])
def test_8_bad_arguments_are_one_line_before_any_work(tmp_path, model, capsys, no_model_load, args, needle):
    src = _png(tmp_path / "in" / "img.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model", str(model), *args]) == 1
    _one_error_line(capsys, needle)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["img.png", "tiny.json", "tiny.safetensors"]


# ----------------------------------------------------------------------------------------------- 9. torn training log


def test_9_a_torn_last_log_line_is_dropped_with_a_warning_and_training_resumes(tmp_path, hr_dir, capsys):
    out = tmp_path / "t.safetensors"
    args = ["train", "srgan", "--data", str(hr_dir), "-o", str(out), "--steps", "20", "--checkpoint-every", "10",
            *TINY_TRAIN]
    assert main(args) == 0
    log = out.with_name(out.name + ".work") / LOG
    with log.open("a") as f:
        f.write('{"step": 30, "l1"')  # power loss in the middle of a line
    capsys.readouterr()
    assert main(args) == 0  # the same command again resumes (here: from the final checkpoint)
    err = capsys.readouterr().err
    assert "warning" in err and "dropped its last line" in err and "Traceback" not in err
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [10, 20]


# ----------------------------------------------------------------------------------------------- 10. foreign report


@pytest.mark.parametrize("content", ['{"format": "mpsr-eval/1", "rows": []}',
                                     '{"format": "mpsr-eval/1", "config": {"images": 3}, "rows": []}'])
def test_10_a_report_without_a_usable_config_is_refused_in_one_line(tmp_path, model, hr_dir, capsys, content):
    report = tmp_path / "f.json"
    report.write_text(content)
    code = main(["eval", str(hr_dir), "--model", str(model), "--out", str(report), "--metrics", "psnr"])
    assert code == 1
    _one_error_line(capsys, str(report), "not")
    assert report.read_text() == content


# ----------------------------------------------------------------------------------------------- loose ends


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_files_of_a_killed_run_are_cleaned_on_the_next_run(tmp_path, model):
    src = _png(tmp_path / "img.png")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".img_tiny_fp32_x4.png.{_dead_pid()}-0badcafe.part"
    live = out / f".img_tiny_fp32_x4.png.{os.getppid()}-0badcafe.part"  # its writer still runs: kept
    other = out / f".other.png.{_dead_pid()}-0badcafe.part"  # another target's: not this run's business
    for p in (stale, live, other):
        p.write_bytes(b"half")
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([live.name, other.name, "img_tiny_fp32_x4.png"])


def test_every_atomic_write_is_flushed_to_disk_before_the_rename(tmp_path, monkeypatch, tiny_srresnet):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    save_model(tiny_srresnet, tmp_path / "m.safetensors", {"name": "m"})
    names = [Path(p).name for p in synced]
    assert any(n.startswith(".m.safetensors.") for n in names) and any(n.startswith(".m.json.") for n in names)
    assert names.count(tmp_path.name) >= 2  # the folder, after each rename


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_during_training_saves_a_checkpoint(tmp_path, hr_dir, sig):
    out = tmp_path / "t.safetensors"
    work = out.with_name(out.name + ".work")
    cmd = [sys.executable, "-m", "engine.cli", "train", "srgan", "--data", str(hr_dir), "-o", str(out),
           "--steps", "100000", "--checkpoint-every", "100000", *TINY_TRAIN]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (work / LOG).exists():  # a log line every 10 steps: training is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    saved = torch.load(work / CHECKPOINT, weights_only=True)
    assert saved["step"] >= 10


def test_one_input_with_an_image_name_as_output_writes_that_file(tmp_path, model):
    src = _png(tmp_path / "img.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "big.png"), "--model", str(model)]) == 0
    assert (tmp_path / "big.png").is_file() and Image.open(tmp_path / "big.png").size == (96, 80)


def test_an_animated_file_says_only_its_first_frame_is_used(tmp_path, model, capsys):
    src = tmp_path / "anim.webp"
    frames = [Image.new("RGB", (16, 12), c) for c in ("red", "blue", "green")]
    frames[0].save(src, save_all=True, append_images=frames[1:], lossless=True)
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model", str(model)]) == 0
    assert "3 frames or pages: only the first one is used" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------- issue 18, CLI


def test_outputs_at_two_precisions_sit_side_by_side(tmp_path, model):
    artifact = save_artifact(quantize(_load(model), "int8", calib=[np.random.default_rng(0).random(
        (16, 16, 3), dtype=np.float32)]), tmp_path / "tiny-int8.safetensors")
    src = _png(tmp_path / "in" / "img.png")
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model)]) == 0
    assert main(["upscale", str(src), "-o", str(out), "--model", str(model), "--precision", str(artifact)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["img_tiny_fp32_x4.png", "img_tiny_tiny-int8_x4.png"]


def test_a_single_image_shows_a_tile_bar_at_once(tmp_path, model, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    src = _png(tmp_path / "img.png", size=(40, 48))
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "--model", str(model), "--tile", "16"]) == 0
    text = term.getvalue()
    assert "img.png" in text and "0/9" in text and "9/9" in text and "tile" in text


def test_a_bad_file_is_reported_before_the_model_loads(tmp_path, model, monkeypatch):
    folder = tmp_path / "in"
    _png(folder / "good.png")
    data = _png(folder / "truncated.png", size=(64, 64)).read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])  # the header is fine, the pixels are cut off
    events = []
    real_make = upscaler_module.make_upscaler
    monkeypatch.setattr(upscaler_module, "make_upscaler", lambda *a, **k: (events.append("load"), real_make(*a, **k))[1])
    import engine.cli.upscale as cli_upscale

    monkeypatch.setattr(cli_upscale, "error", lambda message: events.append(message))
    assert main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--model", str(model)]) == 1
    assert "truncated.png" in events[0] and events[1] == "load"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good_tiny_fp32_x4.png"]


def test_models_list_shows_the_shipped_quantized_artifacts(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for artifact in sorted((REPO / "models").glob("*-qat.safetensors")):
        line = next(line for line in out.splitlines() if line.startswith(artifact.stem + " "))
        assert str(artifact) in line and "--precision" in line
