"""Detect the LQ/HQ pairs of a release whose folder layout nobody wrote down.

A release root (a local folder or any fsspec URL, e.g. ``hf://datasets/VCLab-PolyU/GGT-100K``) is
listed once; every image's path is read component by component:

* **split** from a ``train`` / ``test`` folder (or a ``train_*`` / ``*_test`` name) at any depth;
* **category** from a folder that names one through the aliases of :func:`ggt_hf.constants.parse_category`;
* **role** (LQ or HQ) from a folder (``LQ``/``GT``, ``input``/``target``, ``low``/``high``,
  ``degraded``/``clean``, ``rain_lq``, ...) or a file-name suffix (``0001_lq.png`` / ``0001_gt.jpg``);
* **subset**: a top folder named like ``Existing-dataset`` holds the baseline pairs (the paper's
  "w/o" training data) and becomes the ``baseline`` config, never mixed into the GGT pairs;
  ``negatives`` / ``rejected`` folders become the ``negatives`` config. Images of these folders
  whose split, category or role cannot be told are listed as skipped: they never block the GGT pairs.

Pairs are joined on everything in the path except the role and the extension, so ``LQ/0001.png``
pairs with ``GT/0001.jpg``. Zip and tar archives are listed and read member by member (an archive
``Rain.zip`` acts as a folder ``Rain``), never extracted to disk; link members, oversized members
(zip bombs), symlink loops, links leaving the root and non-UTF-8 names are refused one by one
(:attr:`LayoutPlan.refused`) and the rest goes on. Model folders, videos, documents
and loose images outside any recognised structure are reported and skipped. Images whose role,
split or category cannot be told make the layout *ambiguous*: :class:`LayoutPlan` then refuses
(:meth:`LayoutPlan.check`) and suggests the ``--lq-template`` / ``--hq-template`` to pass.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ggt_hf.constants import IMAGE_EXTENSIONS, MAX_IMAGE_BYTES, HubLayout, try_parse_category
from ggt_hf.errors import BadImageError, PairingError
from ggt_hf.files.walk import is_utf8_name, walk_files
from ggt_hf.hub.archives import Archive
from ggt_hf.hub.pairs import Problem
from ggt_hf.imaging.images import read_bounded, too_large

logger = logging.getLogger(__name__)

LQ, HQ = "lq", "hq"
#: Normalised folder / suffix words that name the LQ or the HQ side.
ROLE_WORDS: dict[str, str] = {
    **dict.fromkeys(("lq", "low", "lowquality", "input", "inputs", "degraded", "degradation", "lr"), LQ),
    **dict.fromkeys(
        ("hq", "gt", "high", "highquality", "groundtruth", "target", "targets", "clean", "hr", "label"), HQ
    ),
}
SPLIT_WORDS: dict[str, str] = {
    **dict.fromkeys(("train", "training", "trainset"), "train"),
    **dict.fromkeys(("test", "testing", "testset"), "test"),
}
#: Top-level folder names of the baseline pairs and of QC-rejected candidates.
SUBSET_WORDS: dict[str, str] = {
    **dict.fromkeys(("existingdataset", "existingdatasets", "baseline", "baselines"), HubLayout.BASELINE_DIR),
    **dict.fromkeys(("negatives", "negative", "rejected"), HubLayout.NEGATIVES_DIR),
}
#: Folders that hold models, never pairs.
MODEL_FOLDERS = frozenset({"pretrainedmodel", "pretrainedmodels", "pretrained", "checkpoints", "weights"})
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")

_SEP = re.compile(r"[\s_\-.]+")


def _norm(text: str) -> str:
    return _SEP.sub("", text.lower())


def archive_stem(name: str) -> str | None:
    """``Rain.tar.gz`` → ``Rain``; ``None`` when ``name`` is not an archive."""
    lower = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


@dataclass(frozen=True)
class SourceFile:
    """One file of the release: its logical path (archives act as folders) and where to read it."""

    rel: str
    size: int
    path: str
    member: str | None = None
    problem: str | None = None  # why it cannot be read (a link, a bad name, ...): a per-item problem


@dataclass(frozen=True)
class Reading:
    """What a path says: subset, split, category, role, and the join key of its pair."""

    subset: str
    split: str | None
    category: str | None
    role: str | None
    key: tuple[str, ...]
    stem: str
    structured: bool


def _component(name: str) -> dict[str, str]:
    """What one folder name says: ``{"split": ..., "role": ..., "category": ...}`` (empty: nothing).

    A whole name is tried first (``LowLight``, ``GT``, ``test``); then its ``_``/``-`` separated
    words: split words, a role word at either end, and the rest as a category (``rain_lq``,
    ``Haze-test``, ``train_input``, ``LQ_images`` → role only).
    """
    n = _norm(name)
    if n in SPLIT_WORDS:
        return {"split": SPLIT_WORDS[n]}
    if n in ROLE_WORDS:
        return {"role": ROLE_WORDS[n]}
    if (category := try_parse_category(name)) is not None:
        return {"category": category}
    tokens = [t for t in _SEP.split(name.lower()) if t]
    if len(tokens) < 2:
        return {}
    found: dict[str, str] = {}
    splits = [t for t in tokens if t in SPLIT_WORDS]
    if len(splits) == 1:
        found["split"] = SPLIT_WORDS[splits[0]]
        tokens = [t for t in tokens if t not in SPLIT_WORDS]
    for end in (-1, 0):
        if tokens and tokens[end] in ROLE_WORDS:
            found["role"] = ROLE_WORDS[tokens.pop(end)]
            break
    if tokens and found:
        category = try_parse_category("_".join(tokens))
        if category is not None:
            found["category"] = category
        elif "role" not in found:
            return {}  # e.g. "train_photos_v2": not a structural name
    return found


def _stem_role(stem: str) -> tuple[str, str | None]:
    """``0001_lq`` → (``0001``, ``lq``); a stem without a role suffix is returned unchanged."""
    match = re.fullmatch(r"(?P<id>.+?)[\s_\-.]+(?P<role>[A-Za-z]+)", stem)
    if match and _norm(match["role"]) in ROLE_WORDS:
        return match["id"], ROLE_WORDS[_norm(match["role"])]
    return stem, None


def read_path(rel: str) -> Reading | str:
    """The :class:`Reading` of an image's logical path, or the reason it cannot be read."""
    parts = PurePosixPath(rel).parts
    folders, stem = list(parts[:-1]), PurePosixPath(parts[-1]).stem
    subset = HubLayout.DATA_DIR
    for i, name in enumerate(folders):  # e.g. Existing-dataset/, at any depth
        if _norm(name) in SUBSET_WORDS:
            subset = SUBSET_WORDS[_norm(name)]
            folders = folders[:i] + folders[i + 1 :]
            break
    found: dict[str, set[str]] = defaultdict(set)
    key: list[str] = [subset]
    for name in folders:
        said = _component(name)
        if not said:
            key.append(name)
        for kind, value in said.items():
            found[kind].add(value)
    pair_id, suffix_role = _stem_role(stem)
    if suffix_role is not None:
        found["role"].add(suffix_role)
    for kind in ("role", "split", "category"):
        if len(found[kind]) > 1:
            return f"conflicting {kind}s in path: {', '.join(sorted(found[kind]))}"
    one = {kind: next(iter(values)) if values else None for kind, values in found.items()}
    return Reading(
        subset=subset,
        split=one.get("split"),
        category=one.get("category"),
        role=one.get("role"),
        key=(*key, one.get("split") or "", one.get("category") or "", pair_id),
        stem=pair_id,
        structured=any(found.values()) or subset != HubLayout.DATA_DIR,
    )


