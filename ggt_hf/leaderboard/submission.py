"""Checking submissions before anything touches the disk or runs: prediction zips and model repos.

A **predictions zip** holds one image per test id, named ``<id>.<ext>`` (at the top level or inside
folders; only the base name counts). :func:`check_zip` reads the central directory first and
refuses, before decompressing anything, archives that are too large, have too many members, declare
too many uncompressed bytes or an extreme compression ratio (zip bombs). Each member is then checked:
path traversal (absolute paths, ``..``, drive letters, backslashes), symlinks and other special files
(the Unix mode in ``external_attr``), encryption, nested archives, non-image content (decoded with
:func:`ggt_hf.imaging.images.decode_image` from a size-capped read, never trusting the declared size), ids not
in the split, duplicates (one id under two names) and wrong image sizes. Missing ids and an archive
with no files are reported too. Every problem is an :class:`InvalidSubmissionError` naming the member.

:func:`extract_predictions` writes only members that passed, under names it builds itself
(``<id>.<ext>``), so the archive's paths never reach the filesystem.

Model repo submissions are checked in :mod:`ggt_hf.leaderboard.model_repo` (Hub repo ids only,
pinned to a commit). Nothing from a submission is executed or unpickled.
"""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ggt_hf.constants import IMAGE_EXTENSIONS, Col
from ggt_hf.errors import GGTError
from ggt_hf.files.io_utils import atomic_write_bytes
from ggt_hf.imaging.images import decode_image

logger = logging.getLogger(__name__)

#: Weight files that are pickles (never loaded) and the one format that is.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SAFE_WEIGHTS = "model.safetensors"
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh")
_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz")


class InvalidSubmissionError(GGTError):
    """A submission (or one member of it) that is refused; ``problems`` lists every reason."""

    def __init__(
        self, item: object, reason: str, problems: list[InvalidSubmissionError] | None = None
    ) -> None:
        super().__init__(item, reason)
        self.problems = problems or [self]


@dataclass(frozen=True)
class SubmissionLimits:
    """Bounds on a predictions zip (defaults fit a few hundred 1024² PNGs)."""

    max_zip_bytes: int = 1 << 30
    max_members: int = 2_000
    max_member_bytes: int = 50 << 20
    max_total_bytes: int = 4 << 30
    max_ratio: float = 100.0
    max_pixels: int = 16_000_000


@dataclass
class ZipCheck:
    """The outcome of :func:`check_zip`: accepted members (id → member name) and problems."""

    members: dict[str, str] = field(default_factory=dict)
    problems: list[InvalidSubmissionError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """One human-readable line per problem."""
        return [str(p) for p in self.problems]

    def raise_if_invalid(self, zip_name: str) -> None:
        """Raise one :class:`InvalidSubmissionError` carrying every problem, if there are any."""
        if self.problems:
            shown = "; ".join(self.lines()[:10]) + (" ..." if len(self.problems) > 10 else "")
            raise InvalidSubmissionError(zip_name, f"{len(self.problems)} problem(s): {shown}", self.problems)


def expected_images(
    dataset: str, split: str = "test", config: str | None = None
) -> dict[str, tuple[int, int]]:
    """id → (width, height) of a packed GGT split (local folder or Hub id)."""
    from ggt_hf.evaluation.references import load_packed_split

    ds = load_packed_split(dataset, split, config).select_columns([Col.ID, Col.WIDTH, Col.HEIGHT])
    return {row[Col.ID]: (row[Col.WIDTH], row[Col.HEIGHT]) for row in ds}


def _path_problem(name: str) -> str | None:
    """Why a member name is unsafe, or ``None``."""
    if "\\" in name or "\x00" in name:
        return "backslash or NUL in the member path"
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        return "absolute path"
    if ".." in path.parts:
        return "path traversal ('..')"
    return None


def _is_junk(name: str) -> bool:
    """OS metadata members that are skipped, not refused (``__MACOSX/``, dot files)."""
    parts = PurePosixPath(name).parts
    return any(part == "__MACOSX" or (part.startswith(".") and part not in (".", "..")) for part in parts)


def _member_problem(info: zipfile.ZipInfo, limits: SubmissionLimits) -> str | None:
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return f"{kind} (Unix mode {oct(mode)})"
    if info.flag_bits & 0x1:
        return "encrypted member"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"unsupported compression method {info.compress_type}"
    if PurePosixPath(info.filename).suffix.lower() in _ARCHIVE_SUFFIXES:
        return "nested archive"
    if info.file_size > limits.max_member_bytes:
        return f"{info.file_size:,} bytes uncompressed, over the {limits.max_member_bytes:,} limit"
    if info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        return f"compression ratio {ratio:.0f}:1 over {limits.max_ratio:g}:1"
    return None


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """The member's bytes, refusing more than ``cap`` whatever its header declares."""
    with archive.open(info) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"decompresses to more than {cap:,} bytes")
    return data


