"""Caches of frozen-encoder outputs (VAE latents, text embeddings) for generative training.

The VAE and the text encoder(s) are frozen, and bucketing makes every pair's input deterministic
(whole image, fixed bucket), so their outputs are computed once per ``(pair, bucket)`` / prompt and
reused every epoch. :class:`TensorCache` keeps them in memory, or — with a ``folder`` — as one
``safetensors`` file per key (written atomically: temp file + rename), shared by all processes of a
run and by later runs (keys include the base model, so a different model never hits).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import torch

logger = logging.getLogger(__name__)


def cache_key(*parts: object) -> str:
    """A stable file-name-safe key of ``parts`` (sha1 of their ``repr``)."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()


class TensorCache:
    """``key → {name: tensor}``, in memory or on disk (see the module docstring).

    Tensors are stored on CPU (detached); :meth:`get` returns them on CPU.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        self._memory: dict[str, dict[str, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.safetensors"

    def __contains__(self, key: str) -> bool:
        if self.folder is None:
            return key in self._memory
        return self._path(key).is_file()

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        """The stored tensors of ``key`` or ``None``."""
        if self.folder is None:
            found = self._memory.get(key)
        else:
            from safetensors.torch import load_file

            path = self._path(key)
            found = load_file(path) if path.is_file() else None
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        """Store ``tensors`` (moved to CPU, contiguous) under ``key``."""
        cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
        if self.folder is None:
            self._memory[key] = cpu
            return
        from safetensors.torch import save_file

        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            save_file(cpu, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_or_compute(self, key: str, compute) -> dict[str, torch.Tensor]:
        """``get(key)``, or ``compute()`` stored then returned (as computed, on its device)."""
        found = self.get(key)
        if found is not None:
            return found
        value = compute()
        self.put(key, value)
        return value

    def __len__(self) -> int:
        if self.folder is None:
            return len(self._memory)
        return sum(1 for _ in self.folder.glob("*/*.safetensors"))