def _skip_reason(rel: str) -> str | None:
    parts = PurePosixPath(rel).parts
    if any(_norm(p) in MODEL_FOLDERS for p in parts[:-1]):
        return "model folder"
    if PurePosixPath(rel).suffix.lower() not in IMAGE_EXTENSIONS:
        return f"not an image ({PurePosixPath(rel).suffix or 'no extension'})"
    return None


class ReleaseSource:
    """A release root on any fsspec filesystem; lists files (archives expanded) and reads them.

    Nothing in a release is trusted: a local root is listed by :func:`ggt_hf.files.walk.walk_files`
    (symlink loops, links leaving the root and non-UTF-8 names are refused), archives are read by
    :class:`~ggt_hf.hub.archives.Archive` (link members refused, members streamed with a size cap),
    and every file is read at most ``max_bytes``. A refused entry is listed with its problem and
    becomes a per-item problem of the plan; the rest goes on.
    """

    def __init__(
        self, url: str, fs: fsspec.AbstractFileSystem | None = None, *, max_bytes: int = MAX_IMAGE_BYTES
    ) -> None:
        if fs is None:
            from ggt_hf.runtime.network import require_hub_repos

            require_hub_repos([url], "reading the release", repo_type="dataset")  # hf://: fail fast
            fs, root = fsspec.core.url_to_fs(url)
        else:
            root = url
        self.url, self.fs, self.root = url, fs, root.rstrip("/")
        self.max_bytes = max_bytes
        self._archives: dict[str, Archive] = {}
        self._lock = threading.Lock()

    def _rel(self, path: str) -> str:
        path = path.rstrip("/")
        root = self.fs._strip_protocol(self.root).rstrip("/")
        return path[len(root) :].lstrip("/") if path.startswith(root) else path

    def _archive(self, path: str) -> Archive:
        with self._lock:
            if path not in self._archives:
                kind = "zip" if path.lower().endswith(".zip") else "tar"
                self._archives[path] = Archive(self.fs.open(path, "rb"), kind, self._rel(path))
            return self._archives[path]

    def _listing(self) -> list[SourceFile]:
        """Every file under the root (hidden entries skipped), refused entries with their problem."""
        if isinstance(self.fs, LocalFileSystem):
            walk = walk_files(self.root)
            found = [SourceFile(self._rel(str(p)), p.stat().st_size, str(p)) for p in walk.files]
            found += [
                SourceFile(os.path.relpath(p.path, self.root), 0, str(p.path), problem=p.reason)
                for p in walk.problems
            ]
            return sorted(found, key=lambda f: f.rel)
        out = []
        for path, info in sorted(self.fs.find(self.root, detail=True).items()):
            rel = self._rel(path)
            if any(part.startswith(".") for part in PurePosixPath(rel).parts):
                continue
            problem = None if is_utf8_name(rel) else "file name is not valid UTF-8; rename it"
            out.append(SourceFile(rel, int(info.get("size") or 0), path, problem=problem))
        return out

    def files(self) -> list[SourceFile]:
        """Every file under the root; archive members appear under the archive's stem. Entries that
        cannot be read (see the class docs) carry their ``problem``."""
        out = []
        for file in self._listing():
            stem = archive_stem(PurePosixPath(file.rel).name)
            if stem is None or file.problem is not None:
                out.append(file)
                continue
            try:
                members = self._archive(file.path).members()
            except BadImageError as exc:
                out.append(SourceFile(file.rel, file.size, file.path, problem=exc.reason))
                continue
            base = str(PurePosixPath(file.rel).parent / stem).lstrip("./") if "/" in file.rel else stem
            for m in members:
                out.append(SourceFile(f"{base}/{m.name.lstrip('/')}", m.size, file.path, m.name, m.problem))
        return out

    def read(self, file: SourceFile) -> bytes:
        """The bytes of ``file`` (an archive member is read alone, in memory), at most ``max_bytes``.

        Raises:
            BadImageError: ``file`` is refused (its ``problem``), too large, a link member, or corrupt.
        """
        if file.problem is not None:
            raise BadImageError(file.rel, file.problem)
        if file.member is not None:
            return self._archive(file.path).read(file.member, self.max_bytes, item=file.rel)
        if file.size > self.max_bytes:
            raise too_large(file.rel, file.size, self.max_bytes)
        with self.fs.open(file.path, "rb") as fh:
            return read_bounded(fh, file.rel, file.size, self.max_bytes)


