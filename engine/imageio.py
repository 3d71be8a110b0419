"""Image files in and out, the way a photographer expects.

Reading gives float32 RGB in [0, 1] with the alpha channel split out, EXIF orientation applied to the
pixels, and the ICC profile and EXIF kept for the output. Writing is atomic (temporary file in the same
folder, fsync, rename) and never overwrites an input.

Pillow does the work, except where it cannot hold the data: it has no 16-bit-per-channel colour mode,
so 16-bit RGB(A) PNGs are decoded and encoded with imagecodecs (libpng) and 16-bit RGB(A) TIFFs with
tifffile; Pillow still opens those files first, to check them and to read their metadata.
"""

from __future__ import annotations

import glob
import io
import os
import re
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import imagecodecs
import numpy as np
import tifffile
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from engine import files
from engine.errors import ImageError

_FORMAT_BY_EXTENSION = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_FORMAT_BY_EXTENSION)
_FORMATS = tuple(sorted(set(_FORMAT_BY_EXTENSION.values())))

# A 4000x3000 photo is 12 MP and a 100 MP medium-format frame still passes; a file claiming more is
# refused from its header, before any decoding.
MAX_PIXELS: int = 100_000_000

_ORIENTATION = ExifTags.Base.Orientation
# numpy equivalents of the Image.Transpose that ImageOps.exif_transpose picks for each orientation
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
# IFD0 tags that describe the photo rather than the file layout; the only ones that can move between
# a TIFF's own IFD and another file's EXIF.
_DESCRIPTIVE_TAGS = tuple(
    int(t)
    for t in (
        ExifTags.Base.ImageDescription,
        ExifTags.Base.Make,
        ExifTags.Base.Model,
        ExifTags.Base.Software,
        ExifTags.Base.DateTime,
        ExifTags.Base.Artist,
        ExifTags.Base.Copyright,
    )
)
_PNG_IHDR_END = 8 + 8 + 13 + 4  # signature, IHDR length and type, IHDR data, CRC
_EXIF_HEADER = b"Exif\x00\x00"
_QUANTIZE_ROWS = 512  # rows per block when converting to integers: bounds the float temporaries
# zlib level 3: measured on a 4000x3000 photo, ~3x faster than the default 6 for ~8% larger files
_PNG_LEVEL = 3


@dataclass
class Picture:
    """Decoded pixels plus what the output file should carry over from the source."""

    rgb: np.ndarray  # float32 HxWx3 in [0, 1], values as decoded (no colour management)
    alpha: np.ndarray | None  # float32 HxW in [0, 1]
    bits: int  # 8 or 16: the source's bits per channel, picks the output depth
    icc_profile: bytes | None = None
    exif: bytes | None = None  # orientation already applied to the pixels and reset to 1
    source_format: str = ""
    path: Path | None = None
    frames: int = 1  # frames or pages in the source file; only the first one is decoded

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"rgb must be HxWx3, got shape {self.rgb.shape}")
        if self.alpha is not None and self.alpha.shape != self.rgb.shape[:2]:
            raise ValueError(f"alpha must be {self.rgb.shape[:2]}, got {self.alpha.shape}")
        if self.bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {self.bits}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow reports sizes."""
        return self.rgb.shape[1], self.rgb.shape[0]


# ----------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`check_image` learns about a file without keeping its pixels."""

    path: Path
    width: int
    height: int
    alpha: bool
    bits: int  # 8 or 16, as read_image will give
    frames: int  # frames or pages; only the first one is used

    @property
    def frames_note(self) -> str | None:
        """The warning to show for an animated or multi-page file, else None."""
        if self.frames <= 1:
            return None
        return f"{self.frames} frames or pages: only the first one is used"


def check_image(path: str | os.PathLike, *, decode: bool = True) -> ImageInfo:
    """Open and fully decode ``path`` as :func:`read_image` would, keeping only its description.

    Lets a batch refuse a bad file (missing, not an image, truncated, too large) before any slow work.
    ``decode=False`` reads the header only (size, mode), which finds all but damaged pixel data.
    """
    path = Path(path)
    _check_input_file(path)
    with _open(path) as im:
        _decode(path, im, full=decode)
        width, height = im.size
        alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
        bits = 16 if _is_16bit_colour(path, im) or im.mode.startswith("I") else 8
        return ImageInfo(path, width, height, alpha, bits, getattr(im, "n_frames", 1))


def _decode(path: Path, im: Image.Image, full: bool = True) -> None:
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise ImageError(_too_large(width * height, f"{width}x{height} = "), path)
    if not full:
        return
    try:
        im.load()  # full decode now, so truncation shows here (LOAD_TRUNCATED_IMAGES stays False)
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as err:
        raise ImageError(f"corrupt or truncated image: {err}", path) from None


