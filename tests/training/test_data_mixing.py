"""The mixing schedule realises the configured GGT:baseline ratio and per-source draw counters."""

from __future__ import annotations

from collections import Counter

import pytest

from ggt_hf.training.data import MixCounter, MixSchedule


@pytest.mark.parametrize(("ratio", "expected"), [(1.0, 0.5), (3.0, 0.75), (0.25, 0.2)])
def test_realised_ratio(ratio, expected):
    schedule = MixSchedule([1.0], [1.0], ratio, seed=5)
    slots = [schedule.slot(g) for g in range(2000)]
    fraction = sum(s.group == "ggt" for s in slots) / 2000
    assert abs(fraction - expected) <= 0.03
    # every window of 100 consecutive samples is close too (a steady mix, not only on average)
    for start in range(0, 2000, 100):
        window = slots[start : start + 100]
        assert abs(sum(s.group == "ggt" for s in window) / 100 - expected) <= 0.02


def test_no_baseline_means_all_ggt():
    schedule = MixSchedule([1.0, 1.0], [], ratio=1.0, seed=0)
    assert {schedule.slot(g).group for g in range(500)} == {"ggt"}


def test_draw_counters_enumerate_each_source_in_order():
    schedule = MixSchedule([2.0, 1.0, 1.0], [1.0, 3.0], ratio=1.5, seed=11)
    seen: dict[tuple[str, int], list[int]] = {}
    for g in range(3000):
        slot = schedule.slot(g)
        seen.setdefault((slot.group, slot.source), []).append(slot.draw)
    for draws in seen.values():
        assert draws == list(range(len(draws)))  # closed form agrees with counting
    counts = Counter({k: len(v) for k, v in seen.items()})
    assert abs(counts["ggt", 0] / 1800 - 0.5) < 0.02 and abs(counts["baseline", 1] / 1200 - 0.75) < 0.02


def test_seed_changes_the_pattern_not_the_ratio():
    patterns = [[MixSchedule([1], [1], 3.0, seed=s).slot(g).group for g in range(64)] for s in range(6)]
    assert len({tuple(p) for p in patterns}) > 1
    assert all(abs(p.count("ggt") - 48) <= 1 for p in patterns)


def test_mix_counter():
    counter = MixCounter()
    counter.update({"source": ["ggt", "baseline", "ggt"], "skipped": ["x: bad"]})
    counter.update({"source": ["ggt"], "skipped": []})
    assert counter.total == 4 and counter.fractions() == {"baseline": 0.25, "ggt": 0.75}
    logged = counter.log_dict()
    assert logged["data/ggt_fraction"] == 0.75 and logged["data/skipped"] == 1.0
