"""Crash-safe file helpers: atomic writes, append-only JSONL logs, content hashes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Mode of files written here: what ``open()`` would give (0o666 minus the umask), not mkstemp's 0o600.
FILE_MODE = 0o666 & ~_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def repair_jsonl_tail(path: str | os.PathLike) -> None:
    """Make a JSONL log end on a line boundary again after a crash in the middle of an append.

    :func:`read_jsonl` skips a torn last line, but an append would be glued onto it, losing that
    record and leaving a corrupt line in the middle of the file. A torn fragment is cut off; a
    complete last record missing only its newline gets the newline.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        json.loads(data[start:])
        complete = True
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nested too deep
        complete = False
    with open(path, "r+b") as fh:
        if complete:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        else:
            logger.warning(
                "%s: dropping a torn last line (%d bytes) left by an interrupted write",
                path,
                len(data) - start,
            )
            fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync, so a crash never loses an acknowledged record.

    A line is written with a single ``write`` call; a torn last line left by an earlier crash is
    repaired first (:func:`repair_jsonl_tail`), and :func:`read_jsonl` ignores one when reading.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not _ends_with_newline(path):
        repair_jsonl_tail(path)
    line = json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(
    path: str | os.PathLike, on_corrupt: Callable[[str], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSONL file, one line at a time; a missing file yields nothing.

    A torn final line (a crash mid-write) is skipped; a corrupt line elsewhere raises ``ValueError``
    naming the file and line number, or, when ``on_corrupt`` is given, is passed over after
    ``on_corrupt`` is called with that message (for stores where one bad line must not hide the
    rest). Lines end at ``\n`` only (JSON text may hold U+2028 and the like).
    """
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as fh:  # binary lines end at b"\n" only; each is decoded on its own
        previous: tuple[int, bytes] | None = None
        for number, line in enumerate(fh, start=1):
            if previous is not None:
                yield from _jsonl_line(path, *previous, final=False, on_corrupt=on_corrupt)
            previous = (number, line)
    if previous is not None:
        yield from _jsonl_line(path, *previous, final=True, on_corrupt=on_corrupt)


def _jsonl_line(
    path: Path, number: int, line: bytes, final: bool, on_corrupt: Callable[[str], None] | None
) -> Iterator[dict[str, Any]]:
    if not line.strip():
        return
    try:
        record = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nested too deep
        if final:
            return
        reason = (
            exc.msg
            if isinstance(exc, json.JSONDecodeError)
            else "not UTF-8"
            if isinstance(exc, UnicodeDecodeError)
            else "nested too deep"
        )
        message = f"{path}:{number}: corrupt JSON line ({reason})"
        if on_corrupt is None:
            raise ValueError(message) from exc
        on_corrupt(message)
        return
    yield record


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
