"""Where the outputs of an upscale run go, decided and checked before any work.

Outputs are named after the model and precision that made them (``photo_esrgan_int8_x4.png``), so runs at
different precisions sit side by side. ``-o`` is a folder, or with a single input may name the output file
itself. A plan in which an output would replace an input of the run, or two inputs would be written to one
file, is refused with one line naming both.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from engine import imageio
from engine.errors import MPSRError
from engine.files import same_file
from engine.quant.precision import PrecisionSpec

_UNSAFE = re.compile(r"[^A-Za-z0-9_.,-]+")


def _part(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.") or "model"


def label(model: str | os.PathLike) -> str:
    """A model spec as a file-name part: a built-in name as it is, a weights file by its stem."""
    text = str(model)
    if "/" in text or "\\" in text or text.lower().endswith((".safetensors", ".pth", ".pt", ".ckpt")):
        text = Path(text).stem
    return _part(text)


def default_suffix(model: str | os.PathLike, precision: PrecisionSpec, scale: int = 4) -> str:
    """``_<model>_<precision>_x4``: what an output's name adds to its input's (a precision file by its stem)."""
    return f"_{label(model)}_{_part(Path(precision.label).stem if precision.is_file else precision.label)}_x{scale}"


def is_file_target(output: str | os.PathLike) -> bool:
    """True when ``-o`` names an image file (a supported extension and not an existing folder)."""
    out = Path(output)
    return out.suffix.lower() in imageio.SUPPORTED_EXTENSIONS and not out.is_dir()


def plan_outputs(
    sources: Sequence[Path], output: str | os.PathLike, *, suffix: str, ext: str | None = None
) -> list[tuple[Path, Path]]:
    """(input, output) pairs for ``sources``; ``output`` is a folder, or the output file of a single input.

    Raises a one-line :class:`MPSRError` when an output would be an input of the run or two inputs would
    share an output.
    """
    out = Path(output)
    if ext is not None and not ext.startswith("."):
        ext = "." + ext
    if is_file_target(out):
        if len(sources) != 1:
            raise MPSRError(f"names one image file, but there are {len(sources)} inputs; give a folder", out)
        if ext is not None and out.suffix.lower() != ext.lower():
            raise MPSRError(f"the file name says {out.suffix}, --format says {ext}; drop one of them", out)
        pairs = [(sources[0], out)]
    else:
        if out.exists() and not out.is_dir():
            raise MPSRError("exists and is not a folder; give a folder, or an image file name for one input", out)
        pairs = [(src, imageio.default_output_path(src, out, suffix=suffix, ext=ext)) for src in sources]
    by_output: dict[Path, Path] = {}
    for src, dst in pairs:
        for other in sources:
            if same_file(dst, other):
                raise MPSRError(f"the output of {src} would replace the input {other}; choose another folder "
                                "or --suffix", dst)
        key = dst.resolve()
        if key in by_output:
            raise MPSRError(f"{by_output[key]} and {src} would both be written to {dst}; upscale them into "
                            "separate folders")
        by_output[key] = src
    return pairs

