"""engine.imageio: formats x modes, 16-bit, EXIF/ICC, atomic writes, input protection, bad files, paths."""

from __future__ import annotations

import io
import itertools
import os
import stat
import struct
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin

from engine import files, imageio
from engine.errors import ImageError, MPSRError
from engine.imageio import (
    MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    Picture,
    collect_inputs,
    default_output_path,
    read_image,
    to_uint8,
    write_image,
)

W, H = 24, 16
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _rgb8(w: int = W, h: int = H, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _source(mode: str) -> Image.Image:
    """A small test image in ``mode`` with varied values (and transparent pixels where there is alpha)."""
    rgb = Image.fromarray(_rgb8())
    if mode == "RGBA":
        im = rgb.copy()
        im.putalpha(Image.fromarray(_rgb8(seed=1)[..., 0]))
        return im
    if mode == "LA":
        return Image.merge("LA", (rgb.convert("L"), Image.fromarray(_rgb8(seed=1)[..., 0])))
    if mode == "P":
        return rgb.quantize(16)
    if mode == "I;16":
        values = np.random.default_rng(2).integers(0, 65536, (H, W), dtype=np.uint16)
        return Image.fromarray(values)
    return rgb.convert(mode)


def _p_with_transparency() -> Image.Image:
    im = _source("P")
    im.info["transparency"] = 3
    return im


def _expected(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """What read_image should return, from Pillow's own conversions."""
    if im.mode == "I;16":
        grey = np.asarray(im).astype(np.float32) / 65535
        return np.repeat(grey[..., None], 3, axis=2), None
    if "transparency" in im.info or im.mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32) / 255
        return rgba[..., :3], rgba[..., 3]
    return np.asarray(im.convert("RGB")).astype(np.float32) / 255, None


LOSSLESS_CASES = (
    [("png", m) for m in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16")]
    + [("bmp", m) for m in ("RGB", "L", "P", "1")]
    + [("tiff", m) for m in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16", "CMYK")]
)


@pytest.mark.parametrize("ext,mode", LOSSLESS_CASES)
def test_read_lossless_formats_and_modes(tmp_path, ext, mode):
    src = _source(mode)
    path = tmp_path / f"in.{ext}"
    src.save(path)
    pic = read_image(path)
    rgb, alpha = _expected(Image.open(path))
    assert pic.rgb.dtype == np.float32 and pic.rgb.shape == (H, W, 3)
    np.testing.assert_array_equal(pic.rgb, rgb)
    if alpha is None:
        assert pic.alpha is None
    else:
        np.testing.assert_array_equal(pic.alpha, alpha)
    assert pic.bits == (16 if mode == "I;16" else 8)
    assert pic.size == (W, H)
    assert pic.source_format == Image.open(path).format
    assert pic.path == path


def test_read_palette_with_transparency_gives_alpha(tmp_path):
    path = tmp_path / "pal.png"
    _p_with_transparency().save(path)
    pic = read_image(path)
    index = np.asarray(_source("P"))
    assert pic.alpha is not None
    np.testing.assert_array_equal(pic.alpha == 0, index == 3)
    assert (index == 3).any() and (pic.alpha[index != 3] == 1).all()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_read_webp_lossless(tmp_path, mode):
    path = tmp_path / "in.webp"
    _source(mode).save(path, lossless=True, exact=True)  # exact: keep colour under alpha 0
    pic = read_image(path)
    rgb, alpha = _expected(_source(mode))
    np.testing.assert_array_equal(pic.rgb, rgb)
    assert (pic.alpha is None) == (alpha is None)
    if alpha is not None:
        np.testing.assert_array_equal(pic.alpha, alpha)
    assert pic.source_format == "WEBP"


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_read_jpeg_modes(tmp_path, mode):
    smooth = np.linspace(0, 255, W * H * 3).reshape(H, W, 3).astype(np.uint8)
    src = Image.fromarray(smooth).convert(mode)
    path = tmp_path / "in.jpg"
    src.save(path, quality=95)
    pic = read_image(path)
    reference = np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 255
    np.testing.assert_array_equal(pic.rgb, reference)
    assert pic.alpha is None and pic.bits == 8 and pic.source_format == "JPEG"


def test_read_other_tiff_modes(tmp_path):
    rgb = _source("RGB")
    cases = {
        "ycbcr.tif": (rgb.convert("YCbCr"), "YCbCr"),
        "pa.tif": (rgb.quantize(8).convert("PA"), "PA"),
    }
    for name, (im, mode) in cases.items():
        im.save(tmp_path / name)
        assert Image.open(tmp_path / name).mode == mode
        pic = read_image(tmp_path / name)
        rgb_ref, alpha_ref = _expected(Image.open(tmp_path / name))
        np.testing.assert_array_equal(pic.rgb, rgb_ref)
        assert (pic.alpha is None) == (alpha_ref is None)

    grey_alpha = np.random.default_rng(8).integers(0, 256, (H, W, 2), dtype=np.uint8)
    grey_alpha[..., 0] = np.minimum(grey_alpha[..., 0], grey_alpha[..., 1])  # valid premultiplied values
    tifffile.imwrite(tmp_path / "la.tif", grey_alpha, photometric="minisblack", extrasamples=("assocalpha",))
    assert Image.open(tmp_path / "la.tif").mode == "La"
    pic = read_image(tmp_path / "la.tif")
    ref = np.asarray(Image.open(tmp_path / "la.tif").convert("LA")).astype(np.float32) / 255
    np.testing.assert_array_equal(pic.rgb[..., 1], ref[..., 0])
    np.testing.assert_array_equal(pic.alpha, ref[..., 1])

    wide = np.random.default_rng(9).integers(0, 65536, (H, W)).astype(np.int32)
    Image.fromarray(wide, mode="I").save(tmp_path / "int.tif")
    assert Image.open(tmp_path / "int.tif").mode == "I"
    pic = read_image(tmp_path / "int.tif")
    assert pic.bits == 16
    np.testing.assert_array_equal(np.rint(pic.rgb[..., 2] * 65535), wide)


@pytest.mark.parametrize("mode", ["F", "LAB"])
def test_unsupported_modes_are_refused(tmp_path, mode):
    _source("RGB").convert(mode).save(tmp_path / "odd.tif")
    with pytest.raises(ImageError, match=rf"odd\.tif: unsupported colour mode {mode}"):
        read_image(tmp_path / "odd.tif")


def _cmyk_profile() -> bytes:
    """A minimal ICC v2 CMYK printer profile: A2B0 is a 2-point lut8 mapping ink coverage to grey Lab."""

    def xyz(x, y, z):
        return b"XYZ " + bytes(4) + struct.pack(">3i", *(round(v * 65536) for v in (x, y, z)))

    def desc(text):
        t = text.encode() + b"\0"
        return b"desc" + bytes(4) + struct.pack(">I", len(t)) + t + bytes(4 + 4 + 2 + 1 + 67)

    clut = b""
    for c, m, y, k in itertools.product((0, 1), repeat=4):
        light = (1 - k) * (1 - 0.3 * c) * (1 - 0.3 * m) * (1 - 0.3 * y)
        clut += bytes((round(255 * light), 128, 128))
    identity = bytes(range(256))
    matrix = struct.pack(">9i", 65536, 0, 0, 0, 65536, 0, 0, 0, 65536)
    lut = b"mft1" + bytes(4) + bytes((4, 3, 2, 0)) + matrix + identity * 4 + clut + identity * 3
    tags = [(b"desc", desc("test CMYK")), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, b"prtr", b"CMYK", b"Lab ")
    header += bytes(12) + b"acsp" + bytes(4 + 4 + 4 + 4 + 8 + 4) + struct.pack(">3i", 63190, 65536, 54061)
    header += bytes(128 - len(header))
    return header + table + data


@pytest.mark.parametrize("ext", ["tif", "jpg"])
def test_cmyk_profile_drives_conversion_to_srgb(tmp_path, ext):
    path = tmp_path / f"print.{ext}"
    inks = np.zeros((H, W, 4), np.uint8)
    inks[:, : W // 2, 0] = 255  # cyan half: grey under this profile, cyan under the plain formula
    Image.fromarray(inks, "CMYK").save(path, icc_profile=_cmyk_profile(), quality=100)
    pic = read_image(path)
    with Image.open(path) as im:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        srgb = ImageCms.createProfile("sRGB")
        reference = np.asarray(ImageCms.profileToProfile(im, profile, srgb, outputMode="RGB")) / np.float32(255)
    np.testing.assert_array_equal(pic.rgb, reference)
    assert np.ptp(pic.rgb[:, : W // 2], axis=2).max() < 0.02  # grey, not cyan
    described = ImageCms.ImageCmsProfile(io.BytesIO(pic.icc_profile))
    assert described.profile.xcolor_space.strip() == "RGB"  # the CMYK profile is not carried onto RGB pixels


def test_cmyk_with_unusable_profile_falls_back_to_plain_conversion(tmp_path):
    # an RGB profile attached to CMYK pixels cannot drive the conversion; it must not be kept either
    path = tmp_path / "cmyk.tif"
    _source("CMYK").save(path, icc_profile=SRGB_ICC)
    pic = read_image(path)
    np.testing.assert_array_equal(pic.rgb, np.asarray(_source("CMYK").convert("RGB")) / np.float32(255))
    assert pic.icc_profile is None


# ----------------------------------------------------------------------------------------------- 16 bit


def _rgb16(channels: int = 3, seed: int = 3) -> np.ndarray:
    values = np.random.default_rng(seed).integers(0, 65536, (H, W, channels), dtype=np.uint16)
    values[0, 0, 0] = 1000  # not a multiple of 257: an 8-bit detour could not produce it
    return values


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_png_keeps_full_precision(tmp_path, channels):
    source = _rgb16(channels)
    path = tmp_path / "deep.png"
    path.write_bytes(imagecodecs.png_encode(source))
    pic = read_image(path)
    assert pic.bits == 16
    colour = source[..., :3] if channels >= 3 else np.repeat(source[..., :1], 3, axis=2)
    np.testing.assert_array_equal(np.rint(pic.rgb * 65535), colour)
    if channels in (2, 4):
        np.testing.assert_array_equal(np.rint(pic.alpha * 65535), source[..., -1])
    else:
        assert pic.alpha is None


@pytest.mark.parametrize("planar", ["contig", "separate"])
@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_tiff_keeps_full_precision(tmp_path, channels, planar):
    source = _rgb16(channels)
    path = tmp_path / "deep.tif"
    data = source if planar == "contig" else np.moveaxis(source, -1, 0)
    tifffile.imwrite(
        path,
        data,
        photometric="rgb",
        planarconfig=planar,
        compression="zlib",
        extrasamples=("unassalpha",) if channels == 4 else None,
    )
    pic = read_image(path)
    assert pic.bits == 16 and pic.source_format == "TIFF"
    np.testing.assert_array_equal(np.rint(pic.rgb * 65535), source[..., :3])
    if channels == 4:
        np.testing.assert_array_equal(np.rint(pic.alpha * 65535), source[..., 3])


def test_16bit_tiff_premultiplied_alpha_is_undone(tmp_path):
    source = _rgb16(4)
    source[..., 3] = np.maximum(source[..., 3], 20000)  # well away from 0, where colour is lost
    premultiplied = source.copy()
    premultiplied[..., :3] = np.rint(source[..., :3] * (source[..., 3:] / 65535))
    path = tmp_path / "premultiplied.tif"
    tifffile.imwrite(path, premultiplied, photometric="rgb", extrasamples=("assocalpha",))
    pic = read_image(path)
    assert pic.bits == 16
    np.testing.assert_array_equal(np.rint(pic.alpha * 65535), source[..., 3])
    assert np.abs(pic.rgb * 65535 - source[..., :3]).max() <= 2


def _picture16(alpha: bool) -> Picture:
    values = _rgb16(4 if alpha else 3).astype(np.float32) / 65535
    return Picture(
        rgb=np.ascontiguousarray(values[..., :3]),
        alpha=values[..., 3].copy() if alpha else None,
        bits=16,
        icc_profile=SRGB_ICC,
        exif=_exif_bytes(Make="MPSR test"),
        source_format="PNG",
    )


@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("ext", ["png", "tif"])
def test_write_16bit_png_and_tiff(tmp_path, ext, alpha):
    pic = _picture16(alpha)
    path = write_image(tmp_path / f"out.{ext}", pic)
    stored = imagecodecs.png_decode(path.read_bytes()) if ext == "png" else tifffile.imread(path)
    assert stored.dtype == np.uint16 and stored.shape == (H, W, 4 if alpha else 3)
    np.testing.assert_array_equal(stored[..., :3], np.rint(pic.rgb * 65535))
    back = read_image(path)
    assert back.bits == 16
    np.testing.assert_array_equal(back.rgb, pic.rgb)
    if alpha:
        np.testing.assert_array_equal(back.alpha, pic.alpha)
    with Image.open(path) as im:  # Pillow (and so any viewer) still reads the file and its profile
        assert im.info.get("icc_profile") == SRGB_ICC
        if ext == "png":
            assert im.getexif()[ExifTags.Base.Make] == "MPSR test"


def test_16bit_source_to_8bit_formats(tmp_path):
    pic = _picture16(alpha=False)
    path = write_image(tmp_path / "out.jpg", pic)  # depth follows the format when not asked for
    assert Image.open(path).mode == "RGB"
    with pytest.raises(ImageError, match=r"out\.webp: .*16 bits"):
        write_image(tmp_path / "out.webp", pic, bits=16)
    path = write_image(tmp_path / "eight.png", pic, bits=8)
    assert Image.open(path).mode == "RGB"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), to_uint8(pic.rgb))


def test_8bit_source_can_be_written_as_16bit(tmp_path):
    path = tmp_path / "in.png"
    _source("RGB").save(path)
    pic = read_image(path)
    out = write_image(tmp_path / "out.png", pic, bits=16)
    assert imagecodecs.png_decode(out.read_bytes()).dtype == np.uint16
    np.testing.assert_array_equal(read_image(out).rgb, pic.rgb)


# ----------------------------------------------------------------------------------------------- write


def _picture8(alpha: bool) -> Picture:
    rgba = _rgb8(seed=5).astype(np.float32) / 255
    return Picture(
        rgb=rgba,
        alpha=(_rgb8(seed=6)[..., 0].astype(np.float32) / 255) if alpha else None,
        bits=8,
    )


@pytest.mark.parametrize("ext,alpha", [("png", False), ("png", True), ("bmp", False), ("tif", False), ("tiff", True)])
def test_write_lossless_round_trip(tmp_path, ext, alpha):
    pic = _picture8(alpha)
    back = read_image(write_image(tmp_path / f"out.{ext}", pic))
    np.testing.assert_array_equal(back.rgb, pic.rgb)
    if alpha:
        np.testing.assert_array_equal(back.alpha, pic.alpha)
    else:
        assert back.alpha is None


@pytest.mark.parametrize("alpha", [False, True])
def test_write_webp(tmp_path, alpha):
    pic = _picture8(alpha)
    smooth = np.linspace(0, 1, W * H * 3, dtype=np.float32).reshape(H, W, 3)
    pic.rgb = smooth
    back = read_image(write_image(tmp_path / "out.webp", pic, quality=95))
    assert np.abs(back.rgb - smooth).max() < 0.1
    assert (back.alpha is None) == (not alpha)


def test_write_jpeg_quality_and_subsampling(tmp_path):
    pic = _picture8(alpha=False)
    high = write_image(tmp_path / "high.jpg", pic, quality=95)
    low = write_image(tmp_path / "low.jpeg", pic, quality=80)
    assert JpegImagePlugin.get_sampling(Image.open(high)) == 0  # 4:4:4
    assert JpegImagePlugin.get_sampling(Image.open(low)) == 2  # 4:2:0
    assert low.stat().st_size < high.stat().st_size


@pytest.mark.parametrize("ext,fmt", [("jpg", "JPEG"), ("bmp", "BMP")])
def test_write_refuses_alpha_where_format_cannot_keep_it(tmp_path, ext, fmt):
    with pytest.raises(ImageError, match=rf"out\.{ext}: {fmt} cannot store transparency.*\.png or \.webp"):
        write_image(tmp_path / f"out.{ext}", _picture8(alpha=True))
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_unknown_extension_and_bad_arguments(tmp_path):
    with pytest.raises(ImageError, match=r"out\.gif: unsupported file type '\.gif'"):
        write_image(tmp_path / "out.gif", _picture8(alpha=False))
    with pytest.raises(ValueError):
        write_image(tmp_path / "out.jpg", _picture8(alpha=False), quality=0)
    with pytest.raises(ValueError):
        write_image(tmp_path / "out.png", _picture8(alpha=False), bits=12)


def test_write_creates_parent_folders_with_normal_permissions(tmp_path):
    target = tmp_path / "a" / "b" / "out.png"
    assert write_image(target, _picture8(alpha=False)) == target
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.png"]


# ----------------------------------------------------------------------------------------------- metadata


def _exif_bytes(orientation: int | None = None, **base) -> bytes:
    exif = Image.Exif()
    for name, value in base.items():
        exif[ExifTags.Base[name]] = value
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.ExposureTime: 0.004, ExifTags.Base.ISOSpeedRatings: 200}
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_pillow(tmp_path, orientation):
    path = tmp_path / "oriented.png"
    _source("RGBA").save(path, exif=_exif_bytes(orientation, Make="Cam"))
    pic = read_image(path)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(path))).astype(np.float32) / 255
    np.testing.assert_array_equal(pic.rgb, upright[..., :3])
    np.testing.assert_array_equal(pic.alpha, upright[..., 3])
    exif = Image.Exif()
    exif.load(pic.exif)
    assert exif[ExifTags.Base.Orientation] == 1
    assert exif[ExifTags.Base.Make] == "Cam"
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.ISOSpeedRatings] == 200


