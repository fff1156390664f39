"""Read user-supplied manifests (CSV or JSONL) into a list of row dictionaries."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any


def read_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a ``.csv`` (header row required) or ``.jsonl``/``.json`` manifest.

    Raises:
        ValueError: naming the file (and line) when it cannot be parsed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise ValueError(f"{path}: CSV manifest has no header row")
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    if suffix in {".jsonl", ".json"}:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object per line")
            rows.append(row)
        return rows
    raise ValueError(f"{path}: manifest must be .csv or .jsonl, got {suffix or 'no extension'}")


def require_columns(path: str | os.PathLike, rows: list[dict[str, Any]], columns: set[str]) -> None:
    """Raise ``ValueError`` naming the manifest and the missing columns, if any."""
    present = set().union(*(r.keys() for r in rows)) if rows else set()
    missing = columns - present
    if rows and missing:
        raise ValueError(f"{path}: manifest lacks column(s) {', '.join(sorted(missing))}")