def read_image(path: str | os.PathLike) -> Picture:
    """Decode an image file; any problem becomes one :class:`ImageError` line naming the file."""
    path = Path(path)
    _check_input_file(path)
    with _open(path) as im:
        _decode(path, im)
        frames = getattr(im, "n_frames", 1)
        exif = im.getexif()
        orientation = exif.get(_ORIENTATION, 1)
        icc = im.info.get("icc_profile") or None
        if _is_16bit_colour(path, im):
            pixels, maxval = _decode_16bit_colour(path, im.format), 65535
        else:
            pixels, maxval, icc = _pillow_pixels(path, im, icc)
        exif_bytes = _exif_to_keep(im, exif, orientation)
        source_format = im.format
    pixels = _ORIENT.get(orientation, lambda a: a)(pixels)
    rgb, alpha = _split_channels(pixels, maxval)
    return Picture(rgb, alpha, 16 if maxval == 65535 else 8, icc, exif_bytes, source_format, path, frames)


def _check_input_file(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError("no such file", path) from None
    except OSError as err:
        raise ImageError(f"cannot read: {err.strerror or err}", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise ImageError("not a file", path)
    _format_for(path)
    if st.st_size == 0:
        raise ImageError("empty file (0 bytes)", path)


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP; MAX_PIXELS is the limit that applies here, checked by the caller.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path, formats=_FORMATS)
    except Image.DecompressionBombError as err:
        found = re.search(r"(\d+) pixels", str(err))
        raise ImageError(_too_large(int(found.group(1)) if found else None), path) from None
    except UnidentifiedImageError:
        msg = "cannot read as PNG, JPEG, WebP, BMP or TIFF (not an image, a corrupt header, or an unsupported variant)"
        raise ImageError(msg, path) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"corrupt or unreadable image: {err}", path) from None


def _too_large(pixels: int | None, detail: str = "") -> str:
    count = f"{detail}{pixels:,} pixels" if pixels is not None else "too many pixels"
    return f"image too large: {count}, over the limit of {MAX_PIXELS:,} (refused as a possible decompression bomb)"


def _is_16bit_colour(path: Path, im: Image.Image) -> bool:
    """True where Pillow decoded a multi-channel 16-bit file down to 8 bits."""
    if im.mode not in ("RGB", "RGBA"):  # Pillow opens 16-bit grey + alpha PNGs as RGBA too
        return False
    if im.format == "PNG":
        with path.open("rb") as f:
            head = f.read(_PNG_IHDR_END)
        # IHDR is always the first chunk: bit depth at byte 24, colour type at 25 (2 RGB, 4 LA, 6 RGBA)
        return len(head) > 25 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6)
    if im.format == "TIFF":
        return max(im.tag_v2.get(258, (8,))) == 16
    return False


def _decode_16bit_colour(path: Path, fmt: str) -> np.ndarray:
    try:
        if fmt == "PNG":
            pixels = imagecodecs.png_decode(path.read_bytes())
        else:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                pixels = page.asarray()
                if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
                    pixels = np.moveaxis(pixels, 0, -1)
                if page.extrasamples and page.extrasamples[0] == tifffile.EXTRASAMPLE.ASSOCALPHA:
                    pixels = _unpremultiply(pixels)
    except (RuntimeError, ValueError, OSError) as err:  # imagecodecs.PngError, tifffile.TiffFileError
        raise ImageError(f"corrupt 16-bit image: {err}", path) from None
    if pixels.ndim != 3 or pixels.shape[2] not in (2, 3, 4) or pixels.dtype != np.uint16:
        raise ImageError(f"unsupported 16-bit layout {pixels.shape} {pixels.dtype}", path)
    return pixels


def _unpremultiply(pixels: np.ndarray) -> np.ndarray:
    colour = pixels[..., :-1].astype(np.float64)
    alpha = pixels[..., -1:].astype(np.float64)
    colour = np.divide(colour * 65535, alpha, out=np.zeros_like(colour), where=alpha > 0)
    return np.concatenate([np.clip(np.rint(colour), 0, 65535), alpha], axis=-1).astype(np.uint16)


# other modes Pillow opens files in, and their L / LA / RGB / RGBA equivalent ("La": premultiplied)
_CONVERT = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "YCbCr": "RGB"}


