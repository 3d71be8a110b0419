"""NIQE: the bundled pristine parameters, their conversion, and pyiqa's NIQE against an independent computation."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import tarfile

import numpy as np
import pytest
import scipy.io
from scipy.ndimage import convolve
from scipy.special import gamma

from engine.metrics import IQA, MetricUnavailable
from engine.metrics.iqa import NIQE_PARAMS

skdata = pytest.importorskip("skimage.data")

VALUES_SHA256 = "f6284a2b53fd40bbc960472b76ec55b67a299a0270294b804c847e99b8cc1e30"


def _values_sha256(mu, cov) -> str:
    h = hashlib.sha256()
    for a in (mu, cov):
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    return h.hexdigest()


def test_bundled_parameters_are_the_basicsr_ones():
    params = scipy.io.loadmat(NIQE_PARAMS)
    mu, cov = params["mu_prisparam"], params["cov_prisparam"]
    assert mu.shape == (1, 36) and cov.shape == (36, 36)
    assert mu[0, 0] == pytest.approx(2.6013136801541448, abs=1e-15)
    assert mu[0, 1] == pytest.approx(0.9057027215337194, abs=1e-15)
    assert mu[0, 35] == pytest.approx(0.18677777557293712, abs=1e-15)
    assert cov[0, 0] == pytest.approx(0.45347810202943506, abs=1e-15)
    assert np.allclose(cov, cov.T)
    assert _values_sha256(mu, cov) == VALUES_SHA256


def test_conversion_script_writes_pyiqa_keys(tmp_path):
    spec = importlib.util.spec_from_file_location("convert_niqe_params", NIQE_PARAMS.parents[2] / "tools" / "convert_niqe_params.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    rng = np.random.default_rng(1)
    mu, cov = rng.random((1, 36)), rng.random((36, 36))
    buf = io.BytesIO()
    np.savez(buf, mu_pris_param=mu, cov_pris_param=cov, gaussian_window=np.ones((7, 7)))
    sdist = tmp_path / "basicsr-1.4.2.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo("basicsr-1.4.2/basicsr/metrics/niqe_pris_params.npz")
        info.size = buf.getbuffer().nbytes
        buf.seek(0)
        tar.addfile(info, buf)
    out = tmp_path / "niqe.mat"
    assert tool.convert(sdist, out) == _values_sha256(mu, cov)
    back = scipy.io.loadmat(out)
    assert np.array_equal(back["mu_prisparam"], mu) and np.array_equal(back["cov_prisparam"], cov)
    assert not list(tmp_path.glob("*.tmp"))


# --- An independent NIQE: BasicSR's algorithm (a port of the MATLAB release) in plain numpy/scipy, float64. ---


def _cubic(x):
    ax = np.abs(x)
    return (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1) + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def _half(img):
    """MATLAB imresize(img, 0.5): bicubic with antialiasing, symmetric borders; rows, then columns."""
    for _ in range(2):
        n = img.shape[0]
        u = np.arange(1, n // 2 + 1) * 2 - 0.5
        idx = np.floor(u - 4)[:, None] + np.arange(10)[None, :]
        w = 0.5 * _cubic(0.5 * (u[:, None] - idx))
        w /= w.sum(1, keepdims=True)
        mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])
        img = np.einsum("ij,ij...->i...", w, img[mirror[np.mod(idx - 1, 2 * n).astype(int)]]).T
    return img


def _aggd(block):
    block = block.ravel()
    gam = np.arange(0.2, 10.001, 0.001)
    r_gam = gamma(2 / gam) ** 2 / (gamma(1 / gam) * gamma(3 / gam))
    left, right = np.sqrt(np.mean(block[block < 0] ** 2)), np.sqrt(np.mean(block[block > 0] ** 2))
    g = left / right
    rhat = np.mean(np.abs(block)) ** 2 / np.mean(block**2)
    alpha = gam[np.argmin((r_gam - rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2) ** 2)]
    k = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * k, right * k


def _features(block):
    a, bl, br = _aggd(block)
    feat = [a, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a, bl, br = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        feat += [a, (br - bl) * gamma(2 / a) / gamma(1 / a), bl, br]
    return feat


def niqe_reference(rgb_uint8: np.ndarray, crop: int = 4) -> float:
    params = scipy.io.loadmat(NIQE_PARAMS)
    rgb = rgb_uint8.astype(np.float64) / 255
    y = np.round((16 + rgb @ np.array([65.481, 128.553, 24.966]))[crop:-crop, crop:-crop])  # MATLAB rgb2ycbcr
    ax = np.arange(-3, 4)
    win = np.exp(-(ax[:, None] ** 2 + ax[None] ** 2) / (2 * (7 / 6) ** 2))
    win /= win.sum()
    nh, nw = y.shape[0] // 96, y.shape[1] // 96
    img = y[: nh * 96, : nw * 96]
    feats = []
    for scale in (1, 2):
        mu = convolve(img, win, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(img**2, win, mode="nearest") - mu**2))
        norm = (img - mu) / (sigma + 1)
        b = 96 // scale
        feats.append([_features(norm[i * b : (i + 1) * b, j * b : (j + 1) * b]) for i in range(nh) for j in range(nw)])
        img = _half(img / 255.0) * 255.0
    f = np.concatenate([np.array(x) for x in feats], axis=1)
    d = params["mu_prisparam"].ravel() - f.mean(0)
    return float(np.sqrt(d @ np.linalg.pinv((params["cov_prisparam"] + np.cov(f, rowvar=False)) / 2) @ d))


def test_niqe_matches_independent_computation():
    iqa = IQA("cpu")
    coffee = skdata.coffee()
    assert iqa.niqe(coffee.astype(np.float32) / 255) == pytest.approx(niqe_reference(coffee), abs=1e-3)
    # astronaut's flat black background makes NIQE sensitive to float rounding: pyiqa builds its 7x7 Gaussian
    # window in float32, which leaves a variance of ~1e-3 where the image is constant (3.042 vs 3.021 in
    # float64; BasicSR, whose imresize returns float32, gives 3.016). Textured images agree to 1e-4.
    astronaut = skdata.astronaut()
    assert iqa.niqe(astronaut.astype(np.float32) / 255) == pytest.approx(niqe_reference(astronaut), abs=0.03)


def test_niqe_border_crop_is_applied():
    iqa = IQA("cpu")
    img = skdata.chelsea().astype(np.float32) / 255
    framed = img.copy()
    framed[:4] = framed[-4:] = 1.0
    framed[:, :4] = framed[:, -4:] = 0.0
    assert iqa.niqe(framed) == pytest.approx(iqa.niqe(img), abs=1e-9)
    assert iqa.niqe(framed, crop=0) != pytest.approx(iqa.niqe(img, crop=0), abs=1e-3)


def test_niqe_unavailable_on_tiny_or_flat_images():
    iqa = IQA("cpu")
    with pytest.raises(MetricUnavailable, match="at least 104x104"):
        iqa.niqe(np.full((100, 300, 3), 0.5, np.float32))
    with pytest.raises(MetricUnavailable, match="NIQE n/a: undefined"):
        iqa.niqe(np.full((200, 200, 3), 0.5, np.float32))
