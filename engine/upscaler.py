"""The one entry point for upscaling: a generator at some precision, run tiled on an image.

The GUI, the CLI, evaluation and sweeps all go through :func:`make_upscaler` and
:class:`Upscaler`, so a precision or tiling change shows up everywhere at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine import imageio, memory, tiling
from engine.errors import MPSRError
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check
from engine.quant.precision import FP32, PrecisionSpec, parse_precision
from engine.weights import describe_model, load_model

DEFAULT_TILE, DEFAULT_OVERLAP = tiling.DEFAULT_TILE, tiling.DEFAULT_OVERLAP
# Peak working memory of the generator per input pixel of a tile, 64 features, fp32 on the CPU: measured
# 13.2 kB for ESRGAN and 10.0 kB for SRGAN on a 320x320 tile (bench/bench_tile_memory.py), rounded up.
_TILE_BYTES_PER_PIXEL = 13_500


def memory_needed(width: int, height: int, *, alpha: bool = False, bits: int = 8, tile: int = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP, num_feat: int = 64, scale: int = 4) -> int:
    """Bytes that upscaling and saving a ``width`` x ``height`` image takes at its peak: the image's arrays
    (:func:`_image_bytes`) and the generator's working memory for one tile."""
    side = (lambda n: n) if tile <= 0 else (lambda n: min(n, tile + 2 * overlap))
    work = side(width) * side(height) * _TILE_BYTES_PER_PIXEL * num_feat // 64
    return _image_bytes(width * height, alpha, bits, scale) + work


