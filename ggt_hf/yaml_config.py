"""YAML files and ``key=value`` overrides into (nested) dataclasses — for build configs and
training recipes alike.

Nested dataclasses, ``list[Dataclass]``, ``tuple`` and ``Optional`` fields are resolved from the
type hints, unknown keys are refused with their dotted path, so a typo in a recipe fails at once
instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``key=value`` strings (dotted keys for nested fields; values parsed as YAML) in place."""
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value")
        target = data
        *parents, leaf = key.strip().lstrip("-").split(".")
        for part in parents:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a mapping")
            target = nxt
        target[leaf] = yaml.safe_load(value)
    return data


#: Top-level key naming a file (relative to this one) whose mapping this file extends.
EXTENDS = "extends"


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: mappings merge key by key, anything else (lists included) replaces."""
    out = dict(base)
    for key, value in top.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def load_yaml(
    path: str | Path, overrides: list[str] | None = None, _seen: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """A YAML mapping from ``path`` with ``overrides`` applied.

    ``extends: other.yaml`` (relative to ``path``'s folder) starts from that file's mapping and
    merges this file's keys over it, so a variant states only what differs (e.g. a recipe's
    baseline-only ``w/o`` variant changes ``data`` and nothing else).
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    parent = data.pop(EXTENDS, None)
    if parent is not None:
        target = (path.parent / str(parent)).resolve()
        if target in _seen or target == path.resolve():
            raise ValueError(f"{path}: `{EXTENDS}: {parent}` makes a cycle")
        if not target.is_file():
            raise ValueError(f"{path}: `{EXTENDS}: {parent}` names no file ({target})")
        data = _merge(load_yaml(target, None, (*_seen, path.resolve())), data)
    return apply_overrides(data, overrides)


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _convert(tp: Any, value: Any, where: str) -> Any:
    tp = _strip_optional(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    if origin is list and isinstance(value, (list, tuple)):
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a plain mapping, recursively; unknown keys raise ``ValueError``."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    return cls(**{k: _convert(hints.get(k, Any), v, f"{where}.{k}") for k, v in data.items()})


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain, YAML/JSON-friendly dict (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(obj))
