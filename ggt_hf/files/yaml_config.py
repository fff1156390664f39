"""YAML files and ``key=value`` overrides into (nested) dataclasses — for build configs and
training recipes alike.

Nested dataclasses, ``list[Dataclass]``, ``dict``, ``tuple``, ``Literal`` and ``Optional`` fields
are resolved from the type hints, and every value is checked against its hint when the file is
loaded: unknown keys, ``human_review: 'false'`` (a quoted string for a bool), ``workers: two``,
``sources: my_photos/`` (a text for a list) or an empty value for a required field are refused with
the dotted key, the value and what is expected, before any work starts.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ggt_hf.errors import UsageError

T = TypeVar("T")

#: Nodes a YAML document may hold once every alias is expanded. Configs have hundreds; a
#: "billion laughs" (aliases of aliases) expands to 10^9 and would hang whatever walks the result.
MAX_YAML_NODES = 100_000

#: Characters of scalar text (keys and values) a YAML document may hold once every alias is expanded.
#: Nodes alone do not bound it: one 1 MiB string anchored and reused 300 times is 300 nodes but
#: 300 MiB of text, which the build then records, redacts and writes. Configs, recipes and cards
#: hold kilobytes; 16 MiB leaves room for any real one and keeps what is written bounded.
MAX_YAML_CHARS = 16 * 1024 * 1024


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a document expanding (through aliases) to more than
    :data:`MAX_YAML_NODES` nodes or :data:`MAX_YAML_CHARS` characters of scalar text, or an alias
    that contains itself; checked on the composed node graph, before any Python object is built."""

    source = "<yaml>"

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        expanded_size(node, self.source)
        return node


