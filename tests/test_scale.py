"""An x2 architecture added by registration alone is evaluated, quantized and trained at x2.

The scale is the model's (``StagedSR.scale``, carried on ``ModelInfo.scale``): nothing else in the engine
may assume x4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.metrics.evaluate import evaluate, prepare_pair
from engine.quant import CalibrationSpec, backend, calibration_images, quantize
from engine.train import PatchSampler, train_qat
from engine.weights import save_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def odd_hr_dir(tmp_path_factory):
    """Two HR photos 70x66: multiples of 2 but not of 4, so an x4 crop would shave them."""
    folder = tmp_path_factory.mktemp("hr_x2")
    for name in ("coffee", "chelsea"):
        with Image.open(REPO / "resources" / "samples" / f"{name}.png") as im:
            im.convert("RGB").crop((60, 20, 130, 86)).save(folder / f"{name}.png")
    return folder


def test_evaluation_prepares_x2_pairs_and_scores_an_x2_model(tmp_path, x2_model, odd_hr_dir, monkeypatch):
    monkeypatch.setenv("MPSR_MODEL_DIR", str(tmp_path / "cache"))  # the int8 artifact is cached there
    hr, lr = prepare_pair(np.random.default_rng(0).random((33, 35, 3)), scale=2)
    assert hr.shape == (32, 34, 3) and lr.shape == (16, 17, 3)

    model_file = save_model(x2_model, tmp_path / "x2.safetensors", {"name": "x2"})
    report = evaluate(odd_hr_dir, str(model_file), ["fp32", "int8"], out=tmp_path / "report.json", tile=0,
                      metrics=("psnr", "ssim"))
    assert report.config["scale"] == 2
    assert {r["method"] for r in report.rows} == {"bicubic", "fp32", "int8"}
    # The whole 70x66 photo is the HR (an x4 protocol would crop it to 68x64); every output has its size.
    assert all(r["size"] == [70, 66] for r in report.rows), report.rows
    assert all(r["psnr_y"] is not None and r["ssim_y"] is not None for r in report.rows)
    assert all(r["psnr_fp32"] > 20 for r in report.rows if r["method"] == "int8")


def test_calibration_patches_and_int8_ptq_are_made_at_x2(x2_model, odd_hr_dir, monkeypatch):
    # A patch of 40 LR pixels needs 80 HR pixels at x2: more than the photo, so the whole photo is halved.
    whole = calibration_images(CalibrationSpec(str(odd_hr_dir), count=2, patch=40), scale=x2_model.scale)
    assert [im.shape for im in whole] == [(33, 35, 3)] * 2
    crops = calibration_images(CalibrationSpec(str(odd_hr_dir), count=2, patch=16), scale=x2_model.scale)
    assert [im.shape for im in crops] == [(16, 16, 3)] * 2

    seen = []
    real_calibrate = backend.calibrate

    def calibrate(model, images, *args, **kwargs):
        seen.extend(im.shape for im in images)
        return real_calibrate(model, images, *args, **kwargs)

    monkeypatch.setattr(backend, "calibrate", calibrate)
    qmodel = quantize(x2_model, "int8", calib=CalibrationSpec(str(odd_hr_dir), count=2, patch=40))
    assert seen == [(33, 35, 3)] * 2  # the quantizer calibrated on the x2 model's own LR
    assert qmodel.scale == 2
    x = torch.from_numpy(whole[0].transpose(2, 0, 1).copy())[None]
    with torch.no_grad():
        out, ref = qmodel(x), x2_model(x)
    assert out.shape == ref.shape == (1, 3, 66, 70)
    assert (out - ref).abs().mean() < 0.05


def test_training_patches_have_a_2x_size_ratio(x2_model, odd_hr_dir):
    sampler = PatchSampler.from_folder(odd_hr_dir, 12, seed=1, scale=x2_model.scale)
    lr, hr = sampler.batch(0, 3)
    assert lr.shape == (3, 3, 12, 12) and hr.shape == (3, 3, 24, 24)
    # The LR patch is the protocol's downscale of its HR patch: flat HR stays flat, detail is halved in size.
    pooled = torch.nn.functional.avg_pool2d(hr, 2)
    assert (pooled - lr).abs().mean() < 0.03


def test_qat_trains_an_x2_model_on_x2_patches(x2_model, odd_hr_dir):
    qmodel = train_qat(x2_model, "int8", odd_hr_dir, steps=2, batch=2, patch=12, ranges="moving", hr_weight=1.0,
                       device="cpu")
    assert qmodel.scale == 2 and qmodel.training_summary["steps"] == 2


def test_scores_shave_the_models_scale_off_each_border():
    """The protocol's border crop is the scale: a difference 2-3 px from the edge counts for x2, not for x4."""
    from engine.metrics import get_iqa
    from engine.metrics.core import score_pair

    hr = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    sr = hr.copy()
    sr[2:4, :] = 1 - sr[2:4, :]
    x4 = score_pair(["psnr"], sr, hr, None, get_iqa(), scale=4)["psnr_y"]
    x2 = score_pair(["psnr"], sr, hr, None, get_iqa(), scale=2)["psnr_y"]
    assert x2 < 30 < x4


def test_the_cli_names_and_sizes_an_x2_models_outputs(tmp_path, x2_model, odd_hr_dir):
    from engine.cli import main

    weights = save_model(x2_model, tmp_path / "tiny2.safetensors", {"name": "tiny2"})
    assert main(["upscale", str(odd_hr_dir / "coffee.png"), "-o", str(tmp_path / "out"), "--model", str(weights)]) == 0
    out = tmp_path / "out" / "coffee_tiny2_fp32_x2.png"
    with Image.open(out) as im:
        assert im.size == (140, 132)
