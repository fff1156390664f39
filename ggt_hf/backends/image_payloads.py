"""Images sent to and received from hosted models: PNG request bytes, and output bytes decoded
through :func:`ggt_hf.imaging.images.decode_image` with an undecodable payload reported as
:class:`BadOutputError` naming the item."""

from __future__ import annotations

import io

from PIL import Image

from ggt_hf.backends.base import BadOutputError
from ggt_hf.errors import BadImageError
from ggt_hf.imaging.images import decode_image, encode_image


def png_bytes(image: Image.Image, max_side: int | None = None) -> bytes:
    """``image`` as RGB PNG bytes, optionally downscaled so its longer side is ≤ ``max_side``."""
    img = image if image.mode == "RGB" else image.convert("RGB")
    if max_side and max(img.size) > max_side:
        scale = max_side / max(img.size)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
    return encode_image(img, "png", compress_level=1)


def decode_output(data: bytes | None, item: object, source: str) -> Image.Image:
    """Decode a backend's output bytes; empty or undecodable data is a :class:`BadOutputError`."""
    if not data:
        raise BadOutputError(item, f"{source} returned an empty image payload")
    try:
        return decode_image(bytes(data), item).image
    except BadImageError as exc:
        raise BadOutputError(item, f"{source} returned an unusable image: {exc.reason}") from None


def pil_source_bytes(img: Image.Image) -> bytes | None:
    """The encoded bytes a lazily opened PIL image was read from (``Image.open(BytesIO(...))``)."""
    fp = getattr(img, "fp", None)
    if isinstance(fp, io.BytesIO):
        return fp.getvalue()
    return None
