"""Training patches from a folder of HR photos: random crops, protocol bicubic LR, flips and rotations.

Batches are a pure function of ``(seed, step)``, so a resumed run sees exactly the batches an
uninterrupted one would, and every data-parallel rank can cut its share out of the same global batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from engine.errors import ImageError, MPSRError
from engine.imageio import SUPPORTED_EXTENSIONS, read_image, to_uint8
from engine.jobs import CancelToken, ProgressFn, ProgressTracker, check

log = logging.getLogger(__name__)

# LR pixels of context on each side of a patch when downscaling: MATLAB's antialiased bicubic at 1/s
# reads 2s HR pixels each way, so 2 LR pixels keep patch borders identical to whole-image downscaling.
_MARGIN = 2
_DEV_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "train"


def default_data_dir() -> Path | None:
    """../shared/data/train when developing in this repository; None elsewhere."""
    return _DEV_DATA if _DEV_DATA.is_dir() else None


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Supported images under ``folder``, recursively, sorted (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MPSRError("training data folder does not exist", folder)
    found = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS and not any(s.startswith(".") for s in p.relative_to(folder).parts)
    )
    if not found:
        raise MPSRError("training data folder has no supported images", folder)
    return found


class PatchSampler:
    """HR/LR patch pairs for a x``scale`` generator, drawn from images held in memory as 8-bit arrays."""

    def __init__(self, images: Sequence[np.ndarray], names: Sequence[str], lr_patch: int, seed: int, *,
                 scale: int) -> None:
        self.lr_patch = lr_patch
        self.seed = seed
        self.scale = scale
        need = (lr_patch + 2 * _MARGIN) * scale
        usable = [(im, n) for im, n in zip(images, names) if min(im.shape[:2]) >= need]
        if not usable:
            raise MPSRError(f"no training image is at least {need}x{need} pixels (LR patch {lr_patch})")
        self.images = [im for im, _ in usable]
        self.names = [n for _, n in usable]

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, lr_patch: int, seed: int = 0, *, scale: int,
                    progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> PatchSampler:
        paths = find_images(folder)
        tracker = ProgressTracker(progress, len(paths), "reading training images")
        images, names = [], []
        for i, path in enumerate(paths):
            check(cancel)
            try:
                images.append(to_uint8(read_image(path).rgb))
                names.append(path.name)
            except ImageError as err:
                log.warning("skipped a training image: %s", err)
            tracker.update(i + 1)
        if not images:
            raise MPSRError("no readable image in the training data folder", folder)
        return cls(images, names, lr_patch, seed, scale=scale)

    def batch(self, step: int, size: int, start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Patches ``start:stop`` of global batch ``step`` (``size`` patches): (LR, HR) float32 NCHW in [0, 1]."""
        rng = np.random.default_rng([self.seed, step])
        s = self.scale
        hr_side = (self.lr_patch + 2 * _MARGIN) * s
        crops = []
        for _ in range(size):
            im = self.images[rng.integers(len(self.images))]
            y = rng.integers((im.shape[0] - hr_side) // s + 1) * s
            x = rng.integers((im.shape[1] - hr_side) // s + 1) * s
            crop = im[y:y + hr_side, x:x + hr_side]
            crop = np.rot90(crop, rng.integers(4))
            if rng.integers(2):
                crop = crop[:, ::-1]
            crops.append(crop)
        hr = torch.from_numpy(np.stack(crops[start:stop]).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        lr = downscale(hr, scale=s)
        m = _MARGIN
        return lr[..., m:-m, m:-m].contiguous(), hr[..., m * s:-m * s, m * s:-m * s].contiguous()


def downscale(hr: torch.Tensor, *, scale: int) -> torch.Tensor:
    """The evaluation protocol's LR: MATLAB-style antialiased bicubic 1/``scale``, rounded to 8 bits."""
    from pyiqa.matlab_utils import imresize

    lr = imresize(hr.double().contiguous(), scale=1 / scale, antialiasing=True)
    return (lr.clamp(0, 1) * 255).round().float() / 255
