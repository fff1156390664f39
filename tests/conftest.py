"""Shared fixtures: real photos (the ones bundled in ggt_hf/sample_data) and small pair folders."""

from __future__ import annotations

import os

# The README's test command runs as CI does (.ci/run exports these): nothing reaches the real Hub,
# and a test whose Hub client must talk to a local fake server says so itself. Set before anything
# imports huggingface_hub, which reads them once; an explicit value in the environment wins.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ggt_hf.constants import CATEGORIES
from ggt_hf.imaging.images import load_image
from ggt_hf.pipeline.demo import sample_dir

SAMPLE_PHOTOS = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "camera.png",
]


@pytest.fixture(scope="session")
def photos() -> list[Image.Image]:
    """The bundled real photos, decoded to sRGB by ggt-hf (ICC converted, metadata dropped)."""
    return [load_image(sample_dir() / name).image for name in SAMPLE_PHOTOS]


def _crop_square(img: Image.Image, size: int, index: int) -> Image.Image:
    """A distinct square crop per index: the whole photo for the first round, then quadrants."""
    w, h = img.size
    block = index // len(SAMPLE_PHOTOS)
    if block == 0:
        side, left, top = min(w, h), (w - min(w, h)) // 2, (h - min(w, h)) // 2
    else:
        side = min(w, h) // 2
        quadrant = block % 4
        left = (w - side) * (quadrant % 2)
        top = (h - side) * (quadrant // 2)
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def _degrade_simple(img: Image.Image, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.asarray(img).astype(np.float32)
    arr = arr * 0.7 + rng.normal(0, 12, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@pytest.fixture
def make_pairs_dir(tmp_path: Path, photos: list[Image.Image]) -> Callable[..., Path]:
    """Factory: ``make_pairs_dir(n=6, size=128, nested=True, name="pairs", offset=0)``.

    Writes ``lq/<category>/<id>.png`` and ``hq/<category>/<id>.png`` (or flat ``lq/<id>.png`` when
    ``nested`` is false) from real photo crops; categories round-robin; ids ``p<offset+i>``.
    """

    def make(n: int = 6, size: int = 128, nested: bool = True, name: str = "pairs", offset: int = 0) -> Path:
        root = tmp_path / name
        for i in range(offset, offset + n):
            hq = _crop_square(photos[i % len(photos)], size, i)
            lq = _degrade_simple(hq, i)
            category = CATEGORIES[i % len(CATEGORIES)]
            for side, img in (("lq", lq), ("hq", hq)):
                folder = root / side / category if nested else root / side
                folder.mkdir(parents=True, exist_ok=True)
                img.save(folder / f"p{i}.png")
        return root

    return make


class RecordingHubApi:
    """A recording stand-in for the model-repo reads of ``huggingface_hub.HfApi`` (``model_info``,
    ``hf_hub_download``, ``snapshot_download``): repos are local folders registered by id, a commit
    sha is the hash of the folder's content at lookup time and each commit is kept as a snapshot, so
    changing a repo after a submission gives it a new head while the pinned commit stays readable.
    Unknown repos raise ``RepositoryNotFoundError`` like the Hub; every call lands in ``calls``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repos: dict[str, Path] = {}
        self.commits: dict[str, Path] = {}
        self.calls: list[tuple[str, str, dict]] = []

    def add_repo(self, repo_id: str, folder: Path) -> None:
        self.repos[repo_id] = Path(folder)

    def _not_found(self, repo_id: str, kind: str = "repo"):
        from types import SimpleNamespace

        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        cls = RevisionNotFoundError if kind == "revision" else RepositoryNotFoundError
        return cls(f"404: {repo_id}", response=SimpleNamespace(headers={}, request=None, status_code=404))

    def _head(self, repo_id: str) -> str:
        import hashlib
        import shutil

        folder = self.repos[repo_id]
        digest = hashlib.sha1(repo_id.encode())
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
        sha = digest.hexdigest()
        if sha not in self.commits:
            shutil.copytree(folder, self.root / "commits" / sha)
            self.commits[sha] = self.root / "commits" / sha
        return sha

    def _commit(self, repo_id: str, revision: str | None) -> tuple[str, Path]:
        if repo_id not in self.repos:
            raise self._not_found(repo_id)
        sha = revision or self._head(repo_id)
        if sha not in self.commits:
            raise self._not_found(repo_id, "revision")
        return sha, self.commits[sha]

    def model_info(self, repo_id: str, *, revision: str | None = None, files_metadata: bool = False, **kw):
        from types import SimpleNamespace

        self.calls.append(("model_info", repo_id, {"revision": revision, **kw}))
        sha, folder = self._commit(repo_id, revision)
        siblings = [
            SimpleNamespace(
                rfilename=p.relative_to(folder).as_posix(), size=p.stat().st_size if files_metadata else None
            )
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        ]
        return SimpleNamespace(id=repo_id, sha=sha, siblings=siblings)

    def hf_hub_download(self, repo_id: str, filename: str, *, revision: str | None = None, **kw) -> str:
        self.calls.append(("hf_hub_download", repo_id, {"filename": filename, "revision": revision, **kw}))
        _, folder = self._commit(repo_id, revision)
        return str(folder / filename)

    def snapshot_download(
        self, repo_id: str, *, revision: str | None = None, allow_patterns=None, **kw
    ) -> str:
        import fnmatch
        import shutil

        self.calls.append(
            ("snapshot_download", repo_id, {"revision": revision, "allow_patterns": allow_patterns})
        )
        sha, folder = self._commit(repo_id, revision)
        out = self.root / "downloads" / sha
        for path in folder.rglob("*"):
            name = path.relative_to(folder).as_posix()
            if path.is_file() and (
                allow_patterns is None or any(fnmatch.fnmatch(name, p) for p in allow_patterns)
            ):
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, out / name)
        return str(out)


@pytest.fixture
def hub_api(tmp_path: Path) -> RecordingHubApi:
    """A :class:`RecordingHubApi` over folders registered with ``hub_api.add_repo(id, folder)``."""
    return RecordingHubApi(tmp_path / "fake_hub")
