"""The pack's on-disk bookkeeping (:mod:`ggt_hf.hub.pack_plan`): spill files, the SQLite plan and
the greedy shard split, with property tests of the invariants the shards rely on (every planned
pair in exactly one shard, no id clash with a kept row in any shard, shard sizes within limits)."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ggt_hf.constants import CATEGORIES
from ggt_hf.hub.pack_plan import PackPlan, PlannedPair, Spill, order_key, shard_sizes


def pair(
    pair_id: str, category: str = "general", split: str = "train", nbytes: int = 10, **extra
) -> PlannedPair:
    where = extra.pop("where", (len(pair_id), nbytes))
    return PlannedPair(pair_id, category, split, nbytes, f"sha-{pair_id}", f"ph-{pair_id}", where, **extra)


def test_spill_reads_back_each_object_by_position(tmp_path):
    spill = Spill(tmp_path / "spill.bin")
    objects = [{"id": "a", "n": 1}, b"\x00" * 300, ["x", 2.5]]
    places = [spill.put(o) for o in objects]
    assert places[0][0] == 0 and places[1][0] == sum(places[0]) and places[2][0] == sum(places[1])
    assert [spill.get(w) for w in reversed(places)] == list(reversed(objects))
    spill.close()
    assert (tmp_path / "spill.bin").stat().st_size == sum(places[-1])


def test_order_key_is_the_sha1_of_the_id():
    assert order_key("pair-1") == hashlib.sha1(b"pair-1").hexdigest()


def test_shard_sizes_split_greedily_at_the_limit():
    assert shard_sizes([], 10) == []
    assert shard_sizes([4, 6], 10) == [2]  # exactly at the limit still fits
    assert shard_sizes([5, 5, 5], 10) == [2, 1]
    assert shard_sizes([1, 20, 1], 10) == [1, 1, 1]  # a row over the limit gets a shard of its own
    assert shard_sizes([20, 1, 1], 10) == [1, 2]  # the count restarts after each new shard
    assert shard_sizes([3, 3, 3, 3], 6) == [2, 2]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 50), max_size=40), st.integers(1, 60))
def test_shard_sizes_cover_every_row_once_within_the_limit(nbytes, limit):
    sizes = shard_sizes(nbytes, limit)
    assert sum(sizes) == len(nbytes) and all(s > 0 for s in sizes)
    start = 0
    for count in sizes:
        shard = nbytes[start : start + count]
        assert sum(shard) <= limit or count == 1  # only a single oversize row may exceed it
        if start + count < len(nbytes):  # greedy: the next row would not have fitted
            assert sum(shard) + nbytes[start + count] > limit
        start += count


def test_records_come_back_by_id_then_path_then_input_order(tmp_path):
    plan = PackPlan(tmp_path / "plan.sqlite")
    for pair_id, path, where in [
        ("b", "x.png", (0, 1)),
        ("a", "z.png", (1, 2)),
        ("a", "y.png", (3, 4)),
        ("a", "y.png", (5, 6)),
    ]:
        plan.add_record(pair_id, path, where)
    assert list(plan.records_by_id()) == [
        ("a", "y.png", (3, 4)),
        ("a", "y.png", (5, 6)),
        ("a", "z.png", (1, 2)),
        ("b", "x.png", (0, 1)),
    ]
    plan.close()


def test_groups_follow_the_category_order_then_the_split(tmp_path):
    plan = PackPlan(tmp_path / "plan.sqlite")
    for i, (category, split) in enumerate(
        [
            ("old_photo", "train"),
            ("general", "train"),
            ("rain", "test"),
            ("general", "test"),
            ("general", "test"),
        ]
    ):
        plan.add_planned(pair(f"p{i}", category, split))
    plan.finish_inserts()
    assert plan.planned_count() == 5
    assert plan.groups() == [
        ("general", "test"),
        ("general", "train"),
        ("rain", "test"),
        ("old_photo", "train"),
    ]


def test_rows_of_a_group_are_ordered_by_the_hash_of_their_id(tmp_path):
    plan = PackPlan(tmp_path / "plan.sqlite")
    ids = [f"id-{i}" for i in range(12)]
    for i, pair_id in enumerate(ids):
        plan.add_planned(pair(pair_id, nbytes=10 + i, where=(100 * i, 10 + i)))
    plan.add_planned(pair("other", "rain", nbytes=1000, where=(9999, 1)))
    plan.finish_inserts()
    ordered = sorted(range(12), key=lambda i: order_key(ids[i]))
    assert ordered != list(range(12))  # the test would not see an unordered query otherwise
    assert list(plan.group_spilled("general", "train")) == [(100 * i, 10 + i) for i in ordered]
    sizes, mean = plan.group_sizes("general", "train", 25)
    assert sizes == shard_sizes([10 + i for i in ordered], 25)
    assert mean == sum(10 + i for i in range(12)) / 12
    assert plan.group_sizes("rain", "train", 25) == ([1], 1000.0)


def test_clashing_pairs_are_reported_and_kept_out_of_the_shards(tmp_path):
    plan = PackPlan(tmp_path / "plan.sqlite")
    for pair_id in ["new-1", "dup-b", "new-2", "dup-a"]:
        plan.add_planned(pair(pair_id, hq_sha256=f"hq-{pair_id}", hq_phash=f"hp-{pair_id}"))
    plan.add_kept(
        [
            ("dup-a", "train", "s1", "p1", "shard-0", None, None),
            ("old", "test", "s2", "p2", "shard-1", "h", "hp"),
        ]
    )
    plan.add_kept([("dup-b", "train", "s3", "p3", "shard-2", None, None)])
    plan.add_kept([("dup-b", "train", "s3", "p3", "shard-9", None, None)])  # the newer row replaces it
    assert plan.drop_clashes() == [("dup-b", "shard-9"), ("dup-a", "shard-0")]
    assert plan.planned_count() == 2
    plan.finish_inserts()
    assert len(list(plan.group_spilled("general", "train"))) == 2
    entries = list(plan.leak_entries())
    assert [e["id"] for e in entries] == ["dup-a", "old", "dup-b", "new-1", "new-2"]
    assert entries[1] == {
        "id": "old",
        "split": "test",
        "lq_sha256": "s2",
        "lq_phash": "p2",
        "hq_sha256": "h",
        "hq_phash": "hp",
    }
    assert entries[3] == {
        "id": "new-1",
        "split": "train",
        "lq_sha256": "sha-new-1",
        "lq_phash": "ph-new-1",
        "hq_sha256": "hq-new-1",
        "hq_phash": "hp-new-1",
    }
    assert plan.drop_clashes() == []


def test_streaming_reads_past_one_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr("ggt_hf.hub.pack_plan._FETCH", 3)
    plan = PackPlan(tmp_path / "plan.sqlite")
    for i in range(10):
        plan.add_record(f"r{i:02d}", "p", (i, 1))
    assert [r[0] for r in plan.records_by_id()] == [f"r{i:02d}" for i in range(10)]


pairs_strategy = st.lists(
    st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(["train", "test"]), st.integers(1, 40)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None)
@given(pairs_strategy, st.sets(st.integers(0, 40), max_size=10), st.integers(5, 80))
def test_every_planned_pair_lands_in_exactly_one_shard_and_no_clash_does(pairs, kept, limit):
    plan = PackPlan(":memory:")
    for i, (category, split, nbytes) in enumerate(pairs):
        plan.add_planned(pair(f"p{i}", category, split, nbytes, where=(i, nbytes)))
    plan.add_kept([(f"p{i}", "train", "s", "h", "shard-old", None, None) for i in kept])
    clashes = {pair_id for pair_id, _ in plan.drop_clashes()}
    plan.finish_inserts()
    assert clashes == {f"p{i}" for i in kept if i < len(pairs)}

    placed = []
    for category, split in plan.groups():
        spilled = list(plan.group_spilled(category, split))
        sizes, _ = plan.group_sizes(category, split, limit)
        assert sum(sizes) == len(spilled)
        start = 0
        for count in sizes:
            shard = spilled[start : start + count]
            assert sum(n for _, n in shard) <= limit or count == 1
            assert all(pairs[i][:2] == (category, split) for i, _ in shard)
            start += count
        placed += [i for i, _ in spilled]
    assert sorted(placed) == [i for i in range(len(pairs)) if f"p{i}" not in clashes]
    plan.close()
