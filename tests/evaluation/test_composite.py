"""The paper's composite on hand-worked tables: min-max per metric, inversion, group means, Avg."""

from __future__ import annotations

import math

import pytest

from ggt_hf.evaluation.composite import CompositeResult, composite
from ggt_hf.metrics.specs import GROUPS, get_spec

# Three systems, one metric of each direction and group:
#
#            psnr↑  lpips↓  musiq↑  vlm_r↑
#   A          30    0.1      50    0.25
#   B          26    0.3      70    0.75
#   C          22    0.5      60    0.50
#
# psnr : min 22, max 30, range 8    -> A (30-22)/8 = 1,   B 4/8 = 1/2,   C 0
# lpips: min .1, max .5, range .4   -> inverted (max - v)/range: A .4/.4 = 1, B .2/.4 = 1/2, C 0
# musiq: min 50, max 70, range 20   -> A 0, B 1, C 10/20 = 1/2
# vlm_r: min .25, max .75, range .5 -> A 0, B 1, C .25/.5 = 1/2
#
# fidelity   = mean(psnr, lpips) : A 1,  B 1/2, C 0
# perceptual = musiq             : A 0,  B 1,   C 1/2
# vlm        = vlm_r             : A 0,  B 1,   C 1/2
# Avg = mean of the three        : A 1/3, B 5/6, C 1/3  -> ranking B, A, C (A/C tie: input order)
RAW = {
    "A": {"psnr": 30.0, "lpips": 0.1, "musiq": 50.0, "vlm_r": 0.25},
    "B": {"psnr": 26.0, "lpips": 0.3, "musiq": 70.0, "vlm_r": 0.75},
    "C": {"psnr": 22.0, "lpips": 0.5, "musiq": 60.0, "vlm_r": 0.50},
}


def approx_rows(rows):
    return {k: pytest.approx(v) for k, v in rows.items()}


def test_hand_worked_normalisation_groups_avg_and_ranking():
    r = composite(RAW)
    assert isinstance(r, CompositeResult)
    assert r.systems == ["A", "B", "C"]
    assert r.metrics == ["psnr", "lpips", "musiq", "vlm_r"]  # the specs' (paper's) column order
    # the metrics' specs, in that order, with the direction each column is read in (tables use them)
    assert [(s.name, s.higher_better) for s in r.specs] == [
        ("psnr", True),
        ("lpips", False),
        ("musiq", True),
        ("vlm_r", True),
    ]
    assert r.raw["B"] == RAW["B"]
    assert r.normalised == {
        "A": approx_rows({"psnr": 1.0, "lpips": 1.0, "musiq": 0.0, "vlm_r": 0.0}),
        "B": approx_rows({"psnr": 0.5, "lpips": 0.5, "musiq": 1.0, "vlm_r": 1.0}),
        "C": approx_rows({"psnr": 0.0, "lpips": 0.0, "musiq": 0.5, "vlm_r": 0.5}),
    }
    assert r.groups == {
        "A": approx_rows({"fidelity": 1.0, "perceptual": 0.0, "vlm": 0.0}),
        "B": approx_rows({"fidelity": 0.5, "perceptual": 1.0, "vlm": 1.0}),
        "C": approx_rows({"fidelity": 0.0, "perceptual": 0.5, "vlm": 0.5}),
    }
    assert r.avg == approx_rows({"A": 1 / 3, "B": 5 / 6, "C": 1 / 3})
    assert r.ranking() == ["B", "A", "C"]
    assert r.groups_used == {s: list(GROUPS) for s in "ABC"}
    assert r.ignored_metrics == []
    assert r.present_groups == list(GROUPS)


def test_lower_better_metric_is_inverted_via_spec():
    # lpips alone: the smallest value is the best (1.0), the largest the worst (0.0).
    assert get_spec("lpips").lower_better and not get_spec("psnr").lower_better
    r = composite({"x": {"lpips": 0.2}, "y": {"lpips": 0.6}, "z": {"lpips": 0.3}})
    # range .4: x (.6-.2)/.4 = 1, y 0, z (.6-.3)/.4 = 3/4
    assert {s: r.normalised[s]["lpips"] for s in "xyz"} == approx_rows({"x": 1.0, "y": 0.0, "z": 0.75})
    assert r.ranking() == ["x", "z", "y"]
    # the same numbers for a higher-is-better metric give the opposite order
    r = composite({"x": {"musiq": 0.2}, "y": {"musiq": 0.6}, "z": {"musiq": 0.3}})
    assert r.ranking() == ["y", "z", "x"]