def test_exif_orientation_6_rotates_jpeg_clockwise(tmp_path):
    pixels = np.zeros((H, W, 3), np.uint8)
    pixels[-4:, :4] = 255  # a white block in the bottom-left corner of the stored pixels
    path = tmp_path / "portrait.jpg"
    Image.fromarray(pixels).save(path, quality=100, subsampling=0, exif=_exif_bytes(6))
    pic = read_image(path)
    assert pic.size == (H, W)  # width and height swapped
    assert pic.rgb[:4, :4].mean() > 0.9 and pic.rgb[-4:, -4:].mean() < 0.1  # now top-left
    out = write_image(tmp_path / "out.jpg", pic)
    with Image.open(out) as im:  # written upright: no viewer may rotate it again
        assert im.size == (H, W) and im.getexif()[ExifTags.Base.Orientation] == 1


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "tif"])
def test_icc_and_exif_kept_on_write(tmp_path, ext):
    src = tmp_path / "in.jpg"
    Image.fromarray(_rgb8()).save(src, icc_profile=SRGB_ICC, exif=_exif_bytes(Make="Leica", Model="M6"))
    pic = read_image(src)
    assert pic.icc_profile == SRGB_ICC
    out = write_image(tmp_path / f"out.{ext}", pic)
    with Image.open(out) as im:
        im.load()
        assert im.info.get("icc_profile") == SRGB_ICC
        exif = im.getexif()
        assert exif[ExifTags.Base.Make] == "Leica" and exif[ExifTags.Base.Model] == "M6"
        if ext != "tif":  # libtiff cannot write the EXIF sub-IFD
            assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.ISOSpeedRatings] == 200


