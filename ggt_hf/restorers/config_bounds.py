"""Bounds on a restorer's configuration, checked before any tensor is allocated.

A ``config.json`` is a few hundred bytes that decide gigabytes: ``{"model_type": "nafnet",
"width": 200000}`` asks for a 320 GB convolution. Every numeric field of every architecture's
config class is declared with its :class:`Bound` in the class's ``BOUNDS`` table (the one place;
``tests/restorers/test_config_bounds.py`` checks that no numeric field is left out), and the whole
model, built on PyTorch's ``meta`` device (shapes only, no memory), must hold at most
:data:`MAX_MODEL_ELEMENTS` parameters and buffers. :func:`check_restorer_config` does both and
returns the meta model, whose shapes the weights file is then checked against
(:mod:`ggt_hf.restorers.weights_file`).

Bounds are generous (several times the largest official variant); a refusal is a
:class:`~ggt_hf.errors.ModelConfigError` naming the field, the value and the bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any

from ggt_hf.errors import ModelConfigError

if TYPE_CHECKING:
    from torch import nn

#: Parameters + buffers of any registry restorer (≈4 GB in float32; the largest default, DA-CLIP,
#: has 295 M).
MAX_MODEL_ELEMENTS = 1_000_000_000

#: Entries of any list field (levels, stages, ...).
MAX_LIST_LENGTH = 16


@dataclass(frozen=True)
class Bound:
    """Allowed values of one numeric config field (each entry, for a list field).

    ``integer``: the value must be an ``int`` (not a bool); ``max_len``: the field is a list of at
    most this many entries (at least ``min_len``); ``optional``: ``None`` is allowed too.
    """

    low: float
    high: float
    integer: bool = True
    max_len: int | None = None
    min_len: int = 1
    optional: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        span = f"{kind} in [{self.low:g}, {self.high:g}]"
        if self.max_len is not None:
            return f"a list of {self.min_len} to {self.max_len} entries, each {span}"
        return span + (" or null" if self.optional else "")


def count(high: int, low: int = 1, max_len: int | None = None) -> Bound:
    """An integer bound (a list of them when ``max_len`` is given)."""
    return Bound(low, high, max_len=max_len)


def ratio(high: float, low: float = 0.0, max_len: int | None = None, optional: bool = False) -> Bound:
    """A real-number bound (a list of them when ``max_len`` is given)."""
    return Bound(low, high, integer=False, max_len=max_len, optional=optional)


#: Fields every config may have that are not sizes but still numbers.
SEED = count(2**63 - 1, low=0)

#: The fields the Restormer family (Restormer, PromptIR, X-Restormer, MoCE-IR) shares.
RESTORMER_FAMILY: dict[str, Bound] = {
    "inp_channels": count(64),
    "out_channels": count(64),
    "dim": count(1024),
    "num_blocks": count(64, low=0, max_len=8),
    "num_refinement_blocks": count(64, low=0),
    "ffn_expansion_factor": ratio(16.0),
}


def _entry_ok(value: Any, bound: Bound) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if bound.integer and not (isinstance(value, int) or float(value).is_integer()):
        return False
    return math.isfinite(value) and bound.low <= value <= bound.high


def check_field(name: str, value: Any, bound: Bound, source: object) -> None:
    """Raise :class:`ModelConfigError` unless ``value`` is within ``bound``."""
    if value is None and bound.optional:
        return
    if bound.max_len is not None:
        ok = isinstance(value, list | tuple) and bound.min_len <= len(value) <= bound.max_len
        ok = ok and all(_entry_ok(v, bound) for v in value)
    else:
        ok = _entry_ok(value, bound)
    if not ok:
        raise ModelConfigError(
            source, f"config field {name}={_shown(value)} is out of bounds: {bound.describe()}"
        )


def _shown(value: Any) -> str:
    """``value`` as quoted in an error: numbers (or lists of them) only, never foreign text."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) or v is None

    if not (number(value) or (isinstance(value, list | tuple) and all(number(v) for v in value))):
        return f"<a {type(value).__name__}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def config_values(config_class: type, config: Any) -> dict[str, Any]:
    """Field name → value of ``config`` (a dataclass instance or a ``config.json`` dict; fields it
    does not give take the class defaults, unknown keys are ignored as the restorer does)."""
    given = config if isinstance(config, Mapping) else vars(config) if config is not None else {}
    out = {}
    for f in fields(config_class):
        if f.name in given:
            out[f.name] = given[f.name]
        elif f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


def check_fields(config_class: type, config: Any, source: object) -> dict[str, Any]:
    """Check every bounded field of ``config``; the values (defaults filled in) when all pass."""
    values = config_values(config_class, config)
    for name, bound in getattr(config_class, "BOUNDS", {}).items():
        check_field(name, values.get(name), bound, source)
    return values


def model_elements(model: nn.Module) -> int:
    """Parameters plus buffers of ``model`` (exact, also for a model on the ``meta`` device)."""
    return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())


def check_restorer_config(cls: type, config: Any, source: object) -> nn.Module:
    """Refuse a config of restorer class ``cls`` whose fields or total size are out of bounds.

    Fields are checked first (cheap), then the model is built on the ``meta`` device, which
    allocates no memory, and its parameters and buffers are counted. Returns that meta model (its
    ``state_dict`` shapes are what a weights file must hold). Raises
    :class:`~ggt_hf.errors.ModelConfigError` naming the field (or the total), value and bound.
    """
    import torch

    values = check_fields(cls.config_class, config, source)
    config_obj = cls.config_class(**values)
    try:
        with torch.device("meta"):
            model = cls(config=config_obj)
    except (ValueError, TypeError, AssertionError, ZeroDivisionError, RuntimeError, IndexError) as exc:
        raise ModelConfigError(source, f"this {cls.__name__} config cannot be built: {exc}") from None
    total = model_elements(model)
    if total > MAX_MODEL_ELEMENTS:
        raise ModelConfigError(
            source,
            f"this {cls.__name__} config has {total:,} parameters and buffers, "
            f"over the {MAX_MODEL_ELEMENTS:,} limit",
        )
    return model
