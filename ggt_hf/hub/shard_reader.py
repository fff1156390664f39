"""Reading packed parquet shards that may come from anywhere (a download, a hand-edited folder)
with memory bounded by the project's image limits, checked *before* anything is read.

A parquet reader materialises whole column chunks (a row group's values of one column), however
small the batch asked for: a 117 KB shard holding one zstd-compressed 700 MB cell makes a plain
``read_row_group`` allocate gigabytes. The parquet footer says how large each column chunk is once
uncompressed, so :func:`open_shard` refuses a shard whose chunks could not have been written by
``ggt pack`` (one image at most :data:`~ggt_hf.constants.MAX_IMAGE_BYTES`; a row group holds
several images only while they total ~32 MB) before a single page is decompressed. Every library
reader of packed shards goes through this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ggt_hf.constants import MAX_IMAGE_BYTES
from ggt_hf.errors import DatasetValidationError

#: Largest uncompressed column chunk a reader accepts: one image of ``MAX_IMAGE_BYTES`` (a row
#: group of large pairs holds one row) plus room for the other rows' small values.
MAX_COLUMN_CHUNK_BYTES = MAX_IMAGE_BYTES + (16 << 20)
#: Largest uncompressed row group (all columns read): an LQ and an HQ column chunk and the rest.
MAX_ROW_GROUP_BYTES = 2 * MAX_COLUMN_CHUNK_BYTES + (16 << 20)


def open_shard(
    path: str | os.PathLike,
    columns: Sequence[str] | None = None,
    *,
    name: object = None,
    max_column_bytes: int | None = None,
    max_row_group_bytes: int | None = None,
) -> pq.ParquetFile:
    """The parquet file at ``path``, once its footer shows that reading ``columns`` (all when
    ``None``) one row group at a time stays within the limits (default
    :data:`MAX_COLUMN_CHUNK_BYTES` and :data:`MAX_ROW_GROUP_BYTES`, read when called).

    Raises:
        DatasetValidationError: naming the shard (``name``, default ``path``), row group and column
            that is too large, or a file that is not parquet; nothing has been read but the footer.
    """
    name = path if name is None else name
    max_column_bytes = MAX_COLUMN_CHUNK_BYTES if max_column_bytes is None else max_column_bytes
    max_row_group_bytes = MAX_ROW_GROUP_BYTES if max_row_group_bytes is None else max_row_group_bytes
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DatasetValidationError(name, f"not a readable parquet file ({exc})") from exc
    meta = parquet.metadata
    wanted = None if columns is None else {c.split(".", 1)[0] for c in columns}
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        total = 0
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            top = chunk.path_in_schema.split(".", 1)[0]
            if wanted is not None and top not in wanted:
                continue
            size = chunk.total_uncompressed_size
            total += size
            if size > max_column_bytes:
                raise DatasetValidationError(
                    name,
                    f"row group {group}: column {chunk.path_in_schema!r} is {size:,} bytes uncompressed "
                    f"(limit {max_column_bytes:,}: no image is larger than {MAX_IMAGE_BYTES:,}); "
                    "not read — this shard was not written by ggt pack, re-download or re-pack it",
                )
        if total > max_row_group_bytes:
            raise DatasetValidationError(
                name,
                f"row group {group} is {total:,} bytes uncompressed (limit {max_row_group_bytes:,}); "
                "not read — this shard was not written by ggt pack, re-download or re-pack it",
            )
    return parquet


def iter_shard_rows(
    path: str | os.PathLike,
    columns: Sequence[str] | None = None,
    *,
    name: object = None,
    max_column_bytes: int | None = None,
    max_row_group_bytes: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The rows (as dicts) of a shard checked by :func:`open_shard`, one row group at a time and
    one row converted to Python at a time (no second copy of a whole row group)."""
    parquet = open_shard(
        path, columns, name=name, max_column_bytes=max_column_bytes, max_row_group_bytes=max_row_group_bytes
    )
    for group in range(parquet.num_row_groups):
        table = parquet.read_row_group(group, columns=list(columns) if columns is not None else None)
        for index in range(table.num_rows):
            yield table.slice(index, 1).to_pylist()[0]
        del table


def check_local_shards(dataset: str | os.PathLike) -> None:
    """When ``dataset`` is a local folder (not a Hub repo id), check the footer of every parquet
    file ``datasets.load_dataset`` would read in it (:func:`open_shard`) before it is loaded.

    Raises:
        DatasetValidationError: naming the first shard that is refused.
    """
    folder = Path(dataset)
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*.parquet")):
        rel = path.relative_to(folder)
        if not any(part.startswith((".", "_")) for part in rel.parts):  # what datasets skips
            open_shard(path, name=rel.as_posix())


def load_packed(
    dataset: str | os.PathLike, config: str | None, split: str, *, streaming: bool = False
) -> Any:
    """``datasets.load_dataset(dataset, config, split=split)``, fresh after a re-pack: the one way
    ggt-hf loads a packed GGT dataset (a local folder or a Hub repo id).

    ``datasets`` keys its cache of a local folder whose card lists ``configs:`` on the card alone (the
    data-file *patterns*, not the files), so re-packing into the same folder and loading again returns
    the previous pack's rows from the cache. A local folder is therefore resolved by ``datasets`` itself
    (the builder reads the card: the same files, features and split as ``load_dataset(folder)``) and
    then loaded as the ``parquet`` builder over those files, whose cache key includes each file's path
    and modification time. The shards are checked first (:func:`check_local_shards`). A Hub repo id
    is loaded as is (its cache key holds the commit).
    """
    from datasets import load_dataset, load_dataset_builder

    check_local_shards(dataset)
    if not Path(dataset).is_dir():
        return load_dataset(str(dataset), config, split=split, streaming=streaming)
    builder = load_dataset_builder(str(Path(dataset).resolve()), config)
    files = (builder.config.data_files or {}).get(split)
    if not files:
        raise DatasetValidationError(
            str(dataset),
            f"no {split!r} split in config {builder.config.name!r} (its card lists no files for it)",
        )
    return load_dataset(
        "parquet",
        data_files={split: list(files)},
        split=split,
        features=builder.info.features,
        streaming=streaming,
    )