def _pillow_pixels(path: Path, im: Image.Image, icc: bytes | None) -> tuple[np.ndarray, int, bytes | None]:
    """Pixels as uint8 or uint16 L / LA / RGB / RGBA array, its max value, and the ICC profile to keep."""
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im, icc)
    if im.mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), 65535, icc
    if im.mode == "I":  # Pillow's mode for some 16-bit greyscale files; wider values cannot be shown
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16), 65535, icc
    if "transparency" in im.info and im.mode in ("P", "L", "RGB"):
        im = im.convert("RGBA")
    elif im.mode in _CONVERT:
        im = im.convert(_CONVERT[im.mode])
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        raise ImageError(f"unsupported colour mode {im.mode}", path)
    return np.asarray(im), 255, icc


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[np.ndarray, int, bytes | None]:
    # A CMYK profile cannot describe RGB pixels, so it is used for the conversion and replaced by sRGB.
    if icc:
        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            rgb = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB")
            return np.asarray(rgb), 255, srgb.tobytes()
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken or non-CMYK profile: fall back to Pillow's plain formula
    return np.asarray(im.convert("RGB")), 255, None


def _exif_to_keep(im: Image.Image, exif: Image.Exif, orientation: int) -> bytes | None:
    if im.format == "TIFF":
        # a TIFF's IFD0 describes its own strips; only the photo's description travels
        kept = _descriptive_exif(exif, with_subifds=True)
        return kept.tobytes() if len(kept) else None
    raw = im.info.get("exif")
    if not raw or _ORIENTATION not in exif or orientation == 1:
        return raw or None
    exif[_ORIENTATION] = 1
    return exif.tobytes()


def _descriptive_exif(exif: Image.Exif, *, with_subifds: bool) -> Image.Exif:
    kept = Image.Exif()
    for tag in _DESCRIPTIVE_TAGS:
        if tag in exif:
            kept[tag] = exif[tag]
    if with_subifds:
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            if ifd in exif and (sub := exif.get_ifd(ifd)):
                kept[ifd] = sub
    return kept


def _split_channels(pixels: np.ndarray, maxval: int) -> tuple[np.ndarray, np.ndarray | None]:
    """L / LA / RGB / RGBA integer pixels -> float RGB in [0, 1] and float alpha (or None)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    has_alpha = pixels.shape[2] in (2, 4)
    colour = pixels[..., :-1] if has_alpha else pixels
    if colour.shape[2] == 1:
        colour = np.broadcast_to(colour, (*colour.shape[:2], 3))
    rgb = colour.astype(np.float32, order="C") / np.float32(maxval)
    if not has_alpha:
        return rgb, None
    return rgb, pixels[..., -1].astype(np.float32, order="C") / np.float32(maxval)


# ----------------------------------------------------------------------------------------------- writing


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Float values in [0, 1] (any shape, e.g. HxWx3 or HxW) as rounded uint8, for display or saving."""
    return _quantize(values, 255, np.uint8)


def _quantize(values: np.ndarray, maxval: int, dtype: type) -> np.ndarray:
    values = np.asarray(values)
    out = np.empty(values.shape, dtype)
    for start in range(0, values.shape[0], _QUANTIZE_ROWS):
        block = values[start : start + _QUANTIZE_ROWS].astype(np.float32)
        np.clip(block, 0.0, 1.0, out=block)
        block *= maxval
        out[start : start + _QUANTIZE_ROWS] = np.rint(block, out=block)
    return out


