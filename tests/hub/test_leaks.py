"""Train/test leak detection (SQLite-backed) against a brute-force reading of the same rule."""

from __future__ import annotations

import random

import pytest

from ggt_hf.hub.leaks import find_leaks
from ggt_hf.hub.pack_plan import shard_sizes
from ggt_hf.imaging.hashing import NearDuplicateIndex, hamming


def _brute_force(entries, max_distance):
    """The rule written out with the in-memory index: identical SHA first (last train row named),
    else the closest train pHash within ``max_distance`` (ties: first found band by band)."""
    index, train_sha, leaks = NearDuplicateIndex(max_distance), {}, []
    for e in entries:
        if e["split"] == "train":
            index.add(e["id"], e["lq_phash"])
            train_sha[e["lq_sha256"]] = e["id"]
    for e in entries:
        if e["split"] != "test":
            continue
        if e["lq_sha256"] in train_sha:
            leaks.append((e["id"], f"test LQ identical to train pair {train_sha[e['lq_sha256']]}"))
        elif hit := index.query(e["lq_phash"]):
            leaks.append(
                (e["id"], f"test LQ near-duplicate of train pair {hit[0]} (pHash distance {hit[1]})")
            )
    return leaks


def _flip(hash_hex: str, bits: list[int]) -> str:
    value = int(hash_hex, 16)
    for b in bits:
        value ^= 1 << b
    return f"{value:016x}"


@pytest.mark.parametrize("max_distance", [0, 4, 10])
def test_find_leaks_matches_the_in_memory_rule(tmp_path, max_distance):
    rng = random.Random(max_distance)
    entries = []
    for i in range(300):
        h = f"{rng.getrandbits(64):016x}"
        entries.append({"id": f"tr{i}", "split": "train", "lq_sha256": f"sha{i}", "lq_phash": h})
    entries.append({**entries[3], "id": "tr-twin"})  # same SHA as tr3: the last train row is named
    for j in range(120):
        base = entries[rng.randrange(300)]
        flips = rng.sample(range(64), rng.randrange(0, 12))
        sha = base["lq_sha256"] if j % 10 == 0 else f"test{j}"
        entries.append(
            {"id": f"te{j}", "split": "test", "lq_sha256": sha, "lq_phash": _flip(base["lq_phash"], flips)}
        )
    entries.append({"id": "te-twin", "split": "test", "lq_sha256": "sha3", "lq_phash": "0" * 16})
    entries.append({"id": "top-bit", "split": "test", "lq_sha256": "x", "lq_phash": "ffffffffffffffff"})
    entries.append({"id": "tr-top", "split": "train", "lq_sha256": "y", "lq_phash": "fffffffffffffffe"})
    found = [(p.item, p.reason) for p in find_leaks(iter(entries), max_distance, tmp_path)]
    assert found == _brute_force(entries, max_distance)
    assert ("te-twin", "test LQ identical to train pair tr-twin") in found
    if max_distance >= 1:
        assert ("top-bit", "test LQ near-duplicate of train pair tr-top (pHash distance 1)") in found
    assert list(tmp_path.iterdir()) == []  # its SQLite file is gone
    assert hamming("ffffffffffffffff", "fffffffffffffffe") == 1


def test_shard_sizes_greedy_and_oversized_rows_alone():
    assert shard_sizes([], 10) == []
    assert shard_sizes([4, 4, 4, 4], 10) == [2, 2]
    assert shard_sizes([30, 1, 1, 30], 10) == [1, 2, 1]
    assert shard_sizes([5, 5, 5], 10) == [2, 1]
