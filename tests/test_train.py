"""Training: loss falls, an interrupted run resumes to the same state, cancel leaves no artifact, DDP == one process."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from test_quant_util import one_thread  # noqa: F401  (one_thread: autouse fixture)

from engine.errors import MPSRError
from engine.jobs import Cancelled, CancelToken
from engine.quant import CalibrationSpec, load_artifact, quantize
from engine.train import PatchSampler, run_qat, train_qat, train_srgan
from engine.train.loop import CHECKPOINT, LOG
from engine.weights import load_model, save_model

REPO = Path(__file__).resolve().parents[1]
TINY = {"num_feat": 8, "num_block": 1, "batch": 4, "patch": 12}


@pytest.fixture
def photos(tmp_path) -> Path:
    """A training folder: the bundled samples plus a corrupt JPEG that must be skipped, not fatal."""
    folder = tmp_path / "photos"
    shutil.copytree(REPO / "resources" / "samples", folder, ignore=shutil.ignore_patterns("*.md"))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out.with_name(out.name + ".work") / LOG).read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path)[0].state_dict()


def test_sampler_is_a_function_of_seed_and_step(photos):
    sampler = PatchSampler.from_folder(photos, 12, seed=3, scale=4)
    assert len(sampler.images) == 3  # the corrupt file was skipped
    lr, hr = sampler.batch(7, 4)
    assert lr.shape == (4, 3, 12, 12) and hr.shape == (4, 3, 48, 48)
    again_lr, again_hr = sampler.batch(7, 4)
    assert torch.equal(lr, again_lr) and torch.equal(hr, again_hr)
    part_lr, _ = sampler.batch(7, 4, 2, 4)  # a data-parallel rank's share is a slice of the same batch
    assert torch.equal(part_lr, lr[2:4])
    assert not torch.equal(sampler.batch(8, 4)[0], lr)


def test_tiny_srresnet_loss_falls(tmp_path, photos):
    out = tmp_path / "tiny.safetensors"
    train_srgan(out, data=photos, steps=60, checkpoint_every=60, lr=3e-3, **TINY)
    l1 = [row["l1"] for row in _log(out)]
    assert len(l1) == 6
    assert np.mean(l1[-2:]) < 0.7 * np.mean(l1[:2]), l1
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 60 and card["training"]["images"] == 3
    assert "MSE" in card["deviation_from_paper"]


class _Crash(Exception):
    pass


@pytest.mark.parametrize("phase", ["pretrain", "gan"])
def test_interrupted_run_resumes_to_identical_state(tmp_path, photos, phase):
    init = None
    if phase == "gan":
        init = train_srgan(tmp_path / "init.safetensors", data=photos, steps=2, **TINY)
    kwargs = dict(data=photos, phase=phase, steps=8, checkpoint_every=3, init=init, **TINY)
    straight = train_srgan(tmp_path / "straight.safetensors", **kwargs)

    def crash_at_step_7(p):
        if p.info.get("step") == 7:
            raise _Crash  # like kill -9: no checkpoint at the moment of death, the last one is step 6

    resumed = tmp_path / "resumed.safetensors"
    with pytest.raises(_Crash):
        train_srgan(resumed, progress=crash_at_step_7, **kwargs)
    assert not resumed.exists()
    assert torch.load(resumed.with_name(resumed.name + ".work") / CHECKPOINT, weights_only=True)["step"] == 6
    train_srgan(resumed, **kwargs)
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [row["step"] for row in _log(resumed)] == [row["step"] for row in _log(straight)]


def test_cancel_leaves_no_artifact_and_resumes(tmp_path, photos):
    out = tmp_path / "job" / "cancelled.safetensors"
    token = CancelToken()

    def cancel_at_4(p):
        if p.info.get("step") == 4:
            token.cancel()

    with pytest.raises(Cancelled):
        train_srgan(out, data=photos, steps=10, checkpoint_every=100, progress=cancel_at_4, cancel=token, **TINY)
    assert sorted(p.name for p in out.parent.iterdir()) == ["cancelled.safetensors.work"]
    assert torch.load(out.with_name(out.name + ".work") / CHECKPOINT, weights_only=True)["step"] == 4
    train_srgan(out, data=photos, steps=10, checkpoint_every=100, **TINY)
    assert out.is_file() and out.with_suffix(".json").is_file()


def test_other_run_in_the_work_folder_is_refused(tmp_path, photos):
    out = tmp_path / "a.safetensors"
    train_srgan(out, data=photos, steps=2, **TINY)
    with pytest.raises(MPSRError, match="different training run"):
        train_srgan(out, data=photos, steps=2, seed=1, **TINY)
    train_srgan(out, data=photos, steps=2, seed=1, restart=True, **TINY)


def test_bad_training_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(MPSRError, match="does not exist"):
        train_srgan(tmp_path / "x.safetensors", data=tmp_path / "missing", steps=1, **TINY)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MPSRError, match="no supported images"):
        train_srgan(tmp_path / "x.safetensors", data=tmp_path / "empty", steps=1, **TINY)
    with pytest.raises(MPSRError, match="--init"):
        train_srgan(tmp_path / "x.safetensors", data=tmp_path, phase="gan", steps=1)


@pytest.mark.parametrize("ranges", ["fixed", "moving"])
def test_qat_student_learns_the_teacher(tmp_path, photos, tiny_srresnet, ranges):
    """QAT of a tiny net (coarse int8 grids) must end closer to the teacher than it started."""
    model = tiny_srresnet
    q = train_qat(model, "int8", photos, steps=30, batch=4, patch=12, lr=2e-3, ranges=ranges, workdir=tmp_path / "w")
    rows = [json.loads(line) for line in (tmp_path / "w" / LOG).read_text().splitlines()]
    assert rows[-1]["l1_teacher"] < rows[0]["l1_teacher"], rows
    assert q.state == "quantized" and str(q.plan) == "8,8,8,8"


def test_qat_with_fixed_ranges_starts_from_the_ptq_generator(photos, tiny_srresnet):
    """Untrained, the fixed-range student converts to exactly the PTQ generator of the same calibration;
    training then moves the weights and keeps those activation scales."""
    calib = CalibrationSpec(source=str(photos))
    ptq = quantize(tiny_srresnet, "mixed", calib=calib)
    start = train_qat(tiny_srresnet, "mixed", photos, steps=1, lr=0.0, batch=4, patch=12, calib=photos)
    trained = train_qat(tiny_srresnet, "mixed", photos, steps=5, lr=1e-3, batch=4, patch=12, calib=photos)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(ptq(x), start(x))
    assert not torch.equal(ptq(x), trained(x))
    scales = lambda m: {k: v for k, v in m.state_dict().items() if k.endswith(".scale") and "weight" not in k}
    assert scales(ptq).keys() == scales(trained).keys() and len(scales(ptq)) > 0
    assert all(torch.equal(scales(ptq)[k], scales(trained)[k]) for k in scales(ptq))


def test_run_qat_cli_writes_an_artifact_that_upscales(tmp_path, photos, tiny_srresnet):
    weights = save_model(tiny_srresnet, tmp_path / "tiny.safetensors", {"name": "tiny"})
    cmd = [sys.executable, "-m", "engine.cli", "train", "qat", "--model", str(weights), "--plan", "mixed",
           "--data", str(photos), "--steps", "4", "--batch", "2", "--patch", "12", "-o", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    artifact = tmp_path / "tiny-mixed-qat4.safetensors"
    qmodel, info = load_artifact(artifact)
    assert info.card["method"] == "qat" and info.card["training"]["steps"] == 4
    x = torch.rand(1, 3, 10, 10)
    assert qmodel(x).shape == (1, 3, 40, 40)


@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="torch built without gloo")
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path, photos, tiny_srresnet):
    """torchrun, 2 processes, gloo: each takes half of the global batch; DDP averages the gradients.

    Activation ranges are frozen after the (identical, full-batch) calibration: while they move, each rank's
    observers see only its half of the batch and DDP broadcasts rank 0's, so they would differ from one
    process by design.
    """
    weights = save_model(tiny_srresnet, tmp_path / "tiny.safetensors", {"name": "tiny"})
    args = ["train", "qat", "--model", str(weights), "--plan", "int8", "--data", str(photos), "--steps", "3",
            "--batch", "4", "--patch", "12", "--lr", "1e-3", "--freeze-at", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = tmp_path / "one.safetensors"
    two = tmp_path / "two.safetensors"
    subprocess.run([sys.executable, "-m", "engine.cli", *args, "-o", str(one)], check=True, cwd=REPO, env=env,
                   capture_output=True)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", "-m", "engine.cli", *args, "-o", str(two)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    a, _ = load_artifact(one)
    b, _ = load_artifact(two)
    sa, sb = a.state_dict(), b.state_dict()
    floats = [k for k in sa if isinstance(sa[k], torch.Tensor) and sa[k].is_floating_point()]
    assert floats and all(torch.allclose(sa[k], sb[k], rtol=1e-5, atol=1e-6) for k in floats)
    ints = [k for k in sa if isinstance(sa[k], torch.Tensor) and not sa[k].is_floating_point()]
    assert all(torch.equal(sa[k].int_repr() if sa[k].is_quantized else sa[k],
                           sb[k].int_repr() if sb[k].is_quantized else sb[k]) for k in ints)
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(a(x), b(x), atol=1e-5)
    # Training moved the weights (a run that did nothing would also "match").
    untrained = train_qat(tiny_srresnet, "int8", photos, steps=1, lr=0.0, batch=4, patch=12, freeze_at=0)
    assert not torch.allclose(untrained(x), a(x), atol=1e-4)


def test_texture_term_measures_local_contrast_not_its_sign():
    from engine.train.qat import _gradient_magnitude

    flat = torch.full((1, 3, 9, 9), 0.5)
    assert _gradient_magnitude(flat).abs().sum() == 0
    # A checkerboard and its inverse have the same local contrast: the term asks for texture, not its phase.
    board = (torch.arange(9)[:, None] + torch.arange(9)[None, :]) % 2
    board = board.float().expand(1, 3, 9, 9)
    assert torch.equal(_gradient_magnitude(board), _gradient_magnitude(1 - board))
    assert _gradient_magnitude(board).mean() == 2.0


def test_adversarial_qat_checkpoints_its_discriminator_and_resumes_to_identical_state(tmp_path, photos,
                                                                                       tiny_srresnet):
    """The distillation discriminator is part of the run's state: a run killed after its last checkpoint
    ends exactly where an uninterrupted one does, and the card names the extra loss terms."""
    weights = save_model(tiny_srresnet, tmp_path / "tiny.safetensors", {"name": "tiny"})
    kwargs = {"batch": 2, "patch": 12, "lr": 1e-3, "adv_weight": 0.05, "fm_weight": 1.0, "checkpoint_every": 2,
              "calib": photos}
    straight = run_qat(weights, "int8", photos, 5, tmp_path / "straight.safetensors", **kwargs)

    def crash_at_step_3(p):
        if p.info.get("step") == 3:
            raise _Crash

    resumed = tmp_path / "resumed.safetensors"
    with pytest.raises(_Crash):
        run_qat(weights, "int8", photos, 5, resumed, crash_at_step_3, **kwargs)
    state = torch.load(resumed.with_name(resumed.name + ".work") / CHECKPOINT, weights_only=True)
    assert state["step"] == 2 and "discriminator" in state["state"]
    run_qat(weights, "int8", photos, 5, resumed, **kwargs)
    (a, card), (b, _) = load_artifact(straight), load_artifact(resumed)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(a(x), b(x))
    rows = _log(straight)
    assert all(row["d"] > 0 and "adv" in row and "fm" in row for row in rows)
    assert "adversarial" in card.card["losses"] and card.card["training"]["discriminator"]["width"] == 32


@pytest.mark.parametrize("adv_real", ["teacher", "hr"])
def test_the_distillation_discriminator_learns_the_chosen_real(tmp_path, photos, tiny_srresnet, monkeypatch,
                                                                adv_real):
    """--adv-real picks what the discriminator is shown as real: the teacher's output or the HR patch."""
    import engine.train.qat as qat

    seen = []
    real_step = qat.adversarial_step

    def spy(disc, opt_d, real, fake):
        seen.append(real.detach().clone())
        return real_step(disc, opt_d, real, fake)

    monkeypatch.setattr(qat, "adversarial_step", spy)
    student = qat.prepare_qat(tiny_srresnet, "int8")
    config = {"lr": 1e-4, "steps": 1, "hr_weight": 0.0, "adv_weight": 0.01, "fm_weight": 0.0,
              "adv_real": adv_real}
    job = qat.QATJob(copy.deepcopy(tiny_srresnet), student, config, qat.World())
    lr, hr = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 48, 48)
    job.step(0, lr, hr)
    expected = hr if adv_real == "hr" else tiny_srresnet(lr).detach()
    # The job's teacher is a copy run in its own batch: other oneDNN kernels (AVX2 vs AVX-512) round differently.
    torch.testing.assert_close(seen[0], expected, rtol=1e-4, atol=1e-5)
    weights = save_model(tiny_srresnet, tmp_path / "tiny.safetensors", {"name": "tiny"})
    out = run_qat(weights, "int8", photos, 1, tmp_path / "q.safetensors", batch=2, patch=12, adv_weight=0.01,
                  adv_real=adv_real, calib=photos)
    losses = load_artifact(out)[1].card["losses"]
    assert ("from HR" in losses) == (adv_real == "hr")


