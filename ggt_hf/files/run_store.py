"""The build run folder: its layout, its typed item records and the lock that guards it.

One :class:`RunLayout` names every path of a run folder (as :class:`~ggt_hf.constants.HubLayout`
does for a packed dataset); every reader and writer (the build, the report, the review queue and
app, the pack step) goes through it and through :class:`~ggt_hf.records.ItemRecord`::

    run/
      run.json                   run schema version, ggt-hf version (checked on every open)
      build_config.json          the config of the last run (secrets redacted)
      items/<id>.json            one ItemRecord per item, replaced atomically after each stage
      candidates/<id>/attemptN.png
      cache/                     content-addressed backend responses (the paid calls)
      ingest/<n>/                one ``ggt ingest`` output per source
      review.jsonl               human decisions (append-only)
      review_index.json          which items are reviewable, by record size and mtime (a cache)
      pack_checks.sqlite         files the pack step fully decoded, by path, size and mtime (a cache)
      locks/                     OS file locks: ``run.lock`` and one per rank / shard
      quarantine/                corrupt files moved aside (never deleted)
      dataset/                   the packed dataset

A record or file found corrupt (a truncated write from a dying disk or a copy gone wrong) is moved to
``quarantine/`` with a warning naming it, and the item is redone; the response cache still saves the
paid call when its entry is intact.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ggt_hf.errors import GGTError
from ggt_hf.files.io_utils import atomic_write_json
from ggt_hf.files.output_folders import claim_output_folder
from ggt_hf.records import RUN_SCHEMA_VERSION, ItemRecord

logger = logging.getLogger(__name__)


class IncompatibleRunError(GGTError):
    """A run folder written by a ggt-hf whose run schema this version cannot read."""


class CorruptRecordError(GGTError):
    """An item record that cannot be read (truncated, not JSON, wrong fields)."""


@dataclass(frozen=True)
class RunLayout:
    """Every path of a build run folder (see the module docstring)."""

    root: Path

    ITEMS_DIR = "items"
    CANDIDATES_DIR = "candidates"
    CACHE_DIR = "cache"
    INGEST_DIR = "ingest"
    LOCKS_DIR = "locks"
    QUARANTINE_DIR = "quarantine"
    DATASET_DIR = "dataset"
    RUN_INFO = "run.json"
    CONFIG = "build_config.json"
    REVIEW = "review.jsonl"
    REVIEW_INDEX = "review_index.json"
    PACK_CHECKS = "pack_checks.sqlite"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def items_dir(self) -> Path:
        return self.root / self.ITEMS_DIR

    def item(self, item_id: str) -> Path:
        """The record file of ``item_id``."""
        return self.items_dir / f"{item_id}.json"

    @staticmethod
    def candidate(item_id: str, attempt: int) -> str:
        """Path of an attempt's candidate image, relative to the run folder (as records store it)."""
        return f"{RunLayout.CANDIDATES_DIR}/{item_id}/attempt{attempt}.png"

    def ingest_dir(self, source_index: int) -> Path:
        return self.root / self.INGEST_DIR / str(source_index)

    @property
    def cache_dir(self) -> Path:
        return self.root / self.CACHE_DIR

    @property
    def quarantine_dir(self) -> Path:
        return self.root / self.QUARANTINE_DIR

    @property
    def dataset_dir(self) -> Path:
        return self.root / self.DATASET_DIR

    @property
    def config_file(self) -> Path:
        return self.root / self.CONFIG

    @property
    def review_file(self) -> Path:
        return self.root / self.REVIEW

    @property
    def review_index(self) -> Path:
        return self.root / self.REVIEW_INDEX

    @property
    def pack_checks(self) -> Path:
        return self.root / self.PACK_CHECKS

    @property
    def run_info(self) -> Path:
        return self.root / self.RUN_INFO

    def lock_file(self, name: str = "run") -> Path:
        return self.root / self.LOCKS_DIR / f"{name}.lock"

    def resolve(self, relative: str) -> Path:
        """A path stored in a record (relative to the run folder) as a real path."""
        return self.root / relative

    def is_run(self) -> bool:
        """Whether the folder holds a build run (an ``items/`` folder)."""
        return self.items_dir.is_dir()


