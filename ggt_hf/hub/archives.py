"""Read zip and tar archives of a release member by member, never trusting a member.

A release may ship ``Rain.zip`` or ``Haze.tar``: :class:`Archive` lists their members and reads one
at a time, in memory, from any file object (a local file or an fsspec one, e.g. on the Hub). What a
member cannot do to the run:

* **links** (tar symlinks and hard links, zip entries with the symlink mode) and other non-regular
  members (devices, FIFOs) are listed with a problem and never read or followed;
* a member **name that is not UTF-8** is listed with a problem (it could not be written to a shard);
* a **zip bomb** (a 2 GB member in a 2 MB zip) is refused from its declared size, and a member whose
  data is longer than declared is cut at ``max_bytes + 1`` bytes and refused: nothing over the cap
  is ever held in memory;
* corrupt data (bad CRC, truncated stream) is an error naming the member.

Each of these raises or records :class:`~ggt_hf.errors.BadImageError` for that member only; the rest
of the archive goes on.
"""

from __future__ import annotations

import stat
import tarfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO

from ggt_hf.constants import MAX_IMAGE_BYTES
from ggt_hf.errors import BadImageError
from ggt_hf.files.walk import is_utf8_name
from ggt_hf.imaging.images import read_bounded, too_large

#: What zipfile / tarfile / zlib raise on a damaged archive or member.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, ValueError)


@dataclass(frozen=True)
class Member:
    """One archive member: its name, declared size, and why it cannot be read (``None``: it can)."""

    name: str
    size: int
    problem: str | None = None


def _zip_problem(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symlink member in the archive: refused, never followed"
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return "not a regular file member in the archive"
    return None


def _tar_problem(info: tarfile.TarInfo) -> str | None:
    if info.issym():
        return f"symlink member in the archive (to {info.linkname!r}): refused, never followed"
    if info.islnk():
        return f"hard link member in the archive (to {info.linkname!r}): refused, never followed"
    if not info.isreg():
        return "not a regular file member in the archive"
    return None


class Archive:
    """A zip or tar archive read from ``fo`` (``kind``: ``"zip"`` or ``"tar"``), one member at a time.

    Reads are serialised (the members share one file object), so threads may share an instance.
    """

    def __init__(self, fo: IO[bytes], kind: str, label: str = "<archive>") -> None:
        self.label, self.kind = label, kind
        self._lock = threading.Lock()
        try:
            if kind == "zip":
                self._zip = zipfile.ZipFile(fo)
                self._infos: dict[str, zipfile.ZipInfo | tarfile.TarInfo] = {
                    i.filename: i for i in self._zip.infolist()
                }
            else:
                self._tar = tarfile.open(fileobj=fo, mode="r:*")  # noqa: SIM115 - lives with self
                self._infos = {i.name: i for i in self._tar.getmembers()}
        except _ARCHIVE_ERRORS as exc:
            raise BadImageError(label, f"unreadable {kind} archive: {exc}") from None

    def members(self) -> list[Member]:
        """Every member that is not a folder, sorted by name, each with its problem if any."""
        out = []
        for name, info in sorted(self._infos.items()):
            if info.is_dir() if isinstance(info, zipfile.ZipInfo) else info.isdir():
                continue
            if isinstance(info, zipfile.ZipInfo):
                size, problem = info.file_size, _zip_problem(info)
            else:
                size, problem = info.size, _tar_problem(info)
            if problem is None and not is_utf8_name(name):
                problem = "member name is not valid UTF-8"
            out.append(Member(name, size, problem))
        return out

    def read(self, name: str, max_bytes: int = MAX_IMAGE_BYTES, item: str | None = None) -> bytes:
        """The bytes of the regular member ``name``, at most ``max_bytes``; errors name ``item``
        (default: ``archive:member``).

        Raises:
            BadImageError: the member is a link or not a regular file, declares or holds more than
                ``max_bytes``, or its data is corrupt; the item names the archive and the member.
        """
        item = item or f"{self.label}:{name}"
        info = self._infos.get(name)
        if info is None:
            raise BadImageError(item, "no such member in the archive")
        problem = _zip_problem(info) if isinstance(info, zipfile.ZipInfo) else _tar_problem(info)
        if problem is not None:
            raise BadImageError(item, problem)
        declared = info.file_size if isinstance(info, zipfile.ZipInfo) else info.size
        if declared > max_bytes:
            raise too_large(item, declared, max_bytes)
        try:
            with self._lock:
                if isinstance(info, zipfile.ZipInfo):
                    with self._zip.open(info) as fh:
                        return read_bounded(fh, item, declared, max_bytes)
                fh = self._tar.extractfile(info)
                return read_bounded(fh, item, declared, max_bytes) if fh is not None else b""
        except _ARCHIVE_ERRORS as exc:
            raise BadImageError(item, f"corrupt archive member: {exc}") from None