def test_reordering_systems_changes_only_tie_breaks():
    r = composite({s: RAW[s] for s in ("C", "B", "A")})
    assert r.systems == ["C", "B", "A"]
    assert r.avg == approx_rows({"A": 1 / 3, "B": 5 / 6, "C": 1 / 3})
    assert r.ranking() == ["B", "C", "A"]  # A/C still tie, now C comes first in the input


def test_two_systems_tied_on_a_metric_share_the_best():
    # psnr 30, 30, 20: range 10 -> 1, 1, 0 (both tied systems are "best")
    r = composite({"A": {"psnr": 30.0}, "B": {"psnr": 30.0}, "C": {"psnr": 20.0}})
    assert [r.normalised[s]["psnr"] for s in "ABC"] == [1.0, 1.0, 0.0]
    assert r.ranking() == ["A", "B", "C"]


def test_all_equal_metric_gives_everyone_one():
    # max == min: every system gets 1.0 for that metric (lower-better too)
    raw = {s: {"psnr": 25.0, "lpips": 0.2, "musiq": float(i)} for i, s in enumerate("ABC")}
    r = composite(raw)
    for s in "ABC":
        assert r.normalised[s]["psnr"] == 1.0 and r.normalised[s]["lpips"] == 1.0
        assert r.groups[s]["fidelity"] == 1.0
    # musiq 0, 1, 2 -> 0, 1/2, 1; Avg = (1 + musiq) / 2 -> 1/2, 3/4, 1
    assert r.avg == approx_rows({"A": 0.5, "B": 0.75, "C": 1.0})
    assert r.ranking() == ["C", "B", "A"]


def test_single_system_scores_one_everywhere():
    r = composite({"only": {"psnr": 12.0, "lpips": 0.9, "niqe": 8.0, "vlm_r": 0.1}})
    assert r.normalised == {"only": {"psnr": 1.0, "lpips": 1.0, "niqe": 1.0, "vlm_r": 1.0}}
    assert r.groups == {"only": {"fidelity": 1.0, "perceptual": 1.0, "vlm": 1.0}}
    assert r.avg == {"only": 1.0}
    assert r.ranking() == ["only"]


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, "absent"])
def test_missing_value_is_left_out_of_the_group_mean(missing):
    raw = {s: dict(row) for s, row in RAW.items()}
    if missing == "absent":
        del raw["A"]["psnr"]
    else:
        raw["A"]["psnr"] = missing
    r = composite(raw)
    # psnr now over B, C only: 26 -> 1, 22 -> 0; A's fidelity is lpips alone (1.0)
    assert r.raw["A"]["psnr"] is None and r.normalised["A"]["psnr"] is None
    assert r.normalised["B"]["psnr"] == 1.0 and r.normalised["C"]["psnr"] == 0.0
    assert r.groups["A"]["fidelity"] == 1.0
    # B fidelity = mean(1, 1/2) = 3/4, C = mean(0, 0) = 0
    assert r.groups["B"]["fidelity"] == pytest.approx(0.75)
    assert r.groups["C"]["fidelity"] == 0.0
    # Avg: A (1 + 0 + 0)/3 = 1/3, B (3/4 + 1 + 1)/3 = 11/12, C (0 + 1/2 + 1/2)/3 = 1/3
    assert r.avg == approx_rows({"A": 1 / 3, "B": 11 / 12, "C": 1 / 3})