class RunStore:
    """Reads and writes the item records of one run folder, checking the schema version."""

    def __init__(self, root: str | os.PathLike, *, create: bool = False) -> None:
        self.layout = RunLayout(Path(root))
        if create:
            self.layout.items_dir.mkdir(parents=True, exist_ok=True)
        self.check_version()
        if create and not self.layout.run_info.exists():
            from ggt_hf import __version__

            atomic_write_json(
                self.layout.run_info, {"run_schema": RUN_SCHEMA_VERSION, "ggt_hf_version": __version__}
            )

    def check_version(self) -> None:
        """Raise :class:`IncompatibleRunError` for a run written by a newer, incompatible schema."""
        path = self.layout.run_info
        if not path.exists():
            return  # a new run, or one written before run.json existed (schema 1: same fields)
        try:
            info = json.loads(path.read_text())
            version = int(info["run_schema"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IncompatibleRunError(path, f"unreadable run info ({exc})") from None
        if version > RUN_SCHEMA_VERSION:
            raise IncompatibleRunError(
                self.layout.root,
                f"written by ggt-hf {info.get('ggt_hf_version', '?')} with run schema {version}; this "
                f"version reads schema ≤ {RUN_SCHEMA_VERSION}. Use that ggt-hf version or a new output folder",
            )

    def item_ids(self) -> list[str]:
        """Ids of every item record, sorted."""
        return sorted(self.scan_item_ids())

    def scan_item_ids(self) -> Iterator[str]:
        """Ids of every item record in directory order, streamed (no list of 100K names)."""
        if not self.layout.items_dir.is_dir():
            return
        with os.scandir(self.layout.items_dir) as entries:
            for entry in entries:
                if entry.name.endswith(".json") and not entry.name.startswith("."):
                    yield entry.name[:-5]

    def exists(self, item_id: str) -> bool:
        return self.layout.item(item_id).exists()

    def read(self, item_id: str) -> ItemRecord:
        """The record of ``item_id``.

        Raises:
            CorruptRecordError: the file is not a valid record (naming the file and why).
            IncompatibleRunError: the record was written by a newer run schema.
        """
        path = self.layout.item(item_id)
        try:
            data = json.loads(path.read_bytes())
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise CorruptRecordError(path, f"corrupt item record ({exc})") from None
        if not isinstance(data, dict):
            raise CorruptRecordError(path, "corrupt item record (not a JSON object)")
        schema = data.get("schema", 1)
        try:
            version = int(schema)
        except (ValueError, TypeError):
            raise CorruptRecordError(
                path, f"corrupt item record (schema {schema!r} is not a number)"
            ) from None
        if version > RUN_SCHEMA_VERSION:
            raise IncompatibleRunError(
                path, f"record schema {schema}; this ggt-hf reads schema ≤ {RUN_SCHEMA_VERSION}"
            )
        try:
            return ItemRecord.from_json(data)
        except (ValueError, TypeError) as exc:
            raise CorruptRecordError(path, f"corrupt item record ({exc})") from None

    def read_or_quarantine(self, item_id: str) -> ItemRecord | None:
        """:meth:`read`, but a corrupt record is quarantined (with a warning) and ``None`` returned."""
        try:
            return self.read(item_id)
        except CorruptRecordError as exc:
            self.quarantine(self.layout.item(item_id), exc.reason)
            return None

    def write(self, record: ItemRecord) -> None:
        """Replace the record of ``record.id`` atomically (survives a kill at any point)."""
        atomic_write_json(self.layout.item(record.id), record.to_json())

    def records(self) -> list[ItemRecord]:
        """Every readable record, sorted by id (corrupt ones are quarantined and skipped)."""
        return list(self.iter_records())

    def iter_records(self, ordered: bool = True) -> Iterator[ItemRecord]:
        """:meth:`records`, read one at a time (memory holds the ids, not the records); with
        ``ordered=False`` in directory order, holding nothing per item (for readers that sort or
        count themselves: the pack, the report)."""
        ids = self.item_ids() if ordered else self.scan_item_ids()
        return (r for i in ids if (r := self.read_or_quarantine(i)) is not None)

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move a corrupt file under ``quarantine/`` (keeping its path in the run), warning once."""
        return quarantine_file(self.layout, path, reason)


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a build run ggt made: its ``run.json`` (with a run schema), or, for a
    run written before ``run.json`` existed, a ``build_config.json`` beside ``items/``."""
    layout = RunLayout(folder)
    try:
        info = json.loads(layout.run_info.read_text())
    except (OSError, ValueError, RecursionError):
        pass
    else:
        if isinstance(info, dict) and "run_schema" in info:
            return True
    return layout.config_file.is_file() and layout.items_dir.is_dir()


def claim_run_folder(folder: str | os.PathLike) -> Path:
    """The run folder ``folder``, created or checked to be ggt's (new, empty, or a build run), before
    a build writes, moves or quarantines anything in it; see
    :func:`ggt_hf.files.output_folders.claim_output_folder`.

    Raises:
        OutputFolderError: ``folder`` holds files that are not a ggt run's (nothing is changed).
    """
    return claim_output_folder(folder, "build-run", recognise=is_run_folder, command="ggt build")


def quarantine_file(layout: RunLayout, path: Path, reason: str) -> Path:
    """Move ``path`` (inside the run folder) to ``quarantine/<its path>.<time>`` and warn."""
    path = Path(path)
    try:
        rel = path.relative_to(layout.root)
    except ValueError:
        rel = Path(path.name)
    target = layout.quarantine_dir / f"{rel}.{time.time_ns()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return target
    logger.warning("%s: %s; moved to %s, the item will be redone", path, reason, target)
    return target