def _image_bytes(pixels: int, alpha: bool, bits: int, scale: int) -> int:
    """Float32 input and x``scale`` output (alpha: two more copies for its resize), then the output as
    integers plus the encoder's copy."""
    channels = 4 if alpha else 3
    out = pixels * scale * scale
    return 4 * (channels * pixels + channels * out + (2 * out if alpha else 0)) + out * (channels + 4) * (bits // 8)


def check_memory(width: int, height: int, *, alpha: bool = False, bits: int = 8, tile: int = DEFAULT_TILE,
                 overlap: int = DEFAULT_OVERLAP, num_feat: int = 64, scale: int = 4,
                 path: str | Path | None = None) -> None:
    """One-line error when upscaling a ``width`` x ``height`` image needs more than the free memory.

    The message gives both figures and, with tiling, the largest input that fits now.
    """
    needed = memory_needed(width, height, alpha=alpha, bits=bits, tile=tile, overlap=overlap, num_feat=num_feat,
                           scale=scale)
    if tile <= 0:
        hint = "tile it (--tile 256) to need far less"
    else:
        work = needed - _image_bytes(width * height, alpha, bits, scale)
        per_pixel = _image_bytes(1_000_000, alpha, bits, scale) / 1e6
        fits = max(memory.available() - work, 0) / per_pixel / 1e6
        hint = f"the largest input that fits now is about {fits:.1f} MP"
    memory.check(needed, f"upscaling {width}x{height} to {width * scale}x{height * scale}", path, hint)


def check_quality(quality: int) -> int:
    if not 1 <= quality <= 100:
        raise MPSRError(f"quality must be between 1 and 100, got {quality}")
    return quality


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class UpscalerInfo:
    """What the app shows about a loaded generator."""

    name: str  # the model spec the user chose: "esrgan", "srgan" or a file path
    display_name: str
    arch: str
    precision: str  # the PrecisionSpec's key
    size_bytes: int  # on disk: the fp32 weights or the quantized artifact
    device: str
    scale: int = 4
    precision_label: str = ""  # the PrecisionSpec's label (a file by its name); the key when not given
    notice: str = ""  # a fallback the user should know about, e.g. fp32 where no int8 kernels exist

    def __post_init__(self) -> None:
        if not self.precision_label:
            object.__setattr__(self, "precision_label", self.precision)  # frozen: set once, here


class Upscaler:
    """Runs a x``info.scale`` generator (any module mapping float 1x3xHxW in [0,1] to 1x3x(sH)x(sW)) over images."""

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        info: UpscalerInfo,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
    ) -> None:
        self.module = module.eval()
        self.info = info
        self.tile = tile
        self.overlap = overlap
        self.scale = info.scale

    @torch.inference_mode()
    def _run(self, rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(self.info.device)
        x = x.contiguous(memory_format=torch.channels_last)
        y = self.module(x)
        if not torch.isfinite(y).all():
            raise MPSRError(f"{self.info.display_name} produced NaN or infinite values: its weights are damaged "
                            "or it overflows at this precision")
        return y[0].clamp_(0, 1).permute(1, 2, 0).float().cpu().numpy()

    @property
    def num_feat(self) -> int:
        return int(getattr(self.module, "config", {}).get("num_feat", 64))

    def check_memory(self, width: int, height: int, *, alpha: bool = False, bits: int = 8,
                     path: str | Path | None = None) -> None:
        """One-line error, before anything is allocated, when the image does not fit in free memory."""
        check_memory(width, height, alpha=alpha, bits=bits, tile=self.tile, overlap=self.overlap,
                     num_feat=self.num_feat, scale=self.scale, path=path)

    def upscale_array(
        self, rgb: np.ndarray, progress: ProgressFn | None = None, cancel: CancelToken | None = None
    ) -> np.ndarray:
        """HxWx3 float32 in [0,1] -> (4H)x(4W)x3 float32 in [0,1], tile by tile.

        Progress counts tiles, in fractions of a tile as the generator's blocks finish; ``cancel`` is
        checked inside the forward pass too, so a cancel does not wait for the rest of a tile.
        """
        overlap = min(self.overlap, self.tile) if self.tile > 0 else 0
        total = tiling.count_tiles(rgb.shape[0], rgb.shape[1], self.tile, overlap)
        tracker = ProgressTracker(progress, total, "tiles")
        tiles_done = 0

        def tile_finished(p) -> None:
            nonlocal tiles_done
            tiles_done = int(p.done)
            tracker.update(p.done, p.message)

        def block_finished(block: int, blocks: int) -> None:
            # The stages after the blocks (upsampling, reconstruction) get the last share of the tile.
            tracker.update(tiles_done + block / (blocks + 1), f"tile {tiles_done + 1}/{total}")

        with forward_checks(self.module, cancel, block_finished if progress is not None else None):
            out = tiling.run_tiled(
                rgb.astype(np.float32, copy=False),
                self._run,
                scale=self.scale,
                tile=self.tile,
                overlap=overlap,
                progress=tile_finished,
                cancel=cancel,
            )
        return np.clip(out, 0.0, 1.0, out=out)

    def upscale_picture(
        self, picture: imageio.Picture, progress: ProgressFn | None = None, cancel: CancelToken | None = None
    ) -> imageio.Picture:
        """Upscale colour with the generator; alpha, if any, with bicubic (no halos from a colour model)."""
        w, h = picture.size
        self.check_memory(w, h, alpha=picture.alpha is not None, bits=picture.bits, path=picture.path)
        rgb = self.upscale_array(picture.rgb, progress, cancel)
        alpha = None
        if picture.alpha is not None:
            h, w = picture.alpha.shape
            alpha_img = Image.fromarray(picture.alpha.astype(np.float32), mode="F")
            alpha = np.clip(
                np.asarray(alpha_img.resize((w * self.scale, h * self.scale), Image.Resampling.BICUBIC)), 0.0, 1.0
            )
        return replace(picture, rgb=rgb, alpha=alpha, path=None)


def generator_blocks(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks of a generator: the longest ``nn.Sequential`` in its body stage.

    Searched among all descendants, so the Region wrappers of a quantized generator (around the stage
    and around single blocks) are looked through. Empty for a module without such a sequence.
    """
    root = getattr(module, "body", module)
    runs = [m for m in root.modules() if isinstance(m, torch.nn.Sequential) and len(m) > 1]
    return list(max(runs, key=len)) if runs else []


@contextmanager
def forward_checks(
    module: torch.nn.Module, cancel: CancelToken | None, block_finished: Callable[[int, int], None] | None = None
) -> Iterator[None]:
    """While inside, every module within the generator's blocks checks ``cancel`` before it runs (raising
    :class:`~engine.jobs.Cancelled`), and ``block_finished(i, n)`` is called as block i of n ends.

    An ESRGAN tile takes tens of seconds on a CPU, one of its dense blocks well under a second.
    """
    blocks = generator_blocks(module)
    handles = []
    if cancel is not None:
        for block in blocks:
            handles += [m.register_forward_pre_hook(lambda *_: check(cancel)) for m in block.modules()]
    if block_finished is not None:
        for i, block in enumerate(blocks, 1):
            handles.append(block.register_forward_hook(lambda *_, i=i: block_finished(i, len(blocks))))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def make_upscaler(
    model: str | Path = "esrgan",
    precision: PrecisionSpec | str = "fp32",
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Upscaler:
    """Load ``model`` ("esrgan", "srgan" or a weights file) at ``precision`` (a :class:`PrecisionSpec` or its
    text: "fp32", a plan, or a quantized artifact file)."""
    spec = parse_precision(precision)
    notice = ""
    if not spec.is_float:
        from engine.quant.kernels import kernel_info

        kernels = kernel_info()
        if not kernels.int8:
            notice = f"{spec.label} needs x86 int8 kernels; this CPU ({kernels.isa}) has none, so fp32 runs instead"
            spec = FP32
    if spec.is_float:
        net, minfo = load_model(model)
        device = device or default_device()
        # Channels-last lets oneDNN skip a layout reorder at every conv: 1.3x faster for RRDBNet (docs/quant.md).
        module, size = net.to(device, memory_format=torch.channels_last), minfo.size_bytes
    else:
        from engine.quant import load_precision

        # An artifact is checked against the model's header and needs no float weights.
        net, minfo = (None, describe_model(model)) if spec.artifact is not None else load_model(model)
        # Integer kernels run on the CPU only.
        device = "cpu"
        module, size = load_precision(net, minfo, spec, progress=progress, cancel=cancel)
    info = UpscalerInfo(
        name=str(model),
        display_name=minfo.display_name,
        arch=minfo.arch,
        precision=spec.key,
        precision_label=spec.label,
        size_bytes=size,
        device=device,
        scale=minfo.scale,
        notice=notice,
    )
    return Upscaler(module, info=info, tile=tile, overlap=overlap)


@dataclass(frozen=True)
class UpscaleResult:
    source: Path
    output: Path
    seconds: float  # inference time, excluding reading and writing
    size: tuple[int, int]  # output (width, height)
    bytes: int


def upscale_file(
    upscaler: Upscaler,
    source: str | Path,
    output: str | Path,
    *,
    quality: int = 95,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> UpscaleResult:
    """Read, upscale and atomically write one image; the source is never overwritten.

    The quality and the memory the image needs are checked before it is decoded; the output actually
    written is in the result (another name beside ``output`` when another run wrote it meanwhile, see
    :func:`engine.files.run_files`).
    """
    source, output = Path(source), Path(output)
    check_quality(quality)
    info = imageio.check_image(source, decode=False)
    upscaler.check_memory(info.width, info.height, alpha=info.alpha, bits=info.bits, path=source)
    picture = imageio.read_image(source)
    start = time.perf_counter()
    result = upscaler.upscale_picture(picture, progress, cancel)
    seconds = time.perf_counter() - start
    written = imageio.write_image(output, result, quality=quality, protect=[source])
    return UpscaleResult(source, written, seconds, result.size, written.stat().st_size)
