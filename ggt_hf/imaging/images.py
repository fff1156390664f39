"""Safe image decoding, colour normalisation and encoding: the one place pixels enter ggt-hf.

Decoding policy (applied by :func:`decode_image`, every step recorded as a warning when it
changes something):

* **Formats**: JPEG (incl. MPO), PNG, WebP, TIFF, BMP, GIF; HEIC/HEIF/AVIF when a Pillow plugin
  (``pillow-heif``, the ``heif`` extra) is installed. Anything else is rejected.
* **Guards**: empty files, dangling symlinks, unreadable files, non-images (e.g. HTML saved as
  ``.jpg``), truncated or corrupt data and decompression bombs (more than ``max_pixels`` pixels)
  raise :class:`~ggt_hf.errors.BadImageError` with the reason. Files are read by
  :func:`read_file_bytes`, which checks the size (``MAX_IMAGE_BYTES``) and the header's
  dimensions before reading, and never reads more than the cap.
* **Animated** images (GIF, APNG, WebP, MPO) keep their first frame, with a warning.
* **EXIF orientation** is applied, so pixels are stored upright.
* **ICC profiles** are converted to sRGB (perceptual intent); an unreadable profile is ignored with
  a warning and the pixels are taken as sRGB.
* **Modes**: 16-bit and 32-bit integer greyscale are scaled to 8 bits (``v * 255 / 65535``), float
  images are taken as [0, 1] when their maximum is ≤ 1 else as [0, 255]; palette, greyscale, CMYK
  and YCbCr become RGB; an alpha channel (RGBA, LA, palette transparency) is composited onto white.

The output is always an 8-bit RGB :class:`PIL.Image.Image` fully loaded in memory.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from ggt_hf.constants import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from ggt_hf.errors import BadImageError

try:  # HEIC/AVIF support is optional (the ``heif`` extra).
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - depends on the environment
    pass

ImageFile.LOAD_TRUNCATED_IMAGES = False

#: Pillow format names ggt-hf accepts.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF"})
#: Formats stored as-is in packed shards (the Hub viewer and ``datasets`` decode them everywhere).
PASSTHROUGH_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
#: Modes whose ``transparency`` info (a PNG/GIF tRNS colour or palette alpha) Pillow turns into alpha.
_KEYED_TRANSPARENCY_MODES = frozenset({"P", "1", "L", "RGB"})
#: What Pillow's plugins raise on corrupt or hostile data (beyond OSError/SyntaxError), seen when
#: fuzzing: e.g. ``IndexError`` counting the frames of a truncated GIF, ``TypeError`` ("Missing
#: dimensions") from a TIFF with a damaged IFD. Any of them means "this file is not usable".
_DECODE_ERRORS = (
    *(OSError, SyntaxError, ValueError, EOFError),
    *(IndexError, TypeError, KeyError, struct.error, ZeroDivisionError),
)
_SRGB = ImageCms.createProfile("sRGB")
_WHITE = (255, 255, 255)


@dataclass
class DecodedImage:
    """An image decoded by :func:`decode_image`, with what was done to it."""

    image: Image.Image
    format: str
    stored_size: tuple[int, int]
    stored_mode: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImageHeader:
    """Format, size and mode read from a file header without decoding pixels."""

    format: str
    width: int
    height: int
    mode: str


def too_large(item: object, size: int, max_bytes: int) -> BadImageError:
    """The error for a file or archive member over ``max_bytes``."""
    return BadImageError(
        item, f"file too large: {size:,} bytes, over the limit of {max_bytes:,} bytes for one image"
    )


def _open_checked(path: Path) -> io.BufferedReader:
    """``open(path, "rb")`` of a regular file, failures turned into :class:`BadImageError`."""
    if path.is_symlink() and not path.exists():
        raise BadImageError(path, f"dangling symlink (points to {os.readlink(path)!r})")
    if not path.exists():
        raise BadImageError(path, "file does not exist")
    if not path.is_file():
        raise BadImageError(path, "not a regular file")
    try:
        return open(path, "rb")
    except PermissionError:
        raise BadImageError(path, "unreadable: permission denied") from None
    except OSError as exc:
        raise BadImageError(path, f"unreadable: {exc.strerror or exc}") from None


def read_bounded(fh: IO[bytes], item: object, expected: int, max_bytes: int) -> bytes:
    """Everything left in ``fh``, at most ``max_bytes``: ``expected`` (its stated size) + 1 bytes in
    one read, then on in 1 MiB blocks only if there is more (a file that grows, a size that lies),
    stopping past ``max_bytes``. Never asks for more than that at once (a ``read(n)`` allocates ``n``).

    Raises:
        BadImageError: more than ``max_bytes``; a read failure.
    """
    try:
        chunks = [fh.read(min(expected, max_bytes) + 1)]
        total = len(chunks[0])
        while (
            total > expected
            and total <= max_bytes
            and (block := fh.read(min(1 << 20, max_bytes + 1 - total)))
        ):
            chunks.append(block)
            total += len(block)
    except OSError as exc:
        raise BadImageError(item, f"unreadable: {exc.strerror or exc}") from None
    if total > max_bytes:
        raise too_large(item, total, max_bytes)
    return b"".join(chunks) if len(chunks) > 1 else chunks[0]


def _read_at_most(fh: io.BufferedReader, path: Path, max_bytes: int) -> bytes:
    """The whole file, refused when over ``max_bytes`` (from its size first, then while reading)."""
    size = os.fstat(fh.fileno()).st_size
    if size > max_bytes:
        raise too_large(path, size, max_bytes)
    data = read_bounded(fh, path, size, max_bytes)
    if not data:
        raise BadImageError(path, "empty file (0 bytes)")
    return data


def read_capped(path: str | os.PathLike, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """Read a file of at most ``max_bytes`` (no header check: for files already checked once)."""
    path = Path(path)
    with _open_checked(path) as fh:
        return _read_at_most(fh, path, max_bytes)


def read_file_bytes(
    path: str | os.PathLike, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> bytes:
    """Read an image file, turning file-system failures into :class:`BadImageError` with a reason.

    Nothing large is read before it is checked: the file's size against ``max_bytes`` (a 3 GB
    sparse ``huge.png`` is refused from its ``stat``), then its header's dimensions against
    ``max_pixels`` (Pillow reads only the header), then at most ``max_bytes + 1`` bytes.
    """
    path = Path(path)
    with _open_checked(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise too_large(path, size, max_bytes)
        _check_header(fh, path, max_pixels)
        fh.seek(0)
        return _read_at_most(fh, path, max_bytes)


def _check_header(fh: io.BufferedReader, item: object, max_pixels: int) -> None:
    """Refuse a file whose header declares more than ``max_pixels``; anything else wrong with it is
    left to :func:`decode_image`, which names it from the bytes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fh)
    except Image.DecompressionBombError as exc:
        raise BadImageError(item, f"decompression bomb: {exc}") from None
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        return
    _check_dimensions(img, item, max_pixels)