def write_image(
    path: str | os.PathLike,
    picture: Picture,
    *,
    quality: int = 95,
    bits: int | None = None,
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write ``picture`` atomically in the format named by the extension; returns the path written.

    ``bits`` (8 or 16) defaults to the source's depth; 16 is kept for PNG and TIFF only, and asking for
    it explicitly elsewhere is an error. ``quality`` applies to JPEG and WebP. Refuses to replace any
    file in ``protect`` (the inputs).
    """
    path = Path(path)
    fmt = _format_for(path)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, got {quality}")
    out_bits = _output_bits(path, fmt, picture, bits)
    check_output_format(path, alpha=picture.alpha is not None)
    for other in protect:
        if files.same_file(path, Path(other)):
            raise ImageError("refusing to overwrite an input image; choose another output name or folder", path)
    if path.is_dir():
        raise ImageError("output path is a folder", path)

    def encode(tmp: Path) -> None:
        with tmp.open("wb") as f:
            if out_bits == 16:
                _write_16bit(f, fmt, picture)
            else:
                _write_8bit(f, fmt, picture, quality)

    try:
        return files.write_atomic(path, encode, what=f"{fmt} image")
    except ValueError as err:
        raise ImageError(f"cannot write {fmt} image: {err}", path) from None


def check_output_format(path: str | os.PathLike, *, alpha: bool) -> None:
    """One-line error when ``path``'s format cannot hold the image (unknown type, transparency in JPEG/BMP)."""
    path = Path(path)
    fmt = _format_for(path)
    if fmt in ("JPEG", "BMP") and alpha:
        # (Pillow writes BMP alpha that it and most viewers read back as opaque)
        raise ImageError(f"{fmt} cannot store transparency; save as .png or .webp to keep the alpha channel", path)


def _format_for(path: Path) -> str:
    try:
        return _FORMAT_BY_EXTENSION[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise ImageError(f"unsupported file type '{path.suffix}' (supported: {known})", path) from None


def _output_bits(path: Path, fmt: str, picture: Picture, bits: int | None) -> int:
    if bits is not None and bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    wanted = picture.bits if bits is None else bits
    if wanted == 16 and fmt not in ("PNG", "TIFF"):
        if bits == 16:
            raise ImageError(f"{fmt} cannot store 16 bits per channel; save as .png or .tif", path)
        return 8
    return wanted


def _interleaved(picture: Picture, maxval: int, dtype: type) -> np.ndarray:
    rgb = _quantize(picture.rgb, maxval, dtype)
    if picture.alpha is None:
        return rgb
    return np.concatenate([rgb, _quantize(picture.alpha, maxval, dtype)[..., None]], axis=2)


def _write_8bit(f: BinaryIO, fmt: str, picture: Picture, quality: int) -> None:
    options: dict = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    if fmt == "JPEG" and quality >= 90:
        options["subsampling"] = 0  # 4:4:4: chroma subsampling visibly softens upscaled detail
    if fmt == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
    if fmt == "PNG":
        options["compress_level"] = _PNG_LEVEL
    if fmt != "BMP":
        if picture.icc_profile:
            options["icc_profile"] = picture.icc_profile
        exif = _exif_for(fmt, picture.exif)
        if exif:
            options["exif"] = exif
    Image.fromarray(_interleaved(picture, 255, np.uint8)).save(f, format=fmt, **options)


def _exif_for(fmt: str, exif: bytes | None) -> bytes | None:
    if not exif or fmt != "TIFF":
        return exif
    # libtiff (needed for compression) cannot write EXIF sub-IFDs: keep the IFD0 description only
    loaded = Image.Exif()
    loaded.load(exif)
    kept = _descriptive_exif(loaded, with_subifds=False)
    return kept.tobytes() if len(kept) else None


def _write_16bit(f: BinaryIO, fmt: str, picture: Picture) -> None:
    pixels = _interleaved(picture, 65535, np.uint16)
    if fmt == "TIFF":
        # tifffile writes no EXIF; the ICC profile is kept
        tifffile.imwrite(
            f,
            pixels,
            photometric="rgb",
            extrasamples=("unassalpha",) if picture.alpha is not None else None,
            compression="zlib",
            predictor=True,
            iccprofile=picture.icc_profile,
            metadata=None,
        )
        return
    data = imagecodecs.png_encode(pixels, level=_PNG_LEVEL)
    extra = b""
    if picture.icc_profile:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(picture.icc_profile))
    if picture.exif:
        extra += _png_chunk(b"eXIf", picture.exif.removeprefix(_EXIF_HEADER))
    f.write(data[:_PNG_IHDR_END])
    f.write(extra)  # right after IHDR: iCCP must come before IDAT
    f.write(data[_PNG_IHDR_END:])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# ----------------------------------------------------------------------------------------------- paths


def default_output_path(
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike | None,
    *,
    suffix: str = "_x4",
    ext: str | None = None,
) -> Path:
    """``out_dir/<stem><suffix><ext>``; ``out_dir`` None means beside the input, ``ext`` None keeps the input's.

    ``suffix`` is part of a file name: a path separator in it is an error, so the output stays in ``out_dir``.
    """
    input_path = Path(input_path)
    if any(sep in suffix for sep in ("/", "\\", "\0", os.sep)):
        raise ImageError(f"the suffix {suffix!r} must be part of a file name, without '/' or '\\'")
    if ext is None:
        ext = input_path.suffix
    elif not ext.startswith("."):
        ext = "." + ext
    folder = input_path.parent if out_dir is None else Path(out_dir)
    target = folder / f"{input_path.stem}{suffix}{ext}"
    _format_for(target)
    return target


def collect_inputs(items: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files, folders (their supported images, not recursive, sorted) and glob patterns.

    A missing file, an unsupported file, a folder without images or a pattern matching nothing is an
    :class:`ImageError` naming it. Duplicates are dropped, first occurrence kept.
    """
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            images = [p for p in sorted(path.iterdir()) if _is_listed_image(p)]
            if not images:
                raise ImageError("folder has no supported images", path)
            found.extend(images)
        elif path.exists():
            _format_for(path)
            found.append(path)
        elif any(c in str(item) for c in "*?["):
            matches = [Path(p) for p in sorted(glob.glob(str(item), recursive=True)) if _is_listed_image(Path(p))]
            if not matches:
                raise ImageError("pattern matches no supported images", str(item))
            found.extend(matches)
        else:
            raise ImageError("no such file or folder", path)
    seen: set[Path] = set()
    unique = []
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def _is_listed_image(path: Path) -> bool:
    # hidden files include our own .part files and macOS "._name.jpg" resource forks
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in SUPPORTED_EXTENSIONS
