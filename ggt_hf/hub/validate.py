"""``ggt validate``: check a packed dataset folder before it goes to the Hub.

Checks, each reported with its file (and row) rather than stopping at the first:

* the card exists, its YAML parses, a ``default`` config exists, every config's ``data_files``
  pattern matches at least one shard, and ``dataset_info`` counts equal the rows present;
* every parquet file under ``data/`` follows the layout and has exactly the GGT schema;
* every row: unique id, ``category``/``split`` agree with the shard's path, both images decode to
  RGB at the recorded ``width`` × ``height``;
* ``ggt_dataset.json`` exists and its counts agree with the shards;
* no test LQ or HQ of ``data/`` equals a train one by its decoded pixels or nearly equals it by
  pHash (a train/test leak; only the hashes are kept, in a temporary SQLite file);
* no shard's row group or column chunk is larger, once uncompressed, than any ggt shard can be
  (checked in the parquet footer before reading, :mod:`ggt_hf.hub.shard_reader`);
* the folder holds only regular files: a symlink (e.g. ``notes.txt -> /etc/passwd``) is flagged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ggt_hf.constants import CATEGORIES, Col, HubLayout
from ggt_hf.errors import DatasetValidationError, GGTError
from ggt_hf.files.metadata_files import parse_metadata, read_metadata
from ggt_hf.files.walk import walk_files
from ggt_hf.hub.card import counts, list_shards
from ggt_hf.hub.leaks import LeakFinder
from ggt_hf.hub.pairs import Problem
from ggt_hf.hub.schema import dataset_features
from ggt_hf.hub.shard_reader import iter_shard_rows
from ggt_hf.imaging.hashing import phash, pixel_sha256
from ggt_hf.imaging.images import decode_image
from ggt_hf.runtime.parallel import bounded_map, progress_disabled


def _in_config(config: str, subset: str, category: str) -> bool:
    """Whether shards of (subset, category) belong to the card config ``config``."""
    if config == HubLayout.NEGATIVES_CONFIG:
        return subset == HubLayout.NEGATIVES_DIR
    if config == HubLayout.BASELINE_CONFIG:
        return subset == HubLayout.BASELINE_DIR
    if config == HubLayout.UNFILTERED_CONFIG:
        return subset == HubLayout.UNFILTERED_DIR
    return subset == HubLayout.DATA_DIR and config in (HubLayout.DEFAULT_CONFIG, category)


def _check_card(folder: Path, shards_rows: dict[tuple[str, str, str], int]) -> Iterator[Problem]:
    card_path = folder / HubLayout.CARD
    if not card_path.exists():
        yield Problem(HubLayout.CARD, "missing dataset card")
        return
    try:
        data = read_metadata(card_path, "front matter", HubLayout.CARD)
    except DatasetValidationError as exc:  # too big, too deep, endless aliases, YAML that does not parse
        yield Problem(HubLayout.CARD, f"card {exc.reason}")
        return
    configs, infos, wrong = _card_sections(data)
    if wrong:
        yield from (Problem(HubLayout.CARD, f"card YAML {reason}") for reason in wrong)
        return
    names = [c.get("config_name") for c in configs]
    if HubLayout.DEFAULT_CONFIG not in names:
        yield Problem(HubLayout.CARD, "no 'default' config in the card's YAML")
    for config in configs:
        for entry in config.get("data_files") or []:
            pattern = entry.get("path")
            if not pattern or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
                yield Problem(
                    HubLayout.CARD,
                    f"config {config.get('config_name')!r} split {entry.get('split')!r}: pattern {pattern!r} "
                    "is not a path inside the dataset folder",
                )
            elif not list(folder.glob(pattern)):
                yield Problem(
                    HubLayout.CARD,
                    f"config {config.get('config_name')!r} split {entry.get('split')!r}: pattern {pattern!r} matches no file",
                )
    for info in infos:
        name = info.get("config_name", HubLayout.DEFAULT_CONFIG)
        for split in info.get("splits") or []:
            actual = sum(
                n for (sub, c, s), n in shards_rows.items() if s == split["name"] and _in_config(name, sub, c)
            )
            if split.get("num_examples") != actual:
                yield Problem(
                    HubLayout.CARD,
                    f"dataset_info {name}/{split['name']} says {split.get('num_examples')} rows, shards hold {actual}",
                )


def _card_sections(data: dict[str, Any]) -> tuple[list[dict], list[dict], list[str]]:
    """``(configs, dataset_info entries, what is of the wrong type)`` of a card's YAML: every
    ``configs[i]`` a mapping whose ``data_files`` are ``{split, path}`` mappings (a bare path text is
    taken as ``{path: ...}``), every ``dataset_info`` entry a mapping whose ``splits`` are mappings
    with a text ``name``; each wrong type is named by its key (e.g. ``configs[0]: expected a mapping``)."""
    wrong: list[str] = []

    def mappings(value: Any, where: str, text_key: str | None = None) -> list[dict]:
        if value is None:
            return []
        if not isinstance(value, list):
            wrong.append(f"{where}: expected a list, got {type(value).__name__}")
            return []
        out = []
        for i, entry in enumerate(value):
            if text_key and isinstance(entry, str):
                entry = {text_key: entry}
            if not isinstance(entry, dict):
                wrong.append(f"{where}[{i}]: expected a mapping, got {type(entry).__name__} {entry!r:.40}")
            elif text_key and not isinstance(entry.get(text_key), str):
                wrong.append(f"{where}[{i}].{text_key}: expected a text, got {entry.get(text_key)!r:.40}")
            else:
                out.append(entry)
        return out

    configs = mappings(data.get("configs"), "configs")
    for i, config in enumerate(configs):
        files = config.get("data_files")
        config["data_files"] = mappings(
            [files] if isinstance(files, str) else files, f"configs[{i}].data_files", "path"
        )
    raw_infos = data.get("dataset_info")
    infos = mappings([raw_infos] if isinstance(raw_infos, dict) else raw_infos, "dataset_info")
    for i, info in enumerate(infos):
        info["splits"] = mappings(info.get("splits"), f"dataset_info[{i}].splits", "name")
    return configs, infos, wrong


def _check_schema(path: Path, rel: str) -> Iterator[Problem]:
    expected = dataset_features()
    schema = pq.read_schema(path)
    if not schema.remove_metadata().equals(expected.arrow_schema.remove_metadata()):
        yield Problem(rel, f"schema differs from GGT schema: columns {schema.names}")
        return
    try:  # a hostile shard's metadata (200k nested `[`, a list) is a problem, not a crash
        meta = parse_metadata((schema.metadata or {}).get(b"huggingface", b"{}"), "json", rel)
    except DatasetValidationError as exc:
        yield Problem(rel, f"`huggingface` schema metadata: {exc.reason}")
        return
    info = meta.get("info")
    if not isinstance(info, dict) or info.get("features") != expected.to_dict():
        yield Problem(rel, "missing or wrong `huggingface` features metadata (Image/ClassLabel types)")


def _check_row(row: dict[str, Any], where: str, category: str, split: str) -> tuple[list[Problem], dict]:
    """The problems of one row, and its leak-check entry (each image's pixel SHA-256 and pHash)."""
    problems = []
    entry: dict[str, str | None] = {"id": where, "split": split}
    if row[Col.CATEGORY] != CATEGORIES.index(category):
        problems.append(
            Problem(where, f"category {row[Col.CATEGORY]} does not match shard folder {category!r}")
        )
    if row[Col.SPLIT] != split:
        problems.append(Problem(where, f"split {row[Col.SPLIT]!r} does not match shard name {split!r}"))
    for side in (Col.LQ, Col.HQ):
        image = row[side] or {}
        try:
            if not image.get("bytes"):
                raise GGTError(where, "no image bytes")
            decoded = decode_image(image["bytes"], f"{where} {side}")
        except GGTError as exc:
            problems.append(Problem(where, f"{side}: {exc.reason}"))
            continue
        entry[f"{side}_sha256"] = pixel_sha256(decoded.image)
        entry[f"{side}_phash"] = phash(decoded.image)
        if decoded.stored_mode != "RGB":
            problems.append(Problem(where, f"{side}: stored as {decoded.stored_mode}, expected RGB"))
        if decoded.image.size != (row[Col.WIDTH], row[Col.HEIGHT]):
            w, h = decoded.image.size
            problems.append(
                Problem(where, f"{side}: is {w}×{h} but width/height say {row[Col.WIDTH]}×{row[Col.HEIGHT]}")
            )
    return problems, entry


def validate_folder(folder: str | Path, *, workers: int = 2, progress: bool | None = None) -> list[Problem]:
    """Every problem found in a packed dataset folder (empty list = valid)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [Problem(str(folder), "not a folder")]
    problems: list[Problem] = check_links(folder)
    shards = list_shards(folder)
    known = {s.path for s in shards}
    for path in sorted(p for subset in HubLayout.SUBSETS for p in (folder / subset).rglob("*.parquet")):
        rel = path.relative_to(folder).as_posix()
        if rel not in known:
            problems.append(
                Problem(rel, "parquet file outside the layout data/<category>/<split>-NNNNN-of-NNNNN.parquet")
            )
    if not shards:
        problems.append(Problem(HubLayout.DATA_DIR, "no shards found"))
    rows_per_group = {}
    for s in shards:
        key = (s.subset, s.category, s.split)
        rows_per_group[key] = rows_per_group.get(key, 0) + s.num_rows
        if s.category not in CATEGORIES:
            problems.append(Problem(s.path, f"unknown category folder {s.category!r}"))
    problems += check_empty_shards(shards)
    problems += _check_card(folder, rows_per_group)
    problems += _check_manifest(folder, shards)
    total = sum(s.num_rows for s in shards)
    bar = tqdm(total=total, desc="validate", unit="pair", disable=progress_disabled(progress))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, LeakFinder() as leaks:
        seen: dict[tuple[str, str], str] = {}
        for shard in shards:
            schema_problems = list(_check_schema(folder / shard.path, shard.path))
            problems += schema_problems
            if schema_problems or shard.category not in CATEGORIES:
                bar.update(shard.num_rows)
                continue
            try:
                problems += _check_shard_rows(folder, shard, pool, bar, seen, leaks)
            except DatasetValidationError as exc:  # refused from its footer, before any read
                problems.append(Problem(shard.path, exc.reason))
        bar.close()
        return problems + leaks.leaks()


def _check_shard_rows(
    folder: Path, shard: Any, pool: ThreadPoolExecutor, bar: tqdm, seen: dict, leaks: LeakFinder
) -> list[Problem]:
    """Check a shard's rows, 16 at a time in ``pool``; ids go into ``seen``, the hashes of
    ``data/`` rows into ``leaks``."""
    problems: list[Problem] = []
    jobs = []

    def run() -> None:
        for found, entry in bounded_map(pool, lambda job: _check_row(*job), jobs, window=len(jobs) or 1):
            problems.extend(found)
            if shard.subset == HubLayout.DATA_DIR:
                leaks.add(entry)
            bar.update(1)
        jobs.clear()

    for index, row in enumerate(iter_shard_rows(folder / shard.path, name=shard.path)):
        where = f"{shard.path} row {index} (id {row[Col.ID]!r})"
        key = (shard.subset, row[Col.ID])
        if key in seen:
            problems.append(Problem(where, f"duplicate id, also in {seen[key]}"))
        seen.setdefault(key, shard.path)
        jobs.append((row, where, shard.category, shard.split))
        if len(jobs) >= 16:
            run()
    run()
    return problems


def check_empty_shards(shards: list) -> list[Problem]:
    """A problem per shard with no rows (older ggt versions could leave one when every pair of a
    shard failed): it is safe to delete, then ``ggt card FOLDER`` rewrites the card and manifest."""
    return [
        Problem(s.path, "shard has no rows (left by an older ggt); delete it, then run `ggt card FOLDER`")
        for s in shards
        if s.num_rows == 0
    ]


def check_links(folder: str | Path) -> list[Problem]:
    """A problem per symlink or other non-regular entry in ``folder`` (hidden entries aside): a
    published folder holds only regular files, and ``ggt push`` refuses to send anything else (a
    link could point anywhere, e.g. ``notes.txt -> /etc/passwd``)."""
    folder = Path(folder)
    return [
        Problem(os.path.relpath(p.path, folder), p.reason) for p in walk_files(folder, links=False).problems
    ]


def _check_manifest(folder: Path, shards: list) -> list[Problem]:
    path = folder / HubLayout.MANIFEST
    if not path.exists():
        return [Problem(HubLayout.MANIFEST, "missing manifest")]
    try:
        manifest = read_metadata(path, "json", HubLayout.MANIFEST)
    except DatasetValidationError as exc:  # not JSON, too deep, too big, not an object
        return [Problem(HubLayout.MANIFEST, exc.reason)]
    if manifest.get("counts") != counts(shards) or manifest.get("negative_counts") != counts(
        shards, negatives=True
    ):
        return [
            Problem(
                HubLayout.MANIFEST, "counts disagree with the shards (regenerate them with `ggt card FOLDER`)"
            )
        ]
    return []
