"""Metadata files read from a folder ggt did not write itself (a downloaded or hand-edited dataset):
``ggt_dataset.json``, the YAML front matter of ``README.md``, other small JSON/YAML files.

Such a file may be anything: megabytes of text, ``[[[[…`` nested 200,000 deep (Python's parsers then
raise ``RecursionError``), YAML aliases that expand without end, or a list where a mapping belongs.
:func:`read_metadata` reads it with a size cap, a nesting cap and the bounded YAML loader, expects a
mapping at the top level, and turns every way it can be wrong into one
:class:`~ggt_hf.errors.DatasetValidationError` naming the file and what is wrong — an input error,
never an internal bug. Only a missing file stays ``FileNotFoundError`` (callers treat "absent" apart).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml

from ggt_hf.errors import DatasetValidationError, GGTError
from ggt_hf.files.yaml_config import safe_load

#: Bytes a metadata file may hold (cards and manifests are kilobytes; a big card with many configs
#: stays far below this).
MAX_METADATA_BYTES = 4 * 1024 * 1024

#: Nesting (mappings and lists inside each other) a metadata file may hold; GGT's own files use < 8.
MAX_METADATA_DEPTH = 64

#: YAML front matter of a card: a first line ``---``, the YAML, then a line ``---``.
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*$", re.S | re.M)

Format = Literal["json", "yaml", "front matter"]


def read_metadata(
    path: str | os.PathLike, fmt: Format | None = None, item: object | None = None
) -> dict[str, Any]:
    """The mapping held by metadata file ``path`` (``fmt`` from its suffix when not given: ``.json``,
    ``.yaml``/``.yml``, ``.md`` for a card's front matter, which is ``{}`` when the card has none).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DatasetValidationError: naming ``item`` (default ``path``): unreadable, larger than
            :data:`MAX_METADATA_BYTES`, not UTF-8, not valid JSON/YAML, nested deeper than
            :data:`MAX_METADATA_DEPTH`, or not a mapping at the top level.
    """
    path = Path(path)
    item = path if item is None else item
    fmt = fmt or _format_of(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_METADATA_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DatasetValidationError(item, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_METADATA_BYTES:
        raise DatasetValidationError(item, f"larger than {MAX_METADATA_BYTES:,} bytes: refused as metadata")
    return parse_metadata(data, fmt, item)


def read_metadata_or_none(path: str | os.PathLike, fmt: Format | None = None) -> dict[str, Any] | None:
    """:func:`read_metadata`, or ``None`` when ``path`` is missing or not usable metadata: for
    ggt's own bookkeeping files, where an unreadable one counts as "not ggt's" rather than an error."""
    try:
        return read_metadata(path, fmt)
    except (OSError, DatasetValidationError):
        return None


def parse_metadata(data: bytes | str, fmt: Format, item: object) -> dict[str, Any]:
    """The mapping held by ``data`` (metadata read from elsewhere, e.g. a parquet file's schema
    metadata), with :func:`read_metadata`'s checks but the size cap; the same errors, naming ``item``."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise DatasetValidationError(item, f"not UTF-8 text (byte {exc.start})") from None
    value = _parse(text, fmt, item)
    depth = nesting_depth(value, MAX_METADATA_DEPTH)
    if depth > MAX_METADATA_DEPTH:
        raise DatasetValidationError(item, f"nested more than {MAX_METADATA_DEPTH} levels deep: refused")
    if value is None and fmt != "json":
        return {}
    if not isinstance(value, dict):
        raise DatasetValidationError(
            item, f"expected a mapping ({_MAPPING[fmt]}) at the top level, got {_kind(value)}"
        )
    return value


_MAPPING = {"json": "a JSON object", "yaml": "key: value", "front matter": "key: value YAML"}


def _format_of(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".md":
        return "front matter"
    return "yaml" if suffix in (".yaml", ".yml") else "json"


def _parse(text: str, fmt: Format, item: object) -> Any:
    if fmt == "front matter":
        match = _FRONT_MATTER.match(text)
        if match is None:
            return None
        text = match.group(1)
    try:
        if fmt == "json":
            return json.loads(text)
        return safe_load(text, item)
    except RecursionError:
        raise DatasetValidationError(item, "nested too deeply to read: refused") from None
    except json.JSONDecodeError as exc:
        raise DatasetValidationError(item, f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except GGTError as exc:  # the YAML loader's refusals (aliases, nesting): same item, same reason
        raise DatasetValidationError(item, exc.reason) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise DatasetValidationError(item, f"does not parse: {_first_line(exc)}") from None
    except yaml.YAMLError as exc:
        raise DatasetValidationError(item, f"YAML does not parse: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in lines[:3]) if lines else type(exc).__name__


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply mappings and lists nest in ``value`` (a scalar is 0), counted without recursion and
    stopping once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _kind(value: Any) -> str:
    names = {list: "a list", str: "a text", int: "a number", float: "a number", bool: "true/false"}
    return "nothing" if value is None else names.get(type(value), type(value).__name__)
