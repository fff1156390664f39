"""Seeded, replayable synthetic degradations, one per GGT category.

``general`` is the Real-ESRGAN second-order pipeline (at scale 1, so the LQ keeps the input
size); the other categories are physically motivated models of rain, haze, snow, low light and
old photographs. Only numpy, scipy and Pillow are used.

Every degradation draws *all* of its random choices first (``sample_params``) and then applies
them deterministically (``apply``). Large random fields (noise, streak / flake / dust positions)
are recorded as a sub-seed and regenerated with ``np.random.default_rng(sub_seed)``. The
parameters are therefore a complete, JSON-serialisable recipe::

    out = degrade(image, "haze", seed=7)
    json.dumps(out.params)                       # the exact draws, plus name / category / seed
    assert (replay(image, out.params) == out.image).all()

Bit-exactness holds for the same library versions on the same platform (FFT, libjpeg and libm
results may differ in the last bit across builds).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ggt_hf.constants import CATEGORIES, parse_category
from ggt_hf.degrade.ops import check_image
from ggt_hf.degrade.photometric import LowLightDegradation, OldPhotoDegradation
from ggt_hf.degrade.realesrgan import RealESRGANDegradation
from ggt_hf.degrade.weather import HazeDegradation, RainDegradation, SnowDegradation

__all__ = [
    "DEGRADATIONS",
    "PARAMS_VERSION",
    "Degradation",
    "Degraded",
    "degrade",
    "get_degradation",
    "replay",
]

#: Version of the parameter format / algorithms; bump when the same params would render differently.
PARAMS_VERSION = 1

#: Keys :func:`degrade` adds around the draws of a degradation.
_RESERVED = ("name", "category", "seed", "version", "height", "width")


@runtime_checkable
class Degradation(Protocol):
    """What the registry holds: a named, category-bound ``sample_params`` / ``apply`` pair."""

    name: str
    category: str

    def sample_params(self, rng: np.random.Generator, height: int, width: int) -> dict[str, Any]:
        """Draw every random choice for an image of this size (JSON-serialisable values)."""
        ...

    def apply(self, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Deterministically degrade a ``uint8`` H×W×3 image; returns the same shape and dtype."""
        ...


#: Category → degradation; the single source of truth for which model makes which category.
DEGRADATIONS: Mapping[str, Degradation] = MappingProxyType(
    {
        "general": RealESRGANDegradation(),
        "rain": RainDegradation(),
        "haze": HazeDegradation(),
        "snow": SnowDegradation(),
        "low_light": LowLightDegradation(),
        "old_photo": OldPhotoDegradation(),
    }
)
if tuple(DEGRADATIONS) != CATEGORIES:  # pragma: no cover - guards against drift
    raise RuntimeError("DEGRADATIONS must cover ggt_hf.constants.CATEGORIES, in order")


@dataclass(frozen=True)
class Degraded:
    """Result of :func:`degrade`.

    Attributes:
        image: ``uint8`` RGB H×W×3, same height and width as the input.
        params: JSON-serialisable recipe: the exact draws plus ``name`` (degradation name),
            ``category``, ``seed``, ``version``, ``height`` and ``width``.
    """

    image: np.ndarray
    params: dict[str, Any]


def get_degradation(category: str) -> Degradation:
    """The degradation of a category (aliases such as ``"fog"`` or ``"Low-Light"`` accepted).

    Raises:
        ValueError: if the category is unknown.
    """
    return DEGRADATIONS[parse_category(category)]


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return int(seed)


def _run(deg: Degradation, image: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    try:
        out = deg.apply(image, params)
    except KeyError as exc:
        raise ValueError(f"params for {deg.name!r} lack the key {exc.args[0]!r}") from None
    if out.shape != image.shape or out.dtype != np.uint8:  # pragma: no cover - internal invariant
        raise RuntimeError(f"{deg.name} returned {out.dtype} {out.shape} for {image.shape}")
    return out


def degrade(image: np.ndarray, category: str, seed: int) -> Degraded:
    """Degrade ``image`` with the model of ``category``, all randomness derived from ``seed``.

    Args:
        image: ``uint8`` RGB array of shape H×W×3 (H, W ≥ 16); it is not modified.
        category: one of :data:`ggt_hf.constants.CATEGORIES` or an alias.
        seed: non-negative integer; the same (image, category, seed) gives the same output.

    Returns:
        :class:`Degraded` with the LQ image (same size as ``image``) and its parameters, which
        :func:`replay` turns back into the same image without any random number generator.

    Raises:
        ValueError: for a non-uint8 / non-H×W×3 / too small image, an unknown category or a
            negative / non-integer seed.
    """
    check_image(image)
    deg = get_degradation(category)
    seed = _check_seed(seed)
    h, w = image.shape[:2]
    drawn = deg.sample_params(np.random.default_rng(seed), h, w)
    clash = set(drawn) & set(_RESERVED)
    if clash:  # pragma: no cover - internal invariant
        raise RuntimeError(f"{deg.name} uses reserved parameter names {sorted(clash)}")
    header = {
        "name": deg.name,
        "category": deg.category,
        "seed": seed,
        "version": PARAMS_VERSION,
        "height": h,
        "width": w,
    }
    # canonical JSON form: what replay() will see after a save / load round trip
    params = json.loads(json.dumps({**header, **drawn}, allow_nan=False))
    return Degraded(image=_run(deg, image, params), params=params)


def replay(image: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """Re-create :func:`degrade`'s output bit-exactly from ``params`` alone (no RNG draws).

    Args:
        image: the same ``uint8`` H×W×3 image that was passed to :func:`degrade`.
        params: :attr:`Degraded.params`, possibly after a JSON round trip.

    Raises:
        ValueError: for a bad image, params that are not a degrade() recipe, an unknown
            degradation / version, or an image whose size differs from the recorded one.
    """
    check_image(image)
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a mapping, got {type(params).__name__}")
    missing = [k for k in _RESERVED if k not in params]
    if missing:
        raise ValueError(f"params are not a degrade() recipe: missing {', '.join(missing)}")
    deg = get_degradation(params["category"])
    if params["name"] != deg.name:
        raise ValueError(f"params name {params['name']!r} does not match {deg.name!r} of {deg.category!r}")
    if params["version"] != PARAMS_VERSION:
        raise ValueError(f"params version {params['version']!r} != supported {PARAMS_VERSION}")
    if (params["height"], params["width"]) != image.shape[:2]:
        raise ValueError(
            f"image is {image.shape[0]}x{image.shape[1]} but params were drawn for "
            f"{params['height']}x{params['width']}"
        )
    return _run(deg, image, dict(params))
