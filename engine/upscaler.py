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

from engine import imageio, tiling
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check
from engine.weights import load_model

DEFAULT_TILE, DEFAULT_OVERLAP = tiling.DEFAULT_TILE, tiling.DEFAULT_OVERLAP


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class UpscalerInfo:
    """What the app shows about a loaded generator."""

    name: str  # the model spec the user chose: "esrgan", "srgan" or a file path
    display_name: str
    arch: str
    precision: str
    size_bytes: int  # on disk: the fp32 weights or the quantized artifact
    device: str
    scale: int = 4


class Upscaler:
    """Runs a x4 generator (any module mapping float 1x3xHxW in [0,1] to 1x3x4Hx4W) over images."""

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
        return y[0].clamp_(0, 1).permute(1, 2, 0).float().cpu().numpy()

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

        tracker.update(0, f"tile 1/{total}")
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
    precision: str = "fp32",
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    device: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Upscaler:
    """Load ``model`` ("esrgan", "srgan" or a weights file) at ``precision`` ("fp32" or a quantized precision)."""
    net, minfo = load_model(model)
    if precision == "fp32":
        device = device or default_device()
        # Channels-last lets oneDNN skip a layout reorder at every conv: 1.3x faster for RRDBNet (docs/quant.md).
        module, size = net.to(device, memory_format=torch.channels_last), minfo.size_bytes
    else:
        from engine.quant import load_precision

        # Integer kernels run on the CPU only.
        device = "cpu"
        module, size = load_precision(net, minfo, precision, progress=progress, cancel=cancel)
    info = UpscalerInfo(
        name=str(model),
        display_name=minfo.display_name,
        arch=minfo.arch,
        precision=precision,
        size_bytes=size,
        device=device,
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
    """Read, upscale and atomically write one image; the source is never overwritten."""
    source, output = Path(source), Path(output)
    picture = imageio.read_image(source)
    start = time.perf_counter()
    result = upscaler.upscale_picture(picture, progress, cancel)
    seconds = time.perf_counter() - start
    written = imageio.write_image(output, result, quality=quality, protect=[source])
    return UpscaleResult(source, written, seconds, result.size, written.stat().st_size)
