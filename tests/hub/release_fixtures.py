"""Tiny fake releases in several layouts, on any fsspec filesystem (local folder or memory)."""

from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
from PIL import Image


def image_bytes(seed: int, fmt: str = "PNG", size: int = 24) -> bytes:
    """A small random RGB image, encoded."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def write_files(fs, root: str, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path → bytes) under ``root`` of ``fs``."""
    for rel, data in files.items():
        path = f"{root.rstrip('/')}/{rel}"
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as f:
            f.write(data)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A tar of ``members``; ``links`` adds link members: name → (``tarfile.SYMTYPE`` or
    ``tarfile.LNKTYPE``, target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            t.addfile(info)
    return buf.getvalue()


def official_like(counts: dict[tuple[str, str], int], seed: int = 0) -> dict[str, bytes]:
    """``GGT-100K/{train,test}/<Category>/{LQ,GT}/<id>.png`` plus the release's other top-level items."""
    files: dict[str, bytes] = {}
    n = seed
    for (split, category), k in counts.items():
        for i in range(k):
            n += 1
            files[f"GGT-100K/{split}/{category}/LQ/{i:04d}.png"] = image_bytes(n)
            files[f"GGT-100K/{split}/{category}/GT/{i:04d}.png"] = image_bytes(n + 100_000)
    files["Existing-dataset/train/Rain/LQ/r0.png"] = image_bytes(90_001)
    files["Existing-dataset/train/Rain/GT/r0.png"] = image_bytes(90_002)
    files["pretrained-model/ggt_restorer.safetensors"] = b"\0" * 64
    files["pretrained-model/examples/demo.png"] = image_bytes(90_003)
    files["README.md"] = b"# GGT-100K\n"
    files["demo_video.mp4"] = b"\0" * 128
    return files