def test_tiff_source_exif_keeps_description_not_layout(tmp_path):
    path = tmp_path / "in.tif"
    Image.fromarray(_rgb8()).save(path, exif=_exif_bytes(Make="Hasselblad"))
    pic = read_image(path)
    exif = Image.Exif()
    exif.load(pic.exif)
    assert exif[ExifTags.Base.Make] == "Hasselblad"
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.ISOSpeedRatings] == 200
    assert ExifTags.Base.StripOffsets not in exif and ExifTags.Base.ImageWidth not in exif


# ----------------------------------------------------------------------------------------------- atomic + protection


def test_failed_write_leaves_no_part_file_and_keeps_old_target(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous result")

    def broken_encoder(f, fmt, picture, quality):
        f.write(b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(imageio, "_write_8bit", broken_encoder)
    with pytest.raises(MPSRError, match=r"out\.png: cannot write PNG image: disk full"):
        write_image(target, _picture8(alpha=False))
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_interrupted_write_cleans_up_and_propagates(tmp_path, monkeypatch):
    def interrupted(f, fmt, picture, quality):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(imageio, "_write_8bit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "out.png", _picture8(alpha=False))
    assert list(tmp_path.iterdir()) == []


def test_temp_file_is_hidden_part_file_in_target_folder(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src), Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    write_image(tmp_path / "out.png", _picture8(alpha=False))
    [(tmp, dst)] = seen
    assert tmp.parent == dst.parent == tmp_path
    assert tmp.name.startswith(".out.png.") and tmp.name.endswith(".part")


def test_inputs_are_never_overwritten(tmp_path):
    src = tmp_path / "photo.png"
    Image.fromarray(_rgb8()).save(src)
    before = src.read_bytes()
    pic = read_image(src)
    for spelling in (src, tmp_path / "sub" / ".." / "photo.png", str(src)):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ImageError, match="refusing to overwrite an input"):
            write_image(spelling, pic, protect=[src])
    link = tmp_path / "link.png"
    link.symlink_to(src)
    with pytest.raises(ImageError, match="refusing to overwrite an input"):
        write_image(link, pic, protect=[src])
    hard = tmp_path / "hard.png"
    os.link(src, hard)
    with pytest.raises(ImageError, match="refusing to overwrite an input"):
        write_image(hard, pic, protect=[src])
    assert src.read_bytes() == before
    write_image(tmp_path / "photo_x4.png", pic, protect=[src])  # other names are fine


# ----------------------------------------------------------------------------------------------- bad inputs


def test_missing_empty_text_directory_and_unsupported(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png: empty file"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("these are my holiday notes\n")
    with pytest.raises(ImageError, match=r"notes\.png: cannot read as PNG, JPEG, WebP, BMP or TIFF \(not an image"):
        read_image(tmp_path / "notes.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match=r"dir\.png: not a file"):
        read_image(tmp_path / "dir.png")
    Image.fromarray(_rgb8()).save(tmp_path / "anim.gif")
    with pytest.raises(ImageError, match=r"anim\.gif: unsupported file type '\.gif'"):
        read_image(tmp_path / "anim.gif")


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "webp", "bmp"])
def test_truncated_files_are_refused(tmp_path, ext):
    noisy = _rgb8(256, 256, seed=7)
    whole = io.BytesIO()
    Image.fromarray(noisy).save(whole, format=Image.registered_extensions()[f".{ext}"])
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    with pytest.raises(ImageError, match=rf"cut\.{ext}: corrupt or (truncated|unreadable) image"):
        read_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_error_is_one_line(tmp_path):
    path = tmp_path / "cut.png"
    whole = io.BytesIO()
    Image.fromarray(_rgb8(128, 128)).save(whole, format="PNG")
    path.write_bytes(whole.getvalue()[:300])
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of one colour: tiny on disk, ``width*height`` pixels once decoded."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    idat = zlib.compressobj(9)
    body = b"".join(idat.compress(row) for _ in range(height)) + idat.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _forbid_png_decoding(monkeypatch):
    def refuse(self):
        raise AssertionError("the pixels of a bomb must never be decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", refuse)


def test_decompression_bomb_refused_from_header(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(20000, 20000))
    assert path.stat().st_size < 100_000
    _forbid_png_decoding(monkeypatch)
    with pytest.raises(ImageError, match=r"bomb\.png: image too large: 400,000,000 pixels, over the limit of"):
        read_image(path)


def test_own_pixel_limit_applies_below_pillows(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(_png_claiming(30, 20))
    monkeypatch.setattr(imageio, "MAX_PIXELS", 599)
    _forbid_png_decoding(monkeypatch)
    with pytest.raises(ImageError, match=r"big\.png: image too large: 30x20 = 600 pixels, over the limit of 599"):
        read_image(path)


def test_pixel_limit_admits_large_photos():
    assert MAX_PIXELS >= 4000 * 3000


# ----------------------------------------------------------------------------------------------- paths


def test_default_output_path(tmp_path):
    src = tmp_path / "holiday" / "IMG_0001.JPG"
    assert default_output_path(src, tmp_path / "out") == tmp_path / "out" / "IMG_0001_x4.JPG"
    assert default_output_path(src, None) == src.parent / "IMG_0001_x4.JPG"
    assert default_output_path(src, "o", suffix="_big", ext="png") == Path("o/IMG_0001_big.png")
    assert default_output_path(src, "o", ext=".tif") == Path("o/IMG_0001_x4.tif")
    with pytest.raises(ImageError, match="unsupported file type '.gif'"):
        default_output_path(src, "o", ext="gif")


def _touch_images(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_collect_inputs_folders_globs_files(tmp_path):
    _touch_images(tmp_path / "a", ["b.png", "a.JPG", "c.txt", ".hidden.png", ".x.png.1234.part", "d.tiff"])
    (tmp_path / "a" / "sub").mkdir()
    _touch_images(tmp_path / "a" / "sub", ["deep.png"])
    _touch_images(tmp_path / "b", ["z.webp", "y.bmp", "notes.md"])
    folder = collect_inputs([str(tmp_path / "a")])
    assert [p.name for p in folder] == ["a.JPG", "b.png", "d.tiff"]
    globbed = collect_inputs([str(tmp_path / "b" / "*")])
    assert [p.name for p in globbed] == ["y.bmp", "z.webp"]
    mixed = collect_inputs([str(tmp_path / "b" / "z.webp"), str(tmp_path / "b"), str(tmp_path / "*" / "*.png")])
    assert [p.name for p in mixed] == ["z.webp", "y.bmp", "b.png"]
    assert collect_inputs([]) == []
    assert all(isinstance(p, Path) for p in mixed)


def test_collect_inputs_refuses_what_it_cannot_use(tmp_path):
    with pytest.raises(ImageError, match=r"missing\.png: no such file or folder"):
        collect_inputs([str(tmp_path / "missing.png")])
    with pytest.raises(ImageError, match=r"\*\.png: pattern matches no supported images"):
        collect_inputs([str(tmp_path / "*.png")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match=r"empty: folder has no supported images"):
        collect_inputs([str(tmp_path / "empty")])
    (tmp_path / "doc.pdf").write_bytes(b"%PDF")
    with pytest.raises(ImageError, match=r"doc\.pdf: unsupported file type"):
        collect_inputs([str(tmp_path / "doc.pdf")])


# ----------------------------------------------------------------------------------------------- helpers


def test_to_uint8_rounds_and_clips():
    values = np.array([[-0.5, 0.0, 0.501 / 255, 0.499 / 255, 1.0, 7.0]], np.float32)
    assert to_uint8(values).tolist() == [[0, 0, 1, 0, 255, 255]]
    big = np.full((1100, 3, 3), 0.5, np.float32)  # spans several row blocks
    assert (to_uint8(big) == 128).all() and to_uint8(big).shape == big.shape


def test_picture_validates_shapes():
    with pytest.raises(ValueError):
        Picture(rgb=np.zeros((4, 4), np.float32), alpha=None, bits=8)
    with pytest.raises(ValueError):
        Picture(rgb=np.zeros((4, 4, 3), np.float32), alpha=np.zeros((3, 4), np.float32), bits=8)
    with pytest.raises(ValueError):
        Picture(rgb=np.zeros((4, 4, 3), np.float32), alpha=None, bits=10)


def test_supported_extensions():
    assert SUPPORTED_EXTENSIONS == {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