def test_metric_without_any_finite_value_is_ignored():
    raw = {"A": {"psnr": 30.0, "musiq": None}, "B": {"psnr": 20.0, "musiq": math.nan}}
    r = composite(raw, metrics=["psnr", "musiq", "vlm_r"])  # vlm_r absent everywhere
    assert r.metrics == ["psnr", "musiq", "vlm_r"]
    assert r.ignored_metrics == ["musiq", "vlm_r"]
    assert r.normalised["A"] == {"psnr": 1.0, "musiq": None, "vlm_r": None}
    # only the fidelity group is present: Avg is its score
    assert r.groups["A"] == {"fidelity": 1.0, "perceptual": None, "vlm": None}
    assert r.groups_used == {"A": ["fidelity"], "B": ["fidelity"]}
    assert r.avg == {"A": 1.0, "B": 0.0}
    assert r.present_groups == ["fidelity"]


def test_group_missing_for_one_system_averages_the_groups_it_has():
    raw = {s: dict(row) for s, row in RAW.items()}
    del raw["B"]["vlm_r"]
    r = composite(raw)
    # vlm_r over A (.25) and C (.5): A 0, C 1. B: no vlm group -> Avg = mean(fid 1/2, per 1) = 3/4
    assert r.groups["B"]["vlm"] is None
    assert r.groups_used["B"] == ["fidelity", "perceptual"]
    assert r.groups_used["A"] == list(GROUPS)
    assert r.avg["B"] == pytest.approx(0.75)
    # A (1 + 0 + 0)/3 = 1/3, C (0 + 1/2 + 1)/3 = 1/2
    assert r.avg["A"] == pytest.approx(1 / 3) and r.avg["C"] == pytest.approx(0.5)
    assert r.ranking() == ["B", "C", "A"]


def test_system_without_any_group_has_no_avg_and_ranks_last():
    r = composite({"empty": {}, "A": {"psnr": 20.0}, "B": {"psnr": 30.0}})
    assert r.avg == {"empty": None, "A": 0.0, "B": 1.0}
    assert r.groups_used["empty"] == []
    assert r.ranking() == ["B", "A", "empty"]


def test_groupless_metric_is_carried_but_never_enters_avg():
    assert get_spec("gmsd").group is None and get_spec("gmsd").lower_better
    with_extra = {s: {**row, "gmsd": g} for (s, row), g in zip(RAW.items(), (0.3, 0.1, 0.2), strict=True)}
    r = composite(with_extra)
    base = composite(RAW)
    assert "gmsd" in r.metrics and r.raw["A"]["gmsd"] == 0.3
    # gmsd (lower better) 0.3, 0.1, 0.2 -> A 0, B 1, C 1/2: normalised for the tables ...
    assert {s: r.normalised[s]["gmsd"] for s in "ABC"} == approx_rows({"A": 0.0, "B": 1.0, "C": 0.5})
    # ... but the groups and Avg are exactly those without it
    assert r.groups == base.groups and r.avg == base.avg
    # a table of extras only has no composite at all
    extras = composite({"A": {"gmsd": 0.1}, "B": {"gmsd": 0.2}})
    assert extras.avg == {"A": None, "B": None} and extras.present_groups == []


def test_metrics_argument_selects_and_orders_columns():
    r = composite(RAW, metrics=["vlm_r", "PSNR", "psnr"])  # case-insensitive, de-duplicated
    assert r.metrics == ["vlm_r", "psnr"]
    assert set(r.normalised["A"]) == {"vlm_r", "psnr"}
    # A: fid 1, vlm 0 -> 1/2 ; B: fid 1/2, vlm 1 -> 3/4 ; C: fid 0, vlm 1/2 -> 1/4
    assert r.avg == approx_rows({"A": 0.5, "B": 0.75, "C": 0.25})


def test_metric_names_are_canonicalised():
    r = composite({"A": {"PSNR": 30.0, " Lpips ": 0.2}, "B": {"psnr": 20.0, "lpips": 0.4}})
    assert r.metrics == ["psnr", "lpips"]
    assert r.normalised["A"] == {"psnr": 1.0, "lpips": 1.0}
    with pytest.raises(ValueError) as info:
        composite({"A": {"PSNR": 30.0, "psnr": 31.0}})
    assert str(info.value) == "system 'A': metric 'psnr' given twice (as 'psnr')"


