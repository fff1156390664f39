"""Unit tests of the safe decode policy: ``decode_image``, ``load_image``, ``probe_image``, ``encode_image``."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import skimage.data as skdata
from PIL import Image, ImageCms

from ggt_hf.errors import BadImageError
from ggt_hf.imaging.images import (
    DecodedImage,
    ImageHeader,
    decode_image,
    encode_image,
    from_array,
    load_image,
    normalise_image,
    probe_image,
    read_file_bytes,
    to_array,
)
from ggt_hf.pipeline.demo import sample_dir


def _encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _rgb(decoded: DecodedImage) -> np.ndarray:
    assert decoded.image.mode == "RGB"
    arr = np.asarray(decoded.image)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    return arr


def _photo(w: int = 300, h: int = 200) -> Image.Image:
    return Image.fromarray(skdata.astronaut()[:h, :w])


# ---------------------------------------------------------------------------------------- mode policy


def _gradient_alpha(w: int = 8, h: int = 4) -> np.ndarray:
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, w // 2 :] = 255
    return alpha


def _mode_cases() -> list[
    tuple[str, bytes, str, list[tuple[tuple[int, int], tuple[int, int, int]]], str | None]
]:
    """(name, encoded bytes, stored mode, [(xy, expected RGB)], expected warning substring)."""
    cases = []
    cases.append(
        ("RGB", _encode(Image.new("RGB", (8, 4), (10, 20, 30))), "RGB", [((0, 0), (10, 20, 30))], None)
    )
    cases.append(("L", _encode(Image.new("L", (8, 4), 100)), "L", [((3, 3), (100, 100, 100))], None))
    one = Image.new("1", (8, 4), 0)
    one.paste(1, (4, 0, 8, 4))
    cases.append(("1", _encode(one), "1", [((0, 0), (0, 0, 0)), ((7, 0), (255, 255, 255))], None))
    pal = Image.new("P", (8, 4), 1)
    pal.putpalette([0, 0, 0, 200, 30, 40] + [0] * 762)
    cases.append(("P", _encode(pal), "P", [((0, 0), (200, 30, 40))], None))
    pal_t = pal.copy()
    pal_t.paste(0, (0, 0, 4, 4))
    cases.append(
        (
            "P+transparency",
            _encode(pal_t, transparency=0),
            "P",
            [((0, 0), (255, 255, 255)), ((7, 0), (200, 30, 40))],
            "alpha channel composited onto white",
        )
    )
    la = Image.fromarray(np.stack([np.full((4, 8), 60, np.uint8), _gradient_alpha()], -1), mode="LA")
    cases.append(
        (
            "LA",
            _encode(la),
            "LA",
            [((0, 0), (255, 255, 255)), ((7, 0), (60, 60, 60))],
            "composited onto white",
        )
    )
    rgba = np.zeros((4, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = _gradient_alpha()
    rgba[0, 5, 3] = 128  # half-transparent red over white
    cases.append(
        (
            "RGBA",
            _encode(Image.fromarray(rgba, mode="RGBA")),
            "RGBA",
            [((0, 0), (255, 255, 255)), ((7, 0), (200, 0, 0)), ((5, 0), (227, 127, 127))],
            "composited onto white",
        )
    )
    opaque = rgba.copy()
    opaque[..., 3] = 255
    cases.append(
        ("RGBA opaque", _encode(Image.fromarray(opaque, mode="RGBA")), "RGBA", [((0, 0), (200, 0, 0))], None)
    )
    grey_key = np.full((4, 8), 90, np.uint8)
    grey_key[:, :4] = 7
    cases.append(
        (
            "L+tRNS",
            _encode(Image.fromarray(grey_key), transparency=7),
            "L",
            [((0, 0), (255, 255, 255)), ((7, 0), (90, 90, 90))],
            "composited onto white",
        )
    )
    rgb_key = np.full((4, 8, 3), 40, np.uint8)
    rgb_key[:, :4] = (1, 2, 3)
    cases.append(
        (
            "RGB+tRNS",
            _encode(Image.fromarray(rgb_key), transparency=(1, 2, 3)),
            "RGB",
            [((0, 0), (255, 255, 255)), ((7, 0), (40, 40, 40))],
            "composited onto white",
        )
    )
    cmyk = Image.new("CMYK", (8, 4), (0, 0, 0, 0))
    cmyk.paste((0, 255, 255, 0), (4, 0, 8, 4))
    cases.append(
        (
            "CMYK",
            _encode(cmyk, "TIFF"),
            "CMYK",
            [((0, 0), (255, 255, 255)), ((7, 0), (255, 0, 0))],
            "CMYK converted to RGB",
        )
    )
    cases.append(
        (
            "I;16",
            _encode(Image.fromarray(np.array([[0, 257, 32768, 65535]] * 2, np.uint16))),
            "I;16",
            [((0, 0), (0, 0, 0)), ((1, 0), (1, 1, 1)), ((2, 0), (128, 128, 128)), ((3, 0), (255, 255, 255))],
            "high-bit-depth image scaled to 8 bits",
        )
    )
    cases.append(
        (
            "I (32-bit)",
            _encode(Image.fromarray(np.array([[0, 32768, 65535]] * 2, np.int32)), "TIFF"),
            "I",
            [((1, 0), (128, 128, 128)), ((2, 0), (255, 255, 255))],
            "high-bit-depth image scaled to 8 bits",
        )
    )
    cases.append(
        (
            "F in [0,1]",
            _encode(Image.fromarray(np.array([[0.0, 0.5, 1.0]] * 2, np.float32)), "TIFF"),
            "F",
            [((0, 0), (0, 0, 0)), ((1, 0), (128, 128, 128)), ((2, 0), (255, 255, 255))],
            "32-bit float image scaled to 8 bits",
        )
    )
    cases.append(
        (
            "F in [0,255]",
            _encode(Image.fromarray(np.array([[0.0, 100.0, 300.0]] * 2, np.float32)), "TIFF"),
            "F",
            [((1, 0), (100, 100, 100)), ((2, 0), (255, 255, 255))],
            "32-bit float image scaled to 8 bits",
        )
    )
    return cases


MODE_CASES = _mode_cases()


@pytest.mark.parametrize(
    ("name", "data", "stored_mode", "pixels", "warning"), MODE_CASES, ids=[c[0] for c in MODE_CASES]
)
def test_mode_policy(name, data, stored_mode, pixels, warning) -> None:
    decoded = decode_image(data, name)
    arr = _rgb(decoded)
    assert decoded.stored_mode == stored_mode
    assert decoded.image.size == decoded.stored_size
    for (x, y), rgb in pixels:
        assert tuple(int(v) for v in arr[y, x]) == rgb, (name, (x, y))
    if warning is None:
        assert decoded.warnings == []
    else:
        assert any(warning in w for w in decoded.warnings), decoded.warnings


def test_16_bit_real_photo_scales_exactly() -> None:
    camera = skdata.camera()
    for fmt in ("PNG", "TIFF"):
        decoded = decode_image(_encode(Image.fromarray(camera.astype(np.uint16) * 257), fmt))
        assert decoded.stored_mode.startswith("I;16")
        arr = _rgb(decoded)
        assert (arr[..., 0] == camera).all() and (arr[..., 1] == camera).all()


def test_float_image_of_nans_decodes_without_runtime_warning() -> None:
    data = _encode(Image.fromarray(np.full((4, 4), np.nan, np.float32)), "TIFF")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr = _rgb(decode_image(data))
    assert (arr == 0).all()


def test_decoded_image_is_fully_loaded_and_detached() -> None:
    data = _encode(_photo(), "JPEG")
    decoded = decode_image(data)
    assert decoded.format == "JPEG" and decoded.stored_size == (300, 200)
    # Pixels are in memory: usable after the bytes are gone, no lazy file handle.
    del data
    assert decoded.image.getpixel((0, 0)) is not None
    assert decoded.image.im is not None


# ------------------------------------------------------------------------------------ EXIF orientation


def _oriented(arr: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer shows for a stored array with an EXIF orientation (TIFF/EXIF spec)."""
    return {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transverse (anti-diagonal mirror)
        8: lambda a: np.rot90(a, 1),
    }[orientation](arr)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(orientation: int) -> None:
    stored = np.asarray(_photo(30, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(_encode(Image.fromarray(stored), "PNG", exif=exif.tobytes()))
    assert decoded.stored_size == (30, 20)
    expected = _oriented(stored, orientation)
    assert (_rgb(decoded) == expected).all()
    assert decoded.image.size == (expected.shape[1], expected.shape[0])
    assert decoded.warnings == ([] if orientation == 1 else ["EXIF orientation applied"])


def test_exif_orientation_6_on_jpeg_gives_portrait() -> None:
    stored = np.zeros((200, 300, 3), np.uint8)
    stored[:60, :60] = (255, 0, 0)  # marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    assert probe_image(data) == ImageHeader("JPEG", 300, 200, "RGB")  # the header is not rotated
    decoded = decode_image(data)
    assert decoded.stored_size == (300, 200) and decoded.image.size == (200, 300)
    arr = _rgb(decoded).astype(int)
    assert arr[10:50, 150:190, 0].mean() > 240 and arr[10:50, 150:190, 1].mean() < 15  # top-right
    assert arr[10:50, 10:50].mean() < 15  # top-left is black


# ------------------------------------------------------------------------------------------------ ICC


def test_icc_profile_converted_for_rocket() -> None:
    path = sample_dir() / "rocket.jpg"
    decoded = load_image(path)
    assert decoded.warnings == ["ICC profile 'Adobe RGB (1998)' converted to sRGB"]
    with Image.open(path) as raw:
        icc = raw.info["icc_profile"]
        ignored = np.asarray(raw.convert("RGB")).astype(int)
        reference = ImageCms.profileToProfile(
            raw.convert("RGB"),
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGB",
        )
    arr = _rgb(decoded).astype(int)
    assert np.abs(arr - ignored).mean() > 2  # the conversion really changes the pixels
    assert (arr == np.asarray(reference)).all()  # and it is the perceptual Adobe RGB → sRGB transform
    # Adobe RGB has a wider gamut: saturated colours get more saturated in sRGB numbers.
    saturation = lambda a: (a.max(axis=-1) - a.min(axis=-1)).mean()  # noqa: E731
    assert saturation(arr) > saturation(ignored)


def test_srgb_profile_is_a_no_op() -> None:
    decoded = load_image(sample_dir() / "astronaut.png")  # tagged sRGB IEC61966-2.1
    assert decoded.warnings == []
    with Image.open(sample_dir() / "astronaut.png") as raw:
        assert (np.asarray(decoded.image) == np.asarray(raw.convert("RGB"))).all()


def test_broken_icc_profile_ignored_with_warning() -> None:
    photo = _photo()
    data = _encode(photo, "PNG", icc_profile=b"\x00garbage" * 40)
    decoded = decode_image(data)
    assert len(decoded.warnings) == 1
    assert decoded.warnings[0].startswith("unreadable ICC profile ignored, pixels taken as sRGB")
    assert (np.asarray(decoded.image) == np.asarray(photo)).all()


def _adobe_icc() -> bytes:
    with Image.open(sample_dir() / "rocket.jpg") as raw:
        return raw.info["icc_profile"]


def test_icc_profile_with_alpha_keeps_alpha() -> None:
    rgba = np.zeros((4, 8, 4), np.uint8)
    rgba[..., 1] = 180
    rgba[..., 3] = _gradient_alpha()
    decoded = decode_image(_encode(Image.fromarray(rgba, mode="RGBA"), icc_profile=_adobe_icc()))
    arr = _rgb(decoded)
    assert (arr[:, :4] == 255).all()  # transparent → white, after colour conversion
    assert arr[0, 7, 1] > 150 and arr[0, 7, 0] < 120
    assert any("converted to sRGB" in w for w in decoded.warnings)


def test_icc_profile_of_palette_image_is_applied() -> None:
    photo = Image.open(sample_dir() / "rocket.jpg").convert("RGB").resize((160, 107))
    pal = photo.quantize(200)
    decoded = decode_image(_encode(pal, "PNG", icc_profile=_adobe_icc()))
    assert decoded.warnings == ["ICC profile 'Adobe RGB (1998)' converted to sRGB"]
    as_rgb = decode_image(_encode(pal.convert("RGB"), "PNG", icc_profile=_adobe_icc()))
    assert (np.asarray(decoded.image) == np.asarray(as_rgb.image)).all()


# ------------------------------------------------------------------------------------- multi-frame


def test_animated_gif_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    decoded = decode_image(data)
    assert decoded.warnings == ["animated/multi-frame image (3 frames): first frame used"]
    assert (_rgb(decoded) == (255, 0, 0)).all()


def test_animated_png_and_webp_first_frame() -> None:
    frames = [np.asarray(_photo(64, 48)), np.asarray(_photo(64, 48))[::-1].copy()]
    images = [Image.fromarray(f) for f in frames]
    for fmt, kwargs in (("PNG", {}), ("WEBP", {"lossless": True})):
        data = _encode(images[0], fmt, save_all=True, append_images=images[1:], **kwargs)
        decoded = decode_image(data)
        assert decoded.warnings == ["animated/multi-frame image (2 frames): first frame used"], fmt
        assert (_rgb(decoded) == frames[0]).all(), fmt


# ---------------------------------------------------------------------------------- bad inputs, probe


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html><body>Not found</body></html>", "not an image: content is HTML/XML text"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not an image: content is HTML/XML text"),
        (b'[{"a": 1}]', "not an image: content looks like JSON text"),
        (b"%PDF-1.7\n", "not an image: content is a PDF document"),
        (b"just some text", "not an image: format not recognised"),
        (b"", "empty file (0 bytes)"),
    ],
)
def test_non_images_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(BadImageError) as info:
        decode_image(data, "item.jpg")
    assert info.value.reason == reason
    assert info.value.item == "item.jpg"
    with pytest.raises(BadImageError):
        probe_image(data)