def _describe_non_image(data: bytes) -> str:
    head = data[:64].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<svg")) or head.startswith(b"<"):
        return "not an image: content is HTML/XML text"
    if head.startswith((b"{", b"[")):
        return "not an image: content looks like JSON text"
    if head.startswith(b"%pdf"):
        return "not an image: content is a PDF document"
    return "not an image: format not recognised"


def _open(data: bytes, item: object, max_pixels: int) -> Image.Image:
    """Open (header only) with format and bomb guards."""
    if not data:
        raise BadImageError(item, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise BadImageError(item, f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise BadImageError(item, _describe_non_image(data)) from None
    except _DECODE_ERRORS as exc:
        raise BadImageError(item, f"corrupt image header: {exc}") from None
    if img.format not in SUPPORTED_FORMATS:
        raise BadImageError(item, f"unsupported image format {img.format}")
    _check_dimensions(img, item, max_pixels)
    return img


def _check_dimensions(img: Image.Image, item: object, max_pixels: int) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise BadImageError(item, f"invalid dimensions {width}×{height}")
    if width * height > max_pixels:
        raise BadImageError(
            item,
            f"decompression bomb: {width}×{height} = {width * height:,} pixels exceeds the "
            f"limit of {max_pixels:,}",
        )


def probe_image(data: bytes, item: object = "<bytes>", max_pixels: int = MAX_IMAGE_PIXELS) -> ImageHeader:
    """Read format, size and mode from the header only (cheap; no pixel decoding)."""
    img = _open(data, item, max_pixels)
    return ImageHeader(img.format, img.size[0], img.size[1], img.mode)


def _apply_icc(img: Image.Image, notes: list[str]) -> Image.Image:
    icc = img.info.get("icc_profile")
    if icc and img.mode in {"P", "PA"}:  # the profile describes the palette colours: expand first
        img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")
    if not icc or img.mode not in {"RGB", "RGBA", "CMYK", "L"}:
        return img
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (ImageCms.getProfileDescription(src) or "").strip()
        if description.lower().startswith("srgb"):
            return img
        alpha = img.getchannel("A") if img.mode == "RGBA" else None
        base = img.convert("RGB") if alpha is not None else img
        out = ImageCms.profileToProfile(
            base, src, _SRGB, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        notes.append(f"unreadable ICC profile ignored, pixels taken as sRGB ({exc})")
        return img
    notes.append(f"ICC profile {description or 'unnamed'!r} converted to sRGB")
    if alpha is not None:
        out.putalpha(alpha)
    return out


def _high_bit_to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    arr = np.asarray(img)
    if img.mode == "F":
        arr = arr.astype(np.float64)
        finite = arr[np.isfinite(arr)]
        peak = float(finite.max()) if finite.size else 0.0
        scaled = arr * 255.0 if peak <= 1.0 else arr
        notes.append("32-bit float image scaled to 8 bits")
    else:
        arr = arr.astype(np.float64)
        peak = float(arr.max()) if arr.size else 0.0
        full = 65535.0 if peak <= 65535 else float(np.iinfo(np.int32).max)
        scaled = arr * (255.0 / full)
        notes.append(f"{img.mode} high-bit-depth image scaled to 8 bits")
    out = np.clip(np.rint(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)
    return Image.fromarray(out, mode="L").convert("RGB")


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the documented mode policy; returns an RGB image."""
    if img.mode in _KEYED_TRANSPARENCY_MODES and "transparency" in img.info:
        # A tRNS colour key (greyscale/RGB PNG) or palette alpha: pixels Pillow makes transparent.
        img = img.convert("RGBA")
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":
        return _high_bit_to_rgb(img, notes)
    if img.mode == "P":
        img = img.convert("RGB")
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        if rgba.getchannel("A").getextrema() != (255, 255):
            notes.append("alpha channel composited onto white")
        canvas = Image.new("RGB", rgba.size, _WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if img.mode == "CMYK":
        notes.append("CMYK converted to RGB without a colour profile (approximate)")
    return img.convert("RGB")


def decode_image(
    data: bytes, item: object = "<bytes>", *, max_pixels: int = MAX_IMAGE_PIXELS
) -> DecodedImage:
    """Decode encoded image bytes to an 8-bit RGB image following the module's policy.

    Args:
        data: the encoded file content.
        item: what to name in errors (usually the path).
        max_pixels: decompression-bomb limit on width × height.

    Raises:
        BadImageError: with the reason when the bytes are not a usable image.
    """
    img = _open(data, item, max_pixels)
    notes: list[str] = []
    stored_size, stored_mode, fmt = img.size, img.mode, img.format
    try:
        # Counting frames parses every frame header, so it fails on a damaged later frame.
        frames = getattr(img, "n_frames", 1)
        if frames > 1:
            notes.append(f"animated/multi-frame image ({frames} frames): first frame used")
            img.seek(0)
        img.load()
    except _DECODE_ERRORS as exc:
        raise BadImageError(item, f"truncated or corrupt image data: {exc or type(exc).__name__}") from None
    img = _upright_srgb(img, notes)
    # The pixels are now upright sRGB: drop metadata (ICC, EXIF orientation, transparency) that
    # an encoder would otherwise copy and a viewer would apply a second time.
    img.info = {}
    return DecodedImage(img, fmt, stored_size, stored_mode, notes)


def normalise_image(img: Image.Image) -> tuple[Image.Image, list[str]]:
    """An image already in memory (e.g. a ``datasets`` row) brought to the module's policy, as
    :func:`decode_image` does for bytes: EXIF orientation, ICC to sRGB, modes to 8-bit RGB with
    alpha composited onto white. Returns the image (``img`` itself when nothing changed; the
    caller's image is never modified) and what changed."""
    notes: list[str] = []
    out = _upright_srgb(img, notes)
    if out is not img:
        out.info = {}
    return out, notes


def _upright_srgb(img: Image.Image, notes: list[str]) -> Image.Image:
    """EXIF orientation, then ICC to sRGB, then the mode policy; each change noted."""
    try:
        # exif_transpose copies the image even when there is nothing to do: only call it when
        # the orientation tag asks for a change (saves two full-image copies per decode).
        orientation = img.getexif().get(0x0112, 1)
        if orientation not in (None, 1):
            oriented = ImageOps.exif_transpose(img)
            if oriented.size != img.size or oriented.tobytes() != img.tobytes():
                notes.append("EXIF orientation applied")
            img = oriented
    except _DECODE_ERRORS as exc:
        notes.append(f"unreadable EXIF orientation ignored ({exc})")
    return _to_rgb(_apply_icc(img, notes), notes)


def load_image(path: str | os.PathLike, *, max_pixels: int = MAX_IMAGE_PIXELS) -> DecodedImage:
    """Read (size- and header-checked, :func:`read_file_bytes`) and decode an image file; see
    :func:`decode_image`."""
    return decode_image(read_file_bytes(path, max_pixels=max_pixels), path, max_pixels=max_pixels)


def encode_image(img: Image.Image, fmt: str = "png", *, compress_level: int = 6) -> bytes:
    """Encode losslessly: ``png`` (zlib level ``compress_level``) or ``webp`` (lossless WebP)."""
    buf = io.BytesIO()
    fmt = fmt.lower()
    if fmt == "png":
        img.save(buf, format="PNG", compress_level=compress_level)
    elif fmt == "webp":
        img.save(buf, format="WEBP", lossless=True, quality=100, method=4, exact=True)
    else:
        raise ValueError(f"unsupported output format {fmt!r}; use 'png' or 'webp'")
    return buf.getvalue()


def to_array(img: Image.Image) -> np.ndarray:
    """PIL → ``uint8`` RGB HWC array (the library's in-memory convention)."""
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def from_array(arr: np.ndarray) -> Image.Image:
    """``uint8`` RGB HWC array → PIL image; raises ``ValueError`` for another shape or dtype."""
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a uint8 H×W×3 array, got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr, mode="RGB")
