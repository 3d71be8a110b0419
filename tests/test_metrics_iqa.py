"""PSNR-Y/SSIM-Y on crafted images, Ma/PI through a synthetic NRQM model, the offline path, fetching."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from engine.errors import MPSRError
from engine.jobs import Cancelled, CancelToken
from engine.metrics import (
    IQA,
    MA_MODEL_FILE,
    ImageTooSmall,
    MetricModelMissing,
    fetch_metric_models,
    pi_from,
)
from engine.metrics import iqa as iqa_mod

skdata = pytest.importorskip("skimage.data")

# What the synthetic model below predicts, whatever the image: linear[0] + sum(linear[i] * forest_i).
FAKE_MA = 0.5 + 1.0 * 1.5 + 0.25 * 7.0 + 0.1 * 3.5


def write_fake_nrqm(path: Path) -> Path:
    """An NRQM_model.mat in the layout pyiqa reads: model.linear (4x1) and model.rf{1..3} forests.

    Each forest's fields by position: ldau, rdau, (unused), (unused), threshold, prediction, attribute
    (1-based child / feature indices, 0 = leaf). Forests 1 and 3 hold two one-leaf trees (p, p + 1);
    forest 2 holds one tree whose root splits on feature 1 at +inf, so it always goes left, to node 2.
    """
    def forest(ldau, rdau, threshold, pred):
        ldau = np.asarray(ldau, np.int32)
        return {"ldau": ldau, "rdau": np.asarray(rdau, np.int32), "u1": np.zeros_like(ldau), "u2": np.zeros_like(ldau),
                "threshold": np.asarray(threshold, float), "pred": np.asarray(pred, float),
                "attr": np.ones_like(ldau)}

    rf = np.empty((1, 3), dtype=object)
    rf[0, 0] = forest([[0, 0]], [[0, 0]], [[0, 0]], [[1.0, 2.0]])  # mean 1.5
    rf[0, 1] = forest([[2], [0], [0]], [[3], [0], [0]], [[np.inf], [0], [0]], [[9.0], [7.0], [-5.0]])  # 7.0
    rf[0, 2] = forest([[0, 0]], [[0, 0]], [[0, 0]], [[3.0, 4.0]])  # mean 3.5
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"model": {"linear": np.array([[0.5], [1.0], [0.25], [0.1]]), "rf": rf}})
    return path


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty TORCH_HOME, so pyiqa's cache folder (and the Ma model in it) is under the test's control."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    assert Path(torch.hub.get_dir()) == home / "hub"
    return home / "hub" / "pyiqa"


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a metric tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def textured(h=64, w=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 0.8, (h, w, 3)).astype(np.float32)


def test_psnr_y_of_a_constant_offset_is_analytic():
    a = textured()
    d = 3 / 255
    # Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255: an offset d on R, G and B moves Y by d * 219/255;
    # pyiqa adds eps = 1e-8 to the MSE.
    expected = 10 * math.log10(1 / ((d * 219 / 255) ** 2 + 1e-8))
    assert IQA("cpu").psnr_y(a + np.float32(d), a) == pytest.approx(expected, abs=1e-4)


def test_psnr_y_ignores_the_cropped_border():
    a = textured()
    b = a.copy()
    b[:4] = 1.0
    iqa = IQA("cpu")
    assert iqa.psnr_y(a, b) > 79  # identical inside the crop: only pyiqa's eps=1e-8 bounds it (80 dB)
    assert iqa.psnr_y(a, b, crop=0) < 30
    assert iqa.psnr_y(a, b, crop=3) < 40


def test_ssim_y_of_flat_images_is_the_luminance_term():
    # Flat images: the contrast-structure term is C2/C2 = 1, SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1).
    y1, y2 = 116, 136
    a = np.full((48, 48, 3), (y1 - 16) / 219, np.float32)
    b = np.full((48, 48, 3), (y2 - 16) / 219, np.float32)
    c1 = (0.01 * 255) ** 2
    expected = (2 * y1 * y2 + c1) / (y1**2 + y2**2 + c1)
    iqa = IQA("cpu")
    assert iqa.ssim_y(a, b) == pytest.approx(expected, abs=1e-6)  # pyiqa's window is float32
    img = skdata.astronaut()[:96, :96].astype(np.float32) / 255
    assert iqa.ssim_y(img, img) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.05, img.shape), 0, 1).astype(np.float32)
    assert 0.3 < iqa.ssim_y(noisy, img) < 0.95


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in size"):
        IQA("cpu").psnr_y(textured(64, 64), textured(64, 60))


def test_ma_and_pi_through_a_synthetic_nrqm_model(torch_home, no_network):
    write_fake_nrqm(torch_home / MA_MODEL_FILE)
    iqa = IQA("cpu")
    assert iqa.ma(skdata.chelsea()[:56, :56].astype(np.float32) / 255) == pytest.approx(FAKE_MA, abs=1e-9)
    img = skdata.chelsea()[:112, :112].astype(np.float32) / 255  # NIQE needs 104 px, NRQM is slow: keep it small
    assert iqa.pi(img) == pytest.approx(0.5 * ((10 - FAKE_MA) + iqa.niqe(img)), abs=1e-9)
    assert pi_from(4.0, 6.0) == 6.0
    with pytest.raises(ImageTooSmall, match="at least 53x53"):
        iqa.ma(np.full((52, 200, 3), 0.5, np.float32))


def test_without_the_ma_model_pi_is_unavailable_with_one_clear_line(torch_home, no_network):
    iqa = IQA("cpu")
    img = skdata.chelsea()[:120, :120].astype(np.float32) / 255
    for call in (iqa.pi, iqa.ma):
        with pytest.raises(MetricModelMissing) as err:
            call(img)
        message = str(err.value)
        assert "\n" not in message
        assert MA_MODEL_FILE in message and str(torch_home) in message and "fetch-metrics" in message
    assert np.isfinite(iqa.niqe(img))  # NIQE still works
    assert not (torch_home / MA_MODEL_FILE).exists()


def test_importing_the_metrics_package_does_not_import_pyiqa():
    code = "import sys, engine.metrics, engine.metrics.evaluate, engine.metrics.report; print('pyiqa' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fetch_reports_offline_clearly_and_leaves_nothing(torch_home, monkeypatch):
    monkeypatch.setattr(iqa_mod, "_ma_model_url", lambda: "http://127.0.0.1:9/NRQM_model.mat")
    with pytest.raises(MPSRError) as err:
        fetch_metric_models()
    message = str(err.value)
    assert "could not download NRQM_model.mat" in message and "offline" in message and str(torch_home) in message
    assert list(torch_home.iterdir()) == []


def test_fetch_downloads_validates_and_reports_progress(torch_home, tmp_path, monkeypatch):
    source = write_fake_nrqm(tmp_path / "server" / MA_MODEL_FILE)
    monkeypatch.setattr(iqa_mod, "_ma_model_url", lambda: source.as_uri())
    seen = []
    assert fetch_metric_models(progress=seen.append) == [torch_home / MA_MODEL_FILE]
    assert (torch_home / MA_MODEL_FILE).read_bytes() == source.read_bytes()
    assert seen and seen[-1].done == seen[-1].total == source.stat().st_size
    assert fetch_metric_models() == []  # nothing missing any more
    assert [p.name for p in torch_home.iterdir()] == [MA_MODEL_FILE]


def test_fetch_rejects_a_bad_file_and_honours_cancel(torch_home, tmp_path, monkeypatch):
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"<html>not a model</html>")
    monkeypatch.setattr(iqa_mod, "_ma_model_url", lambda: junk.as_uri())
    with pytest.raises(MPSRError, match="not a valid NRQM model"):
        fetch_metric_models()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        fetch_metric_models(cancel=token)
    assert list(torch_home.iterdir()) == []