def _check_content(name: str, data: bytes, size: tuple[int, int], limits: SubmissionLimits) -> str | None:
    if data.startswith(_ARCHIVE_MAGIC):
        return "nested archive"
    try:
        decoded = decode_image(data, name, max_pixels=limits.max_pixels)
    except GGTError as exc:
        return f"not a usable image: {exc.reason}"
    for got in (decoded.stored_size, decoded.image.size):
        if got != size:
            return f"wrong size {got[0]}×{got[1]}, expected {size[0]}×{size[1]}"
    return None


def check_zip(
    zip_path: str | os.PathLike, expected: dict[str, tuple[int, int]], limits: SubmissionLimits | None = None
) -> ZipCheck:
    """Check a predictions zip against ``expected`` (id → size) without extracting it."""
    limits = limits or SubmissionLimits()
    zip_path = Path(zip_path)
    check = ZipCheck()

    def refuse(item: str, reason: str) -> ZipCheck:
        check.problems.append(InvalidSubmissionError(item, reason))
        return check

    size = zip_path.stat().st_size
    if size > limits.max_zip_bytes:
        return refuse(zip_path.name, f"archive is {size:,} bytes, over the {limits.max_zip_bytes:,} limit")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        return refuse(zip_path.name, f"not a readable zip archive ({exc})")
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            return refuse(zip_path.name, f"{len(infos)} members, over the {limits.max_members} limit")
        total = sum(i.file_size for i in infos)
        if total > limits.max_total_bytes:
            return refuse(
                zip_path.name, f"{total:,} bytes uncompressed, over the {limits.max_total_bytes:,} limit"
            )
        files = [i for i in infos if not i.is_dir() and not _is_junk(i.filename)]
        if not files:
            return refuse(zip_path.name, "the archive contains no files (directories only or empty)")
        seen: dict[str, str] = {}
        for info in files:
            name = info.filename
            problem = _path_problem(name) or _member_problem(info, limits)
            if problem:
                refuse(name, problem)
                continue
            base = PurePosixPath(name)
            if base.suffix.lower() not in IMAGE_EXTENSIONS:
                refuse(
                    name,
                    f"not an image file name (expected <id>.png/.jpg/...; "
                    f"got {base.suffix or 'no'} extension)",
                )
                continue
            if base.stem not in expected:
                refuse(name, f"id {base.stem!r} is not in the test split")
                continue
            if base.stem in seen:
                refuse(name, f"duplicate id {base.stem!r} (also {seen[base.stem]!r})")
                continue
            seen[base.stem] = name
            try:
                data = _read_capped(archive, info, limits.max_member_bytes)
            except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
                refuse(name, f"unreadable member: {exc}")
                continue
            problem = _check_content(name, data, expected[base.stem], limits)
            if problem:
                refuse(name, problem)
                continue
            check.members[base.stem] = name
    for image_id in sorted(set(expected) - set(seen)):
        refuse(image_id, "missing prediction for this test id")
    return check


def extract_predictions(zip_path: str | os.PathLike, dest: str | os.PathLike, check: ZipCheck) -> list[Path]:
    """Write the accepted members of a checked zip to ``dest`` as ``<id>.<ext>``; returns the paths."""
    if not check.ok:
        raise InvalidSubmissionError(
            Path(zip_path).name, "refusing to extract an archive that failed its check"
        )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(zip_path) as archive:
        for image_id, name in sorted(check.members.items()):
            info = archive.getinfo(name)
            target = dest / f"{image_id}{PurePosixPath(name).suffix.lower()}"
            atomic_write_bytes(target, _read_capped(archive, info, info.file_size))
            written.append(target)
    return written
