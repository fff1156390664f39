"""Find LQ/HQ pairs on disk and turn them into :class:`~ggt_hf.records.PairRecord` s.

Three inputs share one matcher:

* a **pairs folder** — ``lq/`` and ``hq/`` with files matched by stem, optionally one level of
  category sub-folders (``lq/rain/x.png`` ↔ ``hq/rain/x.jpg``): :func:`pairs_from_dir`;
* **build-pipeline records** — JSON lines of ``PairRecord.to_json()``: :func:`pairs_from_records`;
* a **raw release** (e.g. the official GGT-100K download) described by two path templates such as
  ``"{split}/{category}/LQ/{id}.{ext}"`` and ``"{split}/{category}/GT/{id}.{ext}"``:
  :func:`pairs_from_templates`.

Templates use ``{field}`` for one path component part (``id``, ``category``, ``split``, ``ext``
or any other name), ``*`` for any text inside a component and ``**`` for any number of folders.
Pairs are joined on every field except ``ext``. Per-item problems (missing partner, unknown
category, duplicate id) are returned, never raised, so one bad file does not stop the others.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggt_hf.constants import IMAGE_EXTENSIONS, parse_split
from ggt_hf.errors import PairingError, path_text, printable
from ggt_hf.files.io_utils import read_jsonl
from ggt_hf.files.tables import read_table
from ggt_hf.files.walk import walk_files
from ggt_hf.records import PairRecord


@dataclass(frozen=True)
class Problem:
    """A per-item problem found while pairing or packing; ``item`` is made printable (a file name
    that is not UTF-8 is named with its bytes escaped, so reports and JSON can always be written)."""

    item: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "item", path_text(str(self.item)))

    def __str__(self) -> str:  # shown with control characters escaped (one problem, one line)
        return f"{printable(self.item)}: {self.reason}"


def nothing_to_pack(out: object, problems: list[Problem], limit: int = 5) -> PairingError:
    """The error of a pack that found no usable pair, naming the first ``limit`` problems."""
    listed = "; ".join(map(str, problems[:limit])) + ("; ..." if len(problems) > limit else "")
    return PairingError(out, f"nothing to pack ({len(problems)} problem(s)){': ' + listed if listed else ''}")


_FIELD = re.compile(r"\{(\w+)\}")


def template_regex(template: str) -> re.Pattern[str]:
    """Compile a path template (see module docs) into an anchored regular expression."""
    out, pos = [], 0
    for token in re.finditer(r"\{(\w+)\}|\*\*/?|\*", template):
        out.append(re.escape(template[pos : token.start()]))
        text = token.group(0)
        if token.group(1):
            name = token.group(1)
            out.append(rf"(?P<{name}>[^/]+?)" if name != "ext" else r"(?P<ext>[A-Za-z0-9]+)")
        elif text.startswith("**"):
            out.append(r"(?:.*/)?" if text.endswith("/") else r".*")
        else:
            out.append(r"[^/]*")
        pos = token.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out) + r"\Z")


def _scan(root: Path, files: list[Path], template: str) -> dict[tuple, list[tuple[Path, dict[str, str]]]]:
    """Map join key (fields other than ``ext``) → the ``files`` under ``root`` matching ``template``."""
    regex = template_regex(template)
    found: dict[tuple, list[tuple[Path, dict[str, str]]]] = {}
    for path in files:
        match = regex.match(path.relative_to(root).as_posix())
        if match:
            fields = match.groupdict()
            key = tuple(sorted((k, v) for k, v in fields.items() if k != "ext"))
            found.setdefault(key, []).append((path, fields))
    return found


def walk_images(root: str | os.PathLike) -> tuple[list[Path], list[Problem]]:
    """The image files under ``root`` and a :class:`Problem` per entry refused (see :mod:`ggt_hf.files.walk`)."""
    walk = walk_files(root, extensions=IMAGE_EXTENSIONS)
    return walk.files, [Problem(p.item, p.reason) for p in walk.problems]


def match_templates(
    root: str | os.PathLike,
    lq_template: str,
    hq_template: str,
    files: list[Path] | None = None,
) -> tuple[list[tuple[dict[str, str], Path, Path]], list[Problem]]:
    """Join files matching the two templates under ``root``; returns (pairs, problems).

    ``files`` are the image files under ``root`` when already listed (:func:`walk_images`); without
    them ``root`` is walked and the entries refused on the way are among the problems.
    """
    root = Path(root)
    lq_fields = set(_FIELD.findall(lq_template)) - {"ext"}
    if lq_fields != set(_FIELD.findall(hq_template)) - {"ext"}:
        raise ValueError(f"LQ and HQ templates must use the same fields: {lq_template!r} vs {hq_template!r}")
    if "id" not in lq_fields:
        raise ValueError(f"templates need an {{id}} field: {lq_template!r}")
    problems: list[Problem] = []
    if files is None:
        files, problems = walk_images(root)
    lq_files, hq_files = _scan(root, files, lq_template), _scan(root, files, hq_template)
    pairs = []
    for key in sorted(set(lq_files) | set(hq_files)):
        lqs, hqs = lq_files.get(key, []), hq_files.get(key, [])
        for side, files in (("LQ", lqs), ("HQ", hqs)):
            if len(files) > 1:
                names = ", ".join(str(p) for p, _ in files)
                problems.append(
                    Problem(str(files[0][0]), f"ambiguous {side}: several files share this id ({names})")
                )
        if not lqs or not hqs:
            present, missing = (lqs, "HQ") if lqs else (hqs, "LQ")
            problems.append(Problem(str(present[0][0]), f"missing {missing} partner"))
            continue
        if len(lqs) == 1 and len(hqs) == 1:
            pairs.append((lqs[0][1], lqs[0][0], hqs[0][0]))
    return pairs, problems


def _records_from_matches(
    matches: list[tuple[dict[str, str], Path, Path]],
    split: str | None,
    category: str | None,
    meta: dict[str, dict[str, Any]],
    defaults: dict[str, Any],
) -> tuple[list[PairRecord], list[Problem]]:
    records, problems = [], []
    for fields, lq, hq in matches:
        row = meta.get(fields["id"], {})
        try:
            record = PairRecord(
                id=fields["id"],
                category=fields.get("category") or row.get("category") or category or "",
                split=fields.get("split") or row.get("split") or split or "",
                lq_path=str(lq),
                hq_path=str(hq),
                source=row.get("source") or defaults.get("source"),
                license=row.get("license") or defaults.get("license"),
                prompt=row.get("prompt") or defaults.get("prompt"),
            )
        except ValueError as exc:
            reason = str(exc)
            if "unknown category ''" in reason:
                reason = "no category: use lq/<category>/ folders, --category or a manifest column"
            problems.append(Problem(str(lq), reason))
            continue
        records.append(record)
    return records, problems


def pairs_from_templates(
    root: str | os.PathLike,
    lq_template: str,
    hq_template: str,
    *,
    split: str | None = None,
    category: str | None = None,
    manifest: str | os.PathLike | None = None,
    files: list[Path] | None = None,
    **defaults: Any,
) -> tuple[list[PairRecord], list[Problem]]:
    """Pairs of a raw release folder described by templates; fields override flags and manifest.

    ``files``: the image files under ``root`` when already walked (see :func:`match_templates`)."""
    matches, problems = match_templates(root, lq_template, hq_template, files)
    meta = (
        {str(r.get("id") or Path(str(r.get("path", ""))).stem): r for r in read_table(manifest)}
        if manifest
        else {}
    )
    records, more = _records_from_matches(matches, split, category, meta, defaults)
    return records, problems + more


def pairs_from_dir(
    pairs_dir: str | os.PathLike,
    *,
    split: str = "train",
    category: str | None = None,
    manifest: str | os.PathLike | None = None,
    **defaults: Any,
) -> tuple[list[PairRecord], list[Problem]]:
    """Pairs of a ``lq/`` + ``hq/`` folder (flat or with category sub-folders)."""
    root = Path(pairs_dir)
    for side in ("lq", "hq"):
        if not (root / side).is_dir():
            raise FileNotFoundError(f"{root} has no {side}/ folder (expected {root}/lq and {root}/hq)")
    parse_split(split)
    files, problems = walk_images(root)  # one walk for both layouts; a refused entry is named once
    records: list[PairRecord] = []
    for lq_t, hq_t in (
        ("lq/{id}.{ext}", "hq/{id}.{ext}"),
        ("lq/{category}/{id}.{ext}", "hq/{category}/{id}.{ext}"),
    ):
        found, issues = pairs_from_templates(
            root, lq_t, hq_t, split=split, category=category, manifest=manifest, files=files, **defaults
        )
        records += found
        problems += issues
    return records, problems


def pairs_from_records(path: str | os.PathLike) -> tuple[list[PairRecord], list[Problem]]:
    """Pairs from a JSONL file of ``PairRecord.to_json()`` dicts; relative paths are taken from its folder."""
    path = Path(path)
    records, problems = [], []
    for number, row in enumerate(read_jsonl(path), start=1):
        try:
            record = PairRecord.from_json(row)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(f"{path}:{number}", f"invalid pair record: {exc}"))
            continue
        for attr in ("lq_path", "hq_path"):
            value = Path(getattr(record, attr))
            if not value.is_absolute():
                setattr(record, attr, str(path.parent / value))
        records.append(record)
    return records, problems
