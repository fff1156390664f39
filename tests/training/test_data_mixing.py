"""The mixing schedule realises the configured GGT:baseline ratio and per-source draw counters."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ggt_hf.training.data import MixCounter, MixSchedule
from ggt_hf.training.data.mixing import Slot


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


def documented_split(n: int, share: float, phase: float) -> bool:
    """The module docstring's rule, written out independently: sample ``n`` goes to the first side
    iff ``⌊(n+1)p + φ⌋ > ⌊np + φ⌋``."""
    return math.floor((n + 1) * share + phase) > math.floor(n * share + phase)


def documented_phase(seed: int, salt: int) -> float:
    return float(np.random.default_rng((seed, 0x6D1C, salt)).random())


@pytest.mark.parametrize(("ratio", "seed"), [(1.0, 0), (3.0, 7), (0.4, 123)])
def test_the_seeded_schedule_is_the_documented_line(ratio, seed):
    schedule = MixSchedule([1.0], [1.0], ratio, seed=seed)
    share, phase = ratio / (1 + ratio), documented_phase(seed, 0)
    groups = ["ggt" if documented_split(g, share, phase) else "baseline" for g in range(300)]
    assert [schedule.slot(g).group for g in range(300)] == groups


def documented_source(n: int, weights: list[float], seed: int, baseline: bool) -> int:
    """The docstring's binary tree: source ``i`` vs sources ``i+1..`` on a line of share
    ``w_i / (w_i + ...)``, phase salt ``1 + 2i`` for GGT and ``2 + 2i`` for the baseline."""
    for i in range(len(weights) - 1):
        share, phase = weights[i] / sum(weights[i:]), documented_phase(seed, 1 + 2 * i + baseline)
        if documented_split(n, share, phase):
            return i
        n -= math.floor(n * share + phase) - math.floor(phase)  # draws that went to source i
    return len(weights) - 1


@pytest.mark.parametrize("baseline", [False, True])
def test_sources_inside_a_group_follow_their_own_seeded_lines(baseline):
    weights = [1.0, 1.7, 2.9]
    schedule = MixSchedule([], weights, 1.0, seed=3) if baseline else MixSchedule(weights, [], 1.0, seed=3)
    expected = [documented_source(g, weights, 3, baseline) for g in range(200)]
    assert [schedule.slot(g).source for g in range(200)] == expected
    assert len(set(expected)) == 3


def test_baseline_only_schedule_draws_every_sample_from_the_baseline():
    schedule = MixSchedule([], [3.0, 1.0], ratio=1.0, seed=2)
    assert schedule.ggt_share == 0.0
    slots = [schedule.slot(g) for g in range(400)]
    assert {s.group for s in slots} == {"baseline"}
    assert sum(s.source == 0 for s in slots) == 300
    assert [s.draw for s in slots if s.source == 1] == list(range(100))


def test_a_single_source_takes_every_draw_of_its_group_in_order():
    schedule = MixSchedule([5.0], [], ratio=1.0, seed=9)
    assert [schedule.slot(g) for g in range(5)] == [Slot("ggt", 0, g) for g in range(5)]


def test_negative_sample_index_and_no_sources_are_refused():
    with pytest.raises(ValueError) as info:
        MixSchedule([1.0], [1.0], 1.0, seed=0).slot(-1)
    assert str(info.value) == "sample index must be ≥ 0, got -1"
    with pytest.raises(ValueError) as info:
        MixSchedule([], [], 1.0, seed=0)
    assert str(info.value) == "no data sources: give at least one ggt (or baseline) source"


def test_mix_counter_before_any_batch_and_with_a_prefix():
    counter = MixCounter()
    assert counter.total == 0 and counter.fractions() == {}
    assert counter.log_dict() == {"data/ggt_fraction": 0.0, "data/skipped": 0.0}
    counter.update({"source": ["baseline", "ggt", "baseline"]})  # no "skipped" key
    assert counter.log_dict("mix/") == {
        "mix/baseline_count": 2.0,
        "mix/ggt_count": 1.0,
        "mix/ggt_fraction": 1 / 3,
        "mix/skipped": 0.0,
    }


weights = st.lists(st.floats(0.1, 10), max_size=4)


@settings(max_examples=60, deadline=None)
@given(ggt=weights, baseline=weights, ratio=st.floats(0.1, 10), seed=st.integers(0, 2**32 - 1))
def test_realised_shares_stay_within_the_stated_tolerance(ggt, baseline, ratio, seed):
    """For any weights, ratio and seed, every prefix of the schedule holds each source within a few
    samples of its share (one sample per split level), and each source's draw counter counts its
    earlier draws — so a run resumed at sample ``g`` (which only calls ``slot(g)`` onwards on a new
    schedule) continues every source exactly where the uninterrupted run would be."""
    assume(ggt or baseline)
    schedule = MixSchedule(ggt, baseline, ratio, seed)
    p_ggt = schedule.ggt_share
    counts: Counter = Counter()
    for g in range(400):
        slot = schedule.slot(g)
        assert slot.draw == counts[slot.group, slot.source]  # the closed form agrees with counting
        counts[slot.group, slot.source] += 1
        n = g + 1
        for group, share in (("ggt", p_ggt), ("baseline", 1 - p_ggt)):
            group_weights = schedule.groups[group]
            assert abs(sum(counts[group, i] for i in range(len(group_weights))) - n * share) < 1 + 1e-9
            for i, w in enumerate(group_weights):
                assert abs(counts[group, i] - n * share * w / sum(group_weights)) <= i + 2
    resumed = MixSchedule(list(ggt), list(baseline), ratio, seed)
    assert [resumed.slot(g) for g in range(250, 400)] == [schedule.slot(g) for g in range(250, 400)]
