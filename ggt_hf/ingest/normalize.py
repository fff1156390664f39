"""Geometric normalisation of ingested photos to GGT's square size, as a replayable transform.

Policy (configurable through :class:`NormalizePolicy`):

* ``crop`` (default): scale so the **short** side equals ``size`` with a high-quality filter
  (Lanczos), then centre-crop the long side. GGT-100K's 1024² images are made this way.
* ``pad``: scale so the **long** side equals ``size``, then centre the image on a ``pad_color``
  canvas (nothing is cut away).

Both are one :class:`Transform`: resize the source to ``resized_size`` and place it on an
``out_size`` canvas at ``offset`` (negative offsets crop). The transform is recorded with every
ingested image; :meth:`Transform.apply` replays it on another image of the same source size (for
example an MFM output of the original photo), and :meth:`Transform.invert` maps a normalised
image back to the source geometry (only the region that survived the crop can be recovered).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from PIL import Image

from ggt_hf.constants import IMAGE_SIZE

_RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


@dataclass(frozen=True)
class NormalizePolicy:
    """How photos are brought to a square ``size``."""

    size: int = IMAGE_SIZE
    mode: Literal["crop", "pad"] = "crop"
    resample: str = "lanczos"
    pad_color: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.mode not in ("crop", "pad"):
            raise ValueError(f"normalise mode must be 'crop' or 'pad', got {self.mode!r}")
        if self.resample not in _RESAMPLE:
            raise ValueError(f"resample must be one of {sorted(_RESAMPLE)}, got {self.resample!r}")
        if self.size < 8:
            raise ValueError(f"size must be at least 8, got {self.size}")

    def plan(self, src_size: tuple[int, int]) -> Transform:
        """The transform this policy applies to an image of ``src_size`` (width, height)."""
        w, h = src_size
        ref = min(w, h) if self.mode == "crop" else max(w, h)
        scale = self.size / ref
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        offset = ((self.size - rw) // 2, (self.size - rh) // 2)
        return Transform(
            src_size=(w, h),
            resized_size=(rw, rh),
            offset=offset,
            out_size=(self.size, self.size),
            resample=self.resample,
            pad_color=self.pad_color,
        )


@dataclass(frozen=True)
class Transform:
    """Resize to ``resized_size`` then place at ``offset`` on an ``out_size`` canvas."""

    src_size: tuple[int, int]
    resized_size: tuple[int, int]
    offset: tuple[int, int]
    out_size: tuple[int, int]
    resample: str = "lanczos"
    pad_color: tuple[int, int, int] = (0, 0, 0)

    @property
    def scale(self) -> tuple[float, float]:
        """Horizontal and vertical scale factors (resized / source)."""
        return (self.resized_size[0] / self.src_size[0], self.resized_size[1] / self.src_size[1])

    @property
    def crop_box(self) -> tuple[int, int, int, int]:
        """The box of the resized image that lands on the canvas, in resized coordinates."""
        left, top = max(0, -self.offset[0]), max(0, -self.offset[1])
        right = min(self.resized_size[0], self.out_size[0] - self.offset[0])
        bottom = min(self.resized_size[1], self.out_size[1] - self.offset[1])
        return (left, top, right, bottom)

    @property
    def source_box(self) -> tuple[float, float, float, float]:
        """The region of the source image that the output shows, in source pixel coordinates."""
        sx, sy = self.scale
        left, top, right, bottom = self.crop_box
        return (left / sx, top / sy, right / sx, bottom / sy)

    def apply(self, img: Image.Image) -> Image.Image:
        """Replay the transform; ``img`` must have the recorded source size."""
        if img.size != tuple(self.src_size):
            raise ValueError(
                f"transform expects a {self.src_size[0]}×{self.src_size[1]} image, "
                f"got {img.size[0]}×{img.size[1]}"
            )
        resized = (
            img
            if img.size == tuple(self.resized_size)
            else img.resize(tuple(self.resized_size), _RESAMPLE[self.resample])
        )
        if tuple(self.offset) == (0, 0) and tuple(self.resized_size) == tuple(self.out_size):
            return resized
        canvas = Image.new(img.mode, tuple(self.out_size), self._fill(img.mode))
        canvas.paste(resized, tuple(self.offset))
        return canvas

    def _fill(self, mode: str) -> Any:
        """``pad_color`` (RGB) expressed in ``mode`` — ``Image.new`` rejects an RGB triple for e.g. ``L``."""
        if mode == "RGB":
            return tuple(self.pad_color)
        return Image.new("RGB", (1, 1), tuple(self.pad_color)).convert(mode).getpixel((0, 0))

    def invert(self, img: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
        """Map a normalised image back to source geometry.

        Returns the recovered region resized to source resolution and its integer box
        ``(left, top, right, bottom)`` in the source image. Pixels cropped away are not recoverable.
        """
        if img.size != tuple(self.out_size):
            raise ValueError(f"invert expects a {self.out_size} image, got {img.size}")
        left, top, right, bottom = self.crop_box
        visible = img.crop(
            (left + self.offset[0], top + self.offset[1], right + self.offset[0], bottom + self.offset[1])
        )
        box = tuple(round(v) for v in self.source_box)
        size = (max(1, box[2] - box[0]), max(1, box[3] - box[1]))
        return visible.resize(size, _RESAMPLE[self.resample]), box  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (lists instead of tuples) for records and parquet."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transform:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
