"""The one entry point for upscaling: a generator at some precision, run tiled on an image.

The GUI, the CLI, evaluation and sweeps all go through :func:`make_upscaler` and
:class:`Upscaler`, so a precision or tiling change shows up everywhere at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine import imageio, tiling
from engine.jobs import CancelToken, ProgressFn
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
    notice: str = ""  # a fallback the user should know about, e.g. fp32 where no int8 kernels exist


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
        """HxWx3 float32 in [0,1] -> (4H)x(4W)x3 float32 in [0,1], tile by tile."""
        out = tiling.run_tiled(
            rgb.astype(np.float32, copy=False),
            self._run,
            scale=self.scale,
            tile=self.tile,
            overlap=min(self.overlap, self.tile) if self.tile > 0 else 0,
            progress=progress,
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
    notice = ""
    if precision != "fp32":
        from engine.quant.kernels import kernel_info

        kernels = kernel_info()
        if not kernels.int8:
            notice = f"{precision} needs x86 int8 kernels; this CPU ({kernels.isa}) has none, so fp32 runs instead"
            precision = "fp32"
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
    """Read, upscale and atomically write one image; the source is never overwritten."""
    source, output = Path(source), Path(output)
    picture = imageio.read_image(source)
    start = time.perf_counter()
    result = upscaler.upscale_picture(picture, progress, cancel)
    seconds = time.perf_counter() - start
    written = imageio.write_image(output, result, quality=quality, protect=[source])
    return UpscaleResult(source, written, seconds, result.size, written.stat().st_size)