# YAML 1.1 (PyYAML) reads `2e-4` and `1.0e5` as text: its floats need a dot and a signed exponent.
# Learning rates are written that way in every paper and recipe, so read exponent floats as YAML 1.2
# (and JSON) do. Appended after the 1.1 resolvers, it only changes what was text before.
BoundedSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def expanded_size(
    root: yaml.Node, source: object = "<yaml>", limit: int | None = None, char_limit: int | None = None
) -> int:
    """Nodes of ``root`` with every alias expanded (shared nodes counted once per use, computed once
    each); :class:`~ggt_hf.errors.UsageError` naming ``source`` beyond ``limit`` nodes (default
    :data:`MAX_YAML_NODES`), beyond ``char_limit`` characters of expanded scalar text (default
    :data:`MAX_YAML_CHARS`), or on a cycle."""
    limit = MAX_YAML_NODES if limit is None else limit
    char_limit = MAX_YAML_CHARS if char_limit is None else char_limit
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, scalar characters), expanded
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(id(node))
            own_chars = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
            nodes = 1 + sum(sizes[id(c)][0] for c in children)
            chars = own_chars + sum(sizes[id(c)][1] for c in children)
            sizes[id(node)] = (nodes, chars)
            if nodes > limit:
                raise UsageError(
                    source,
                    f"YAML aliases expand to more than {limit:,} nodes (a 'billion laughs' document?): refused",
                )
            if chars > char_limit:
                raise UsageError(
                    source,
                    f"YAML text expands (through aliases) to more than {char_limit:,} characters "
                    f"({chars:,} so far; a text anchored and repeated with *aliases?): refused",
                )
            continue
        if id(node) in open_nodes:
            raise UsageError(source, "a YAML alias refers to a node that contains it: refused")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)][0]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def safe_load(text: str | bytes, source: object = "<yaml>") -> Any:
    """``yaml.safe_load`` with aliases bounded (:class:`BoundedSafeLoader`); the one YAML reader of
    ggt-hf. Refusals and nesting too deep to parse are :class:`~ggt_hf.errors.UsageError` naming
    ``source``."""
    loader = BoundedSafeLoader(text)
    loader.source = str(source)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise UsageError(source, "YAML nested too deeply to read: refused") from None
    finally:
        loader.dispose()


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
        target[leaf] = safe_load(value, f"override {key}")
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
    data = safe_load(path.read_text(), path) or {}
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


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """``(type without None, whether None is allowed)``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) == 1:
            return args[0], optional
        return typing.Union[tuple(args)], optional  # noqa: UP007 - built from a tuple
    return tp, tp is Any


def _shown(value: Any) -> str:
    if isinstance(value, str):
        try:  # a quoted "3" would have been a number unquoted; text that is no YAML at all was not
            quoted = value.strip() and not isinstance(safe_load(value), str)
        except yaml.YAMLError:
            quoted = False
        return f"the string {value!r}" + (" (remove the quotes)" if quoted else "")
    return f"{value!r} ({type(value).__name__})"


def _bad(where: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"{where}: expected {expected}, got {_shown(value)}")


_SCALARS: dict[type, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a text"}


def _scalar(tp: type, value: Any, where: str) -> Any:
    """Check a ``bool``/``int``/``float``/``str``/``Path`` value; ints are accepted as floats."""
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:  # str / Path: any scalar that reads as text, not a list or mapping
        ok = isinstance(value, str | int | float | Path) and not isinstance(value, bool)
        value = (tp(value) if tp is Path else str(value)) if ok else value
    if not ok:
        raise _bad(where, value, _SCALARS.get(tp, "a path"))
    return value


def _convert(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked against type hint ``tp`` (recursively); ``ValueError`` naming ``where``."""
    tp, optional = _strip_optional(tp)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{where}: is empty; expected {_describe(tp)}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp in (bool, int, float, str, Path):
        return _scalar(tp, value, where)
    if origin is typing.Literal:
        if value not in args:
            raise _bad(where, value, "one of " + ", ".join(map(repr, args)))
        return value
    if origin is list:
        if not isinstance(value, list | tuple):
            raise _bad(where, value, "a list (YAML `- item` lines)")
        item_tp = args[0] if args else Any
        return [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _bad(where, value, "a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise _bad(where, value, f"a list of {len(args)} values")
        return tuple(
            _convert(a, v, f"{where}[{i}]")
            for i, (a, v) in enumerate(zip(args or [Any] * len(value), value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise _bad(where, value, "a mapping (key: value)")
        value_tp = args[1] if len(args) == 2 else Any
        return {k: _convert(value_tp, v, f"{where}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _convert(option, value, where)
            except ValueError:
                continue
        raise _bad(where, value, " or ".join(_describe(a) for a in args))
    return value


def _describe(tp: Any) -> str:
    if tp in _SCALARS:
        return _SCALARS[tp]
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _check_field_value(f: dataclasses.Field, value: Any, where: str) -> None:
    """Value rules: a ``minimum`` / ``maximum`` in the field's metadata (a value outside is refused
    with the valid range, never clamped), and no empty text where the default is a non-empty text
    (an empty ``output`` would write into the working directory)."""
    low, high = f.metadata.get("minimum"), f.metadata.get("maximum")
    if isinstance(value, int | float) and (
        (low is not None and value < low) or (high is not None and value > high)
    ):
        if high is None:
            expected = f"at least {low}"
        else:
            expected = f"at most {high}" if low is None else f"between {low} and {high}"
        raise ValueError(f"{where}: expected {expected}, got {value!r}")
    if isinstance(value, str) and not value.strip() and isinstance(f.default, str) and f.default.strip():
        raise ValueError(f"{where}: is empty; expected a text like {f.default!r}")


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a plain mapping, recursively, checking every value against the
    field's type hint (and ``minimum`` / ``maximum`` metadata); unknown keys and wrong types raise ``ValueError``
    naming the dotted key, the value and what is expected."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise _bad(where, data, "a mapping (key: value)")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(fields)}"
        )
    values = {}
    for key, value in data.items():
        values[key] = _convert(hints.get(key, Any), value, f"{where}.{key}")
        _check_field_value(fields[key], values[key], f"{where}.{key}")
    return cls(**values)


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain, YAML/JSON-friendly dict (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(obj))