@dataclass
class DetectedPair:
    """One pair found in a release."""

    subset: str
    split: str
    category: str
    id: str
    lq: SourceFile
    hq: SourceFile

    @property
    def nbytes(self) -> int:
        return self.lq.size + self.hq.size


@dataclass
class LayoutPlan:
    """What detection found: pairs, per-folder mapping, unmatched and skipped files."""

    root: str
    pairs: list[DetectedPair] = field(default_factory=list)
    folders: dict[str, tuple[str, str, str, str, int]] = field(default_factory=dict)
    unmatched: list[Problem] = field(default_factory=list)
    unresolved: list[Problem] = field(default_factory=list)
    #: files and archive members refused before pairing (links, bad names, unreadable archives)
    refused: list[Problem] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    shapes: Counter = field(default_factory=Counter)

    @property
    def ambiguous(self) -> bool:
        """True when some images' role/split/category is unknown, or no pair was found."""
        return bool(self.unresolved) or not self.pairs

    def counts(self) -> dict[tuple[str, str, str], int]:
        """Pairs per (subset, category, split)."""
        return dict(sorted(Counter((p.subset, p.category, p.split) for p in self.pairs).items()))

    def templates(self) -> list[str]:
        """Template suggestions shaped like the paths that could not be read."""
        return [shape for shape, _ in self.shapes.most_common(3)]

    def describe(self, limit: int = 20) -> str:
        """The human-readable plan: folders, pair counts, unmatched and skipped files."""
        lines = [f"layout of {self.root}:", "  folder → subset / split / category / role (images)"]
        for folder, (subset, split, category, role, n) in sorted(self.folders.items()):
            lines.append(f"    {folder or '.'}/ → {subset} / {split} / {category} / {role} ({n})")
        lines.append(f"  pairs: {len(self.pairs)}")
        for (subset, category, split), n in self.counts().items():
            lines.append(f"    {subset}/{category}/{split}: {n}")
        for title, problems in (
            ("unresolved (layout)", self.unresolved),
            ("unmatched", self.unmatched),
            ("refused", self.refused),
        ):
            if problems:
                lines.append(f"  {title}: {len(problems)}")
                lines += [f"    {p}" for p in problems[:limit]]
                if len(problems) > limit:
                    lines.append(f"    ... and {len(problems) - limit} more")
        if self.skipped:
            lines.append(f"  skipped: {sum(self.skipped.values())} file(s)")
            for (folder, reason), n in sorted(self.skipped.items()):
                lines.append(f"    {folder or '.'}/: {n} × {reason}")
        return "\n".join(lines)

    def check(self) -> None:
        """Raise :class:`PairingError` with the plan and template hints when the layout is ambiguous."""
        if not self.ambiguous:
            return
        hint = "\n".join(f"  path shape: {t}" for t in self.templates())
        raise PairingError(
            self.root,
            "ambiguous layout, nothing written. Detected:\n"
            + self.describe()
            + "\nPass the layout as templates, e.g. --lq-template '{split}/{category}/LQ/{id}.{ext}' "
            "--hq-template '{split}/{category}/GT/{id}.{ext}'" + (f", shaped like:\n{hint}" if hint else ""),
        )