def test_unsupported_format_rejected() -> None:
    data = _encode(_photo(32, 32), "PPM")
    with pytest.raises(BadImageError, match="unsupported image format PPM"):
        decode_image(data)


def test_truncated_and_corrupt_rejected() -> None:
    jpeg = _encode(_photo(), "JPEG")
    with pytest.raises(BadImageError, match="truncated or corrupt image data"):
        decode_image(jpeg[: len(jpeg) // 2])
    png = _encode(_photo(), "PNG")
    # The header is intact, so probing succeeds; only decoding notices.
    assert probe_image(png[: len(png) // 2]) == ImageHeader("PNG", 300, 200, "RGB")
    with pytest.raises(BadImageError, match="truncated or corrupt image data"):
        decode_image(png[: len(png) // 2])


def _gif_descriptor_offsets(data: bytes) -> list[int]:
    """Offsets of the image descriptors (0x2C) of a GIF, found by walking its block structure."""
    pos, offsets = 13, []
    if data[10] & 0x80:
        pos += 3 * 2 ** ((data[10] & 7) + 1)
    while pos < len(data) and data[pos] != 0x3B:
        if data[pos] == 0x21:  # extension: label, then sub-blocks
            pos += 2
        else:
            offsets.append(pos)
            flags = data[pos + 9]
            pos += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0) + 1  # + LZW code size
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    return offsets


def test_hostile_multi_frame_files_raise_bad_image_error() -> None:
    """Frame counting on these raised IndexError / TypeError, which escaped and aborted ingest."""
    horse = Image.fromarray(skdata.horse().astype(np.uint8) * 255).convert("P")
    gif = _encode(
        horse, "GIF", save_all=True, append_images=[horse.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    )
    # Cut the file right after the image descriptor of frame 2 (before its LZW code size byte).
    second = _gif_descriptor_offsets(gif)[1]
    with pytest.raises(BadImageError, match="truncated or corrupt image data"):
        decode_image(gif[: second + 10])

    coins = Image.fromarray(skdata.coins())
    tiff = bytearray(_encode(coins, "TIFF", save_all=True, append_images=[coins]))
    first = struct.unpack("<I", tiff[4:8])[0]
    n = struct.unpack("<H", tiff[first : first + 2])[0]
    ifd = struct.unpack("<I", tiff[first + 2 + 12 * n : first + 6 + 12 * n])[0]
    for k in range(struct.unpack("<H", tiff[ifd : ifd + 2])[0]):
        pos = ifd + 2 + 12 * k
        if struct.unpack("<H", tiff[pos : pos + 2])[0] == 256:
            tiff[pos : pos + 2] = struct.pack("<H", 65000)
    with pytest.raises(BadImageError, match="truncated or corrupt image data"):
        decode_image(bytes(tiff))


def _bomb_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    chunk = lambda kind, d: struct.pack(">I", len(d)) + kind + d + struct.pack(">I", zlib.crc32(kind + d))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))


def test_decompression_bomb_guard() -> None:
    with pytest.raises(BadImageError, match=r"^.*: decompression bomb"):
        probe_image(_bomb_header(20_000, 20_000))
    small = _bomb_header(3000, 3000)  # 9 Mpx: under the default limit, over a configured one
    assert probe_image(small) == ImageHeader("PNG", 3000, 3000, "1")
    with pytest.raises(BadImageError) as info:
        probe_image(small, "x.png", max_pixels=1_000_000)
    assert (
        info.value.reason == "decompression bomb: 3000×3000 = 9,000,000 pixels exceeds the limit of 1,000,000"
    )
    with pytest.raises(BadImageError, match="exceeds the limit of 1,000,000"):
        decode_image(small, max_pixels=1_000_000)


def test_probe_reads_header_only() -> None:
    data = _encode(Image.fromarray(skdata.camera()), "PNG")
    assert probe_image(data) == ImageHeader("PNG", 512, 512, "L")
    # Destroying the pixel data does not matter to probe (it never decodes).
    assert probe_image(data[:200]) == ImageHeader("PNG", 512, 512, "L")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_read_file_bytes_guards(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "dir.jpg").mkdir()
    os.mkfifo(tmp_path / "fifo.jpg")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    cases = {
        "empty.jpg": "empty file (0 bytes)",
        "dir.jpg": "not a regular file",
        "fifo.jpg": "not a regular file",
        "missing.jpg": "file does not exist",
        "dangling.jpg": f"dangling symlink (points to {str(tmp_path / 'nowhere.jpg')!r})",
    }
    for name, reason in cases.items():
        with pytest.raises(BadImageError) as info:
            read_file_bytes(tmp_path / name)
        assert info.value.reason == reason, name
    good = tmp_path / "good.png"
    good.write_bytes(_encode(_photo()))
    (tmp_path / "link.png").symlink_to(good)
    assert read_file_bytes(tmp_path / "link.png") == good.read_bytes()
    assert load_image(tmp_path / "link.png").image.size == (300, 200)


def test_heic_decodes_when_plugin_available() -> None:
    pytest.importorskip("pillow_heif")
    photo = _photo(128, 96)
    try:
        data = _encode(photo, "HEIF", quality=95)
    except (KeyError, OSError) as exc:  # pragma: no cover - depends on libheif build
        pytest.skip(f"pillow-heif cannot encode HEIC here: {exc}")
    decoded = decode_image(data)
    assert decoded.format == "HEIF" and decoded.image.size == (128, 96)
    assert np.abs(_rgb(decoded).astype(int) - np.asarray(photo)).mean() < 8


# --------------------------------------------------------------------------------- encode and arrays


@pytest.mark.parametrize("fmt", ["png", "webp", "PNG", "WebP"])
def test_encode_image_is_lossless(fmt: str) -> None:
    photo = Image.fromarray(skdata.chelsea()[:200, :300])
    noise = np.random.default_rng(0).integers(0, 256, (50, 300, 3), dtype=np.uint8)
    img = Image.fromarray(np.vstack([np.asarray(photo), noise]))  # photo + incompressible noise
    data = encode_image(img, fmt)
    with Image.open(io.BytesIO(data)) as back:
        assert back.format == fmt.upper()
        assert back.size == img.size
        assert (np.asarray(back.convert("RGB")) == np.asarray(img)).all()
    assert decode_image(data).warnings == []


def test_encode_png_compress_level_changes_size_not_pixels() -> None:
    img = Image.fromarray(skdata.coffee()[:200, :300])
    fast, small = encode_image(img, "png", compress_level=1), encode_image(img, "png", compress_level=9)
    assert len(small) < len(fast)
    assert (np.asarray(Image.open(io.BytesIO(fast))) == np.asarray(Image.open(io.BytesIO(small)))).all()


def test_encode_image_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unsupported output format 'jpeg'"):
        encode_image(_photo(), "jpeg")


def test_array_round_trip() -> None:
    arr = skdata.astronaut()[:20, :30]
    img = from_array(arr)
    assert img.mode == "RGB" and img.size == (30, 20)
    assert (to_array(img) == arr).all()
    assert to_array(Image.new("L", (3, 2), 9)).shape == (2, 3, 3)


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4, 3), np.uint16),
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((4, 4, 1), np.uint8),
        np.zeros((2, 4, 4, 3), np.uint8),
    ],
    ids=["float32", "uint16", "2d", "rgba", "1-channel", "4d"],
)
def test_from_array_rejects_bad_arrays(arr: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected a uint8 H×W×3 array"):
        from_array(arr)


_PEAK_RSS = """
import resource, sys
from ggt_hf.errors import BadImageError
from ggt_hf.imaging.images import read_file_bytes
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_file_bytes(sys.argv[1], max_bytes=int(sys.argv[2]))
    print("read")
except BadImageError as exc:
    print(exc.reason)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def _read_in_child(path: Path, max_bytes: int) -> tuple[str, int]:
    """(what read_file_bytes said, peak RSS growth in MiB) in a fresh interpreter."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(path), str(max_bytes)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return out[0], int(out[1])


def test_huge_sparse_file_refused_before_it_is_read(tmp_path: Path) -> None:
    """Issue 21 point 11: a 3 GB sparse huge.png was read whole (3.3 GB peak) before being refused.
    Here 256 MiB (sparse: no disk used) against a 16 MiB cap: refused from its size, nothing read."""
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as fh:
        fh.write(_encode(_photo(64, 64)))
        fh.truncate(256 * 2**20)
    reason, grown = _read_in_child(huge, 16 * 2**20)
    assert (
        reason
        == f"file too large: {256 * 2**20:,} bytes, over the limit of {16 * 2**20:,} bytes for one image"
    )
    assert grown < 32  # MiB; the old whole-file read grew by the file's size


def test_header_over_the_pixel_limit_refused_before_the_body_is_read(tmp_path: Path) -> None:
    """A PNG whose header declares 20000×20000 pixels, padded (sparsely) to 200 MiB, under the byte
    cap: refused from its header alone."""
    data = bytearray(_encode(_photo(64, 64)))
    ihdr = data.find(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 20_000, 20_000)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path = tmp_path / "wide.png"
    with open(path, "wb") as fh:
        fh.write(bytes(data))
        fh.truncate(200 * 2**20)
    reason, grown = _read_in_child(path, 512 * 2**20)
    assert reason.startswith("decompression bomb: ")
    assert grown < 32


def test_capped_read_of_a_small_file_is_whole(tmp_path: Path) -> None:
    data = _encode(_photo(64, 64))
    (tmp_path / "ok.png").write_bytes(data)
    assert read_file_bytes(tmp_path / "ok.png", max_bytes=len(data)) == data
    with pytest.raises(BadImageError, match=r"^.*ok\.png: file too large: "):
        read_file_bytes(tmp_path / "ok.png", max_bytes=len(data) - 1)


def test_read_bounded_stops_past_the_cap_when_the_size_lies() -> None:
    """A file (or archive member, or /proc-like file) holding more than its stated size is read only
    to the cap + 1 and refused; one that holds what it says is read whole."""
    from ggt_hf.imaging.images import read_bounded

    assert read_bounded(io.BytesIO(b"x" * 10), "f", expected=10, max_bytes=10) == b"x" * 10
    assert (
        read_bounded(io.BytesIO(b"x" * 3_000_000), "f", expected=0, max_bytes=4_000_000) == b"x" * 3_000_000
    )
    stream = io.BytesIO(b"x" * 5_000_000)
    with pytest.raises(BadImageError, match="file too large: 2,000,001 bytes, over the limit of 2,000,000"):
        read_bounded(stream, "f", expected=100, max_bytes=2_000_000)
    assert stream.tell() == 2_000_001  # nothing read past the cap + 1


def test_normalise_image_follows_the_decode_policy_and_leaves_the_callers_image_alone() -> None:
    plain = Image.new("RGB", (4, 3), (10, 20, 30))
    plain.info["dpi"] = (72, 72)
    same, notes = normalise_image(plain)
    assert same is plain and notes == [] and plain.info == {"dpi": (72, 72)}
    rgba = Image.new("RGBA", (4, 3), (0, 0, 0, 0))
    rgba.info["dpi"] = (72, 72)
    out, notes = normalise_image(rgba)
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)
    assert notes == ["alpha channel composited onto white"]
    assert out.info == {} and rgba.info == {"dpi": (72, 72)} and rgba.getpixel((0, 0)) == (0, 0, 0, 0)
    rotated = Image.new("RGB", (4, 3), (10, 20, 30))
    rotated.putpixel((0, 0), (200, 0, 0))
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.info["exif"] = exif.tobytes()
    out, notes = normalise_image(rotated)
    assert out.size == (3, 4) and notes == ["EXIF orientation applied"]
    assert out.info == {}  # nothing left for an encoder to apply a second time
    assert rotated.size == (4, 3) and "exif" in rotated.info
