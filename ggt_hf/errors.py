"""Typed exceptions, one per failure family.

Every error carries the ``item`` it is about (a path, an id, a row) and a human-readable
``reason``. Per-item failures are recorded and the run goes on; only programming errors abort.
"""

from __future__ import annotations

import os
import re

# How an item is named in a message (used by every error below and by reports).


def path_text(path: str | os.PathLike) -> str:
    """``str(path)`` safe to print and to write as UTF-8 (JSON, parquet, CSV, reports).

    On POSIX a file name may hold bytes that are not UTF-8 (e.g. Latin-1 ``café.jpg``); Python keeps
    them as lone surrogates, which cannot be encoded. Those bytes are written as ``\\xNN`` escapes
    instead (stable across runs), so the item is named readably and nothing crashes writing it.
    """
    text = os.fspath(path) if not isinstance(path, str) else path
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


#: Characters that would break a line of a report or of the console: C0 controls (newline, tab,
#: carriage return, escape...), DEL, C1 controls and the Unicode line/paragraph separators.
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: object) -> str:
    """``text`` (a path, an item, a message) safe to show as ONE line of the console or of a
    ``item<TAB>reason`` report: :func:`path_text` (non-UTF-8 bytes as ``\\xNN``), then control
    characters escaped (``\\n``, ``\\t``, ``\\r``, ``\\x1b``, ``\\u2028``...), so a file named
    ``evil<LF>ok<TAB>fake.png`` is shown as ``evil\\nok\\tfake.png`` and cannot forge a line.

    For what is shown only: JSON/JSONL keep the exact name (their encoding escapes it already).
    Idempotent (the escapes hold no control character)."""
    text = text if isinstance(text, str | bytes | os.PathLike) else str(text)
    return _CONTROL_CHARS.sub(_escape_control, path_text(text))


class GGTError(Exception):
    """Base class of every ggt-hf error about an item."""

    def __init__(self, item: object, reason: str) -> None:
        self.item = path_text(str(item))  # a non-UTF-8 file name is named with its bytes escaped
        self.reason = reason
        # shown with control characters escaped: a name holding a newline cannot forge a line
        super().__init__(f"{printable(self.item)}: {reason}")


class BadImageError(GGTError):
    """A file that cannot be used as an image (corrupt, not an image, too small, a bomb, ...)."""


class UnsafePathError(GGTError):
    """A folder entry refused while walking: a symlink loop or one leaving the folder, a name that is
    not UTF-8, an unreadable folder, a non-regular file (see :mod:`ggt_hf.files.walk`).

    ``path`` keeps the entry as found (``item`` is its printable name)."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path


class DuplicateError(GGTError):
    """An item that duplicates (exactly or perceptually) one already accepted."""


class PairingError(GGTError):
    """An LQ/HQ pair that cannot be formed (missing partner, size mismatch, duplicate id)."""


class LeakageError(GGTError):
    """A test item that also appears (exactly or perceptually) in the train split."""


class DatasetValidationError(GGTError):
    """A packed dataset folder that does not match the GGT schema or its card."""


class UsageError(GGTError):
    """A command-line argument or config value that cannot work; raised before any work is done."""


class ModelConfigError(UsageError):
    """A model config (``config.json``, overrides) with a field or a total size out of its bounds;
    raised before anything is allocated."""


class BadWeightsError(UsageError):
    """A weights file that cannot be what it claims: a safetensors header that is malformed, declares
    more data than the file holds, or tensors that do not match the model (names the tensor and shape)."""


class CheckpointError(UsageError):
    """A training checkpoint that cannot be resumed safely: a state file missing, unreadable, or
    holding more than tensors and plain data (a pickle that could run code is never executed)."""


class UnknownNameError(UsageError, KeyError):
    """A name (metric, restorer, category, ...) that is not in its registry; the reason lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return f"{printable(self.item)}: {self.reason}"


class NetworkUnavailableError(GGTError):
    """A remote service (the Hub, an API) that the command needs cannot be reached."""


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package!r} is not installed; install it with: pip install 'ggt-hf[{extra}]'")