def test_a_result_built_by_hand_derives_its_metrics_and_groups_used():
    result = CompositeResult(
        systems=["A", "B", "C"],
        raw={"A": {"lpips": 0.1, "psnr": 1.0}, "B": {"musiq": 3.0}, "C": {}},
        normalised={},
        groups={"A": {"fidelity": 0.5, "perceptual": None, "vlm": 0.0}, "B": {"perceptual": 1.0}},
        avg={},
    )
    assert result.metrics == ["psnr", "lpips", "musiq"]
    assert result.groups_used == {"A": ["fidelity", "vlm"], "B": ["perceptual"], "C": []}


def test_unknown_metric_raises_key_error_naming_it():
    with pytest.raises(KeyError, match="bogus_metric"):
        composite({"A": {"psnr": 1.0, "bogus_metric": 2.0}})
    with pytest.raises(KeyError, match="not_a_metric"):
        composite(RAW, metrics=["psnr", "not_a_metric"])


def test_non_numeric_value_raises_type_error():
    with pytest.raises(TypeError, match=r"'A'.*'psnr'"):
        composite({"A": {"psnr": "30"}})
    with pytest.raises(TypeError):
        composite({"A": {"psnr": True}})


def test_numpy_scalars_are_accepted():
    np = pytest.importorskip("numpy")
    r = composite({"A": {"psnr": np.float32(30.0)}, "B": {"psnr": np.float64(20.0)}})
    assert r.avg == {"A": 1.0, "B": 0.0} and isinstance(r.raw["A"]["psnr"], float)


def test_empty_input():
    r = composite({})
    assert r.systems == [] and r.ranking() == [] and r.metrics == []


# --- properties (hypothesis) --------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ggt_hf.metrics.specs import METRICS  # noqa: E402

_NAMES = ["psnr", "lpips", "musiq", "niqe", "vlm_r", "gmsd"]
_value = st.none() | st.floats(-100, 100, allow_nan=False)
_tables = st.dictionaries(
    st.sampled_from(["A", "B", "C", "D"]), st.fixed_dictionaries({m: _value for m in _NAMES}), min_size=1
)


@settings(max_examples=80, deadline=None)
@given(_tables, st.sampled_from(_NAMES), st.floats(0.01, 50))
def test_improving_one_metric_never_lowers_that_systems_scores(raw, metric, step):
    """Composite ordering is monotone in each metric's direction: moving one system's value of one
    metric in its better direction (others unchanged) never lowers its normalised value, its group
    score or its Avg, nor raises any other system's normalised value of that metric."""
    system = sorted(raw)[0]
    if raw[system][metric] is None:
        return
    better = raw[system][metric] + (-step if METRICS[metric].lower_better else step)
    improved = {s: {**row, metric: better} if s == system else dict(row) for s, row in raw.items()}
    before, after = composite(raw), composite(improved)
    assert after.normalised[system][metric] >= before.normalised[system][metric]
    group = METRICS[metric].group
    if group is not None:
        assert after.groups[system][group] >= before.groups[system][group] - 1e-12
    if before.avg[system] is not None:
        assert after.avg[system] >= before.avg[system] - 1e-12
    for other in raw:
        if other != system and before.normalised[other][metric] is not None:
            assert after.normalised[other][metric] <= before.normalised[other][metric] + 1e-12


@settings(max_examples=80, deadline=None)
@given(_tables)
def test_normalised_values_span_zero_to_one_with_the_best_at_one(raw):
    result = composite(raw)
    for metric in result.metrics:
        values = {s: result.normalised[s][metric] for s in raw if result.normalised[s][metric] is not None}
        if not values:
            assert metric in result.ignored_metrics
            continue
        assert all(0.0 <= v <= 1.0 for v in values.values())
        assert max(values.values()) == 1.0
        raws = {s: result.raw[s][metric] for s in values}
        best = (min if METRICS[metric].lower_better else max)(raws.values())
        assert all(values[s] == 1.0 for s in values if raws[s] == best)
    for s in raw:
        groups = [g for g in GROUPS if result.groups[s][g] is not None]
        assert result.groups_used[s] == groups
        if groups:
            assert result.avg[s] == pytest.approx(sum(result.groups[s][g] for g in groups) / len(groups))
        else:
            assert result.avg[s] is None
    assert sorted(result.ranking()) == sorted(raw)
