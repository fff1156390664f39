"""Perceptual hashes and a near-duplicate index.

The hash itself is ``imagehash.phash`` (64-bit DCT hash). The index answers "is there an item
within Hamming distance *d*?" without comparing against every item: by the pigeonhole principle two
64-bit hashes within distance *d* agree exactly on at least one of *d + 1* disjoint bit bands, so
each hash is filed under its bands and only items sharing a band are compared.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict

import imagehash
from PIL import Image

HASH_BITS = 64


def phash(img: Image.Image) -> str:
    """64-bit perceptual hash of an image as 16 hex digits."""
    return str(imagehash.phash(img, hash_size=8))


def hamming(a: str, b: str) -> int:
    """Hamming distance between two hex hashes of the same length."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hash_bands(max_distance: int) -> list[tuple[int, int]]:
    """Bit ranges that split a 64-bit hash into ``max_distance + 1`` bands: two hashes within
    ``max_distance`` bits agree exactly on at least one band (multi-index hashing)."""
    if not 0 <= max_distance < HASH_BITS:
        raise ValueError(f"max_distance must be in [0, {HASH_BITS}), got {max_distance}")
    edges = [round(i * HASH_BITS / (max_distance + 1)) for i in range(max_distance + 2)]
    return [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]


class NearDuplicateIndex:
    """Index of perceptual hashes answering near-duplicate queries in sub-linear time."""

    def __init__(self, max_distance: int) -> None:
        self._bands = hash_bands(max_distance)
        self.max_distance = max_distance
        self._table: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)

    def _keys(self, value: int) -> list[tuple[int, int]]:
        return [(i, (value >> lo) & ((1 << (hi - lo)) - 1)) for i, (lo, hi) in enumerate(self._bands)]

    def add(self, key: str, hash_hex: str) -> None:
        """File ``key`` under its perceptual hash."""
        value = int(hash_hex, 16)
        for band_key in self._keys(value):
            self._table[band_key].append((key, value))

    def query(self, hash_hex: str) -> tuple[str, int] | None:
        """Closest indexed ``(key, distance)`` within ``max_distance``, or ``None``."""
        value = int(hash_hex, 16)
        best: tuple[str, int] | None = None
        for band_key in self._keys(value):
            for key, other in self._table.get(band_key, ()):
                distance = (value ^ other).bit_count()
                if distance <= self.max_distance and (best is None or distance < best[1]):
                    best = (key, distance)
        return best


def pixel_sha256(img: Image.Image) -> str:
    """SHA-256 (hex) of an image's decoded pixels, mode and size: the same for any lossless
    re-encode of the same picture, unlike a hash of the file's bytes."""
    digest = hashlib.sha256(f"{img.mode} {img.width}x{img.height}\n".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()
