"""The upscaler end to end on files: alpha, grey, 16-bit, input protection, cancel leaves nothing behind."""

import numpy as np
import pytest
from PIL import Image

from engine import imageio
from engine.errors import ImageError
from engine.jobs import CancelToken, Cancelled
from engine.upscaler import Upscaler, UpscalerInfo, generator_blocks, make_upscaler, upscale_file


@pytest.fixture
def up(tiny_rrdb):
    return Upscaler(tiny_rrdb, info=UpscalerInfo("tiny", "tiny", "rrdbnet", "fp32", 0, "cpu"), tile=16, overlap=8)


def test_rgba_keeps_its_alpha_upscaled(tmp_path, up):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, 15:, 3] = 255  # right half opaque, left half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    res = upscale_file(up, tmp_path / "a.png", tmp_path / "out" / "a_x4.png")
    out = np.asarray(Image.open(res.output))
    assert out.shape == (80, 120, 4)
    assert out[:, :50, 3].max() < 10 and out[:, 70:, 3].min() > 245


def test_grey_and_16bit_inputs(tmp_path, up):
    Image.fromarray(np.full((12, 12), 90, np.uint8), "L").save(tmp_path / "g.png")
    assert upscale_file(up, tmp_path / "g.png", tmp_path / "g_x4.png").size == (48, 48)
    grey16 = (np.linspace(0, 65535, 144).reshape(12, 12)).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "d.png")
    res = upscale_file(up, tmp_path / "d.png", tmp_path / "d_x4.png")
    assert imageio.read_image(res.output).bits == 16


def test_never_writes_over_the_input(tmp_path, up):
    src = tmp_path / "p.png"
    Image.new("RGB", (8, 8), "red").save(src)
    before = src.read_bytes()
    with pytest.raises(ImageError, match="p.png"):
        upscale_file(up, src, src)
    assert src.read_bytes() == before


def test_cancel_leaves_no_output(tmp_path, up):
    src = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)).save(src)
    token = CancelToken()
    with pytest.raises(Cancelled):
        upscale_file(up, src, tmp_path / "out.png", progress=lambda p: token.cancel(), cancel=token)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_cpu_without_int8_kernels_runs_fp32_and_says_so(tiny_rrdb_file, monkeypatch):
    """ARM64 (Apple Silicon, Linux ARM): no oneDNN int8 kernels. A quantized precision falls back to fp32 with a
    notice instead of failing or running something unsupported."""
    from engine.quant import kernels

    arm = kernels.KernelInfo("arm64", "ARM64", int8=False, saturates=False, isa_cap=None)
    monkeypatch.setattr(kernels, "kernel_info", lambda: arm)
    up = make_upscaler(tiny_rrdb_file, "int8", tile=0)
    assert up.info.precision == "fp32" and "ARM64" in up.info.notice and "fp32 runs instead" in up.info.notice
    assert "no int8 kernels" in arm.label
    rgb = np.random.default_rng(0).random((12, 12, 3), dtype=np.float32)
    np.testing.assert_array_equal(up.upscale_array(rgb), make_upscaler(tiny_rrdb_file, "fp32", tile=0).upscale_array(rgb))


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_cancel_takes_effect_inside_the_forward_pass(tiny_rrdb, photo_lr, precision):
    module = tiny_rrdb
    if precision != "fp32":
        from engine.quant import quantize

        module = quantize(tiny_rrdb, precision, calib=[photo_lr])
    blocks = generator_blocks(module)
    assert len(blocks) == 2  # found inside the quantized generator's Region wrappers too
    up = Upscaler(module, info=UpscalerInfo("tiny", "tiny", "rrdbnet", precision, 0, "cpu"), tile=0)
    token = CancelToken()
    press = blocks[0].register_forward_hook(lambda *_: token.cancel())  # Cancel pressed during the first block
    finished = []
    for m in blocks[1].modules():
        m.register_forward_hook(lambda m, *_: finished.append(m))
    with pytest.raises(Cancelled):
        up.upscale_array(photo_lr, cancel=token)  # one tile: no check between tiles could stop it
    assert finished == []  # nothing of the second block ran
    press.remove()
    reports = []
    out = up.upscale_array(photo_lr, progress=reports.append, cancel=CancelToken())
    assert out.shape == (160, 240, 3) and finished  # the checks are gone once the call ended
    # The one tile's progress moves as its blocks finish.
    assert [p.done for p in reports] == pytest.approx([0, 1 / 3, 2 / 3, 1])