def _shape(rel: str) -> str:
    """A template-like rendering of ``rel``: known parts become ``{split}`` / ``{category}``."""
    parts = list(PurePosixPath(rel).parts)
    out = []
    for name in parts[:-1]:
        said = _component(name)
        out.append(
            "{split}" if said.keys() == {"split"} else "{category}" if said.keys() == {"category"} else name
        )
    return "/".join([*out, "{id}.{ext}"])


def _unique_ids(pairs: list[DetectedPair], keys: dict[int, tuple[str, ...]]) -> None:
    """Give every pair of a subset a unique id: the file stem, qualified only where stems repeat."""
    for level in range(4):
        seen = Counter((p.subset, p.id) for p in pairs)
        clashes = [p for p in pairs if seen[(p.subset, p.id)] > 1]
        if not clashes:
            return
        for p in clashes:
            stem = keys[id(p)][-1]
            qualifiers = [p.category, p.split, *keys[id(p)][1:-3]]
            p.id = "-".join([*qualifiers[: level + 1], stem]).replace("/", "_")


def detect_layout(
    source: ReleaseSource, *, split: str | None = None, category: str | None = None
) -> LayoutPlan:
    """List ``source`` and find its pairs; ``split`` / ``category`` fill in what no folder says."""
    plan = LayoutPlan(root=source.url)
    sides: dict[tuple[str, ...], dict[str, list[tuple[SourceFile, Reading]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    folder_counts: Counter = Counter()
    for file in source.files():
        if file.problem is not None:
            plan.refused.append(Problem(file.rel, file.problem))
            continue
        parent = str(PurePosixPath(file.rel).parent).removeprefix(".")
        if reason := _skip_reason(file.rel):
            plan.skipped[(PurePosixPath(file.rel).parts[0] if "/" in file.rel else "", reason)] += 1
            continue
        reading = read_path(file.rel)
        if isinstance(reading, str):
            plan.unresolved.append(Problem(file.rel, reading))
            continue
        if not reading.structured:
            plan.skipped[(parent, "stray image outside any split/category/LQ-HQ folder")] += 1
            continue
        reading_split = reading.split or split
        reading_category = reading.category or category
        missing = [
            what
            for what, value in (
                ("LQ/HQ role", reading.role),
                ("train/test split", reading_split),
                ("category", reading_category),
            )
            if value is None
        ]
        if missing:
            reason = f"no {' or '.join(missing)} in its path or name"
            if reading.subset != HubLayout.DATA_DIR:  # extra configs never block the GGT pairs
                plan.skipped[(parent, f"{reading.subset} image with {reason}")] += 1
                continue
            plan.unresolved.append(Problem(file.rel, reason))
            plan.shapes[_shape(file.rel)] += 1
            continue
        reading = Reading(
            reading.subset, reading_split, reading_category, reading.role, reading.key, reading.stem, True
        )
        folder_counts[(parent, reading.subset, reading_split, reading_category, reading.role)] += 1
        sides[reading.key][reading.role].append((file, reading))
    for (folder, *mapping), n in folder_counts.items():
        plan.folders[folder] = (*mapping, n)
    keys: dict[int, tuple[str, ...]] = {}
    for key, by_role in sorted(sides.items()):
        lqs, hqs = by_role.get(LQ, []), by_role.get(HQ, [])
        if len(lqs) > 1 or len(hqs) > 1:
            names = ", ".join(f.rel for f, _ in lqs + hqs)
            plan.unmatched.append(
                Problem((lqs or hqs)[0][0].rel, f"several files share this pair id ({names})")
            )
            continue
        if not lqs or not hqs:
            present, missing_side = (lqs, "HQ") if lqs else (hqs, "LQ")
            plan.unmatched.append(Problem(present[0][0].rel, f"missing {missing_side} partner"))
            continue
        (lq, reading), (hq, _) = lqs[0], hqs[0]
        pair = DetectedPair(reading.subset, reading.split, reading.category, reading.stem, lq, hq)
        keys[id(pair)] = key
        plan.pairs.append(pair)
    _unique_ids(plan.pairs, keys)
    return plan