def test_an_unknown_adv_real_is_a_one_line_error(tmp_path, photos, tiny_srresnet):
    with pytest.raises(MPSRError, match="unknown adv_real 'gt'"):
        train_qat(tiny_srresnet, "int8", photos, steps=1, batch=2, patch=12, adv_weight=0.01, adv_real="gt")


@pytest.mark.parametrize("native", [True, False])
def test_bf16_training_runs_where_native_and_is_refused_where_emulated(tmp_path, photos, monkeypatch, native):
    """bf16 autocast is an opt-in speed-up: it trains (loss recorded, card says so) on a CPU with native
    bf16, and on one without it gives a one-line error instead of a run slower than fp32."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    out = tmp_path / "bf16.safetensors"
    if not native:
        with pytest.raises(MPSRError, match="no native bfloat16"):
            train_srgan(out, data=photos, steps=2, bf16=True, device="cpu", **TINY)
        assert not out.exists()
        return
    train_srgan(out, data=photos, steps=4, bf16=True, device="cpu", **TINY)
    assert all(np.isfinite(row["l1"]) for row in _log(out))
    assert json.loads(out.with_suffix(".json").read_text())["training"]["bf16"] is True
    assert load_model(out)[0](torch.rand(1, 3, 8, 8)).dtype == torch.float32


def test_a_negative_loss_weight_is_a_one_line_error(tmp_path, photos, tiny_srresnet):
    with pytest.raises(MPSRError, match="cannot be negative: adv_weight"):
        train_qat(tiny_srresnet, "int8", photos, steps=1, batch=2, patch=12, adv_weight=-1.0, workdir=tmp_path / "w")
    assert not (tmp_path / "w").exists()
