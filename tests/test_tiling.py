from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.jobs import CancelToken, Cancelled
from engine.tiling import _ramp, count_tiles, run_tiled, spans
from engine.upscaler import Upscaler, UpscalerInfo

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 16), (100, 30, 10), (65, 32, 16), (129, 64, 32), (7, 4, 2), (50, 64, 16)])
def test_blend_weights_partition_unity_and_cover_the_axis(length, tile, overlap):
    total = np.zeros(length * 4)
    for s in spans(length, tile, overlap):
        assert 0 <= s.read0 <= s.keep0 < s.keep1 <= s.read1 <= length
        total[s.keep0 * 4 : s.keep1 * 4] += _ramp(s, 4)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_pixel_exact_function_is_unchanged_by_tiling():
    img = np.random.default_rng(0).random((70, 90, 3), dtype=np.float32)
    nearest = lambda a: np.repeat(np.repeat(a, 4, 0), 4, 1)  # noqa: E731
    out = run_tiled(img, nearest, scale=4, tile=32, overlap=16)
    assert np.abs(out - nearest(img)).max() < 1e-6


def _upscaler(net, tile, overlap):
    info = UpscalerInfo("test", "tiny", "rrdbnet", "fp32", 0, "cpu")
    return Upscaler(net, info=info, tile=tile, overlap=overlap)


def test_tiled_generator_matches_untiled(tiny_rrdb, photo_lr):
    """Receptive field of the tiny net (~18 px) < overlap/2: tiled equals untiled up to float rounding."""
    whole = _upscaler(tiny_rrdb, 0, 0).upscale_array(photo_lr)
    tiled = _upscaler(tiny_rrdb, 24, 48).upscale_array(photo_lr)
    diff = np.abs(whole - tiled).max()
    print(f"tiny RRDBNet, tile 24 overlap 48: max abs diff {diff:.2e}")
    assert diff < 1e-5


def test_small_overlap_seams_stay_below_one_grey_level(tiny_rrdb, photo_lr):
    whole = _upscaler(tiny_rrdb, 0, 0).upscale_array(photo_lr)
    tiled = _upscaler(tiny_rrdb, 24, 8).upscale_array(photo_lr)
    diff = np.abs(whole - tiled).max()
    print(f"tiny RRDBNet, tile 24 overlap 8: max abs diff {diff:.2e} ({diff * 255:.2f} grey levels)")
    assert diff < 1 / 255


def test_progress_within_and_per_tile_and_cancel_between_tiles(tiny_rrdb, photo_lr):
    reports, token = [], CancelToken()

    def progress(p):
        reports.append(p)
        if p.done == 2:
            token.cancel()

    up = _upscaler(tiny_rrdb, 16, 8)
    n = count_tiles(*photo_lr.shape[:2], 16, 8)
    assert n > 3
    with pytest.raises(Cancelled):
        up.upscale_array(photo_lr, progress=progress, cancel=token)
    # A report as the run starts, one as each of the 2 blocks ends, one per finished tile; none after the cancel.
    assert [r.done for r in reports] == pytest.approx([0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    assert all(r.total == n for r in reports)


def test_overlap_larger_than_tile_is_rejected():
    with pytest.raises(ValueError, match="overlap"):
        run_tiled(np.zeros((8, 8, 3), np.float32), lambda a: a, scale=1, tile=4, overlap=5)


def test_cuda_used_when_available():
    from engine.upscaler import default_device

    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.slow
def test_default_esrgan_tiled_at_default_overlap_is_invisible():
    """RRDBNet-23 sees far beyond any practical overlap, so tiling is not exact: report how close it is.

    Measured on this fur crop (the hardest of the samples): max ~11, 99.9th percentile ~5, mean ~0.3 grey
    levels; a narrower cross-fade did not help, the error comes from the receptive field, not the blend.
    """
    from engine.upscaler import DEFAULT_OVERLAP, make_upscaler

    torch.set_num_threads(2)
    img = np.asarray(Image.open(SAMPLES / "chelsea.png").convert("RGB"), dtype=np.float32)[:96, :128] / 255.0
    up = make_upscaler("esrgan", tile=0, device="cpu")
    whole = up.upscale_array(img)
    up.tile, up.overlap = 64, DEFAULT_OVERLAP
    diff = np.abs(up.upscale_array(img) - whole) * 255
    print(f"ESRGAN tile 64 overlap {DEFAULT_OVERLAP}: max {diff.max():.2f}, 99.9th pct {np.percentile(diff, 99.9):.2f}, "
          f"mean {diff.mean():.3f} grey levels")
    assert np.percentile(diff, 99.9) < 6 and diff.mean() < 0.5
