"""Leaderboard tables (:mod:`ggt_hf.leaderboard.table`) from hand-made results: the row owner rule,
the name fallbacks, Hub links, counts, filters and the composite's missing values."""

from __future__ import annotations

import logging
import math
import re

import pytest

from ggt_hf.leaderboard.table import (
    TABLE_CATEGORIES,
    category_frame,
    column_datatypes,
    latest_per_model,
    leaderboard_frame,
    model_link,
    sort_ascending,
    sort_frame,
)


def result(model, *, at="2026-01-01", file=None, owner=None, meta_model=True, **extra):
    meta = {"submitted_at": at, "file": file or f"{model}-{at}.json", "owner": owner}
    if meta_model:
        meta["model"] = model
    return {"model": model, "overall": {"psnr": 20.0}, "leaderboard": meta, **extra}


def test_latest_result_of_each_row_wins_by_time_then_file_name():
    rows = [
        result("m", at="2026-01-02", file="c.json"),
        result("m", at="2026-01-02", file="b.json"),
        result("m", at="2026-01-01", file="z.json"),
        result("other", at="2026-01-03"),
    ]
    assert [r["leaderboard"]["file"] for r in latest_per_model(rows)] == ["c.json", "other-2026-01-03.json"]


def test_a_later_result_from_another_owner_is_ignored_and_logged(caplog):
    first = result("Team-Net", owner="alice", at="2026-01-01")
    mine = result("team_net", owner="alice", at="2026-01-03")
    intruder = result("TEAM.NET", owner="mallory", at="2026-01-02", file="x.json")
    with caplog.at_level(logging.WARNING, logger="ggt_hf.leaderboard.table"):
        assert latest_per_model([intruder, mine, first]) == [mine]
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring result x.json for 'team-net': submitted by 'mallory', the row belongs to 'alice'"
    ]


def test_results_without_a_leaderboard_model_fall_back_to_their_own_name():
    rows = [result("plain", meta_model=False), {"model": "bare", "overall": {"psnr": 30.0}}]
    # a result without submission time or file sorts first
    assert [r["model"] for r in latest_per_model(rows)] == ["bare", "plain"]
    frame = leaderboard_frame(rows, links=False)
    assert list(frame["Model"]) == ["bare", "plain"]
    assert list(frame["Type"]) == ["predictions", "predictions"]
    assert list(frame["Submitted"]) == ["", "2026-01-01"]
    assert list(category_frame(rows, "psnr", links=False)["Model"]) == ["bare", "plain"]


@pytest.mark.parametrize(
    ("repo", "linked"),
    [
        ("org/model", True),
        (None, False),
        ("", False),
        ("model", False),
        ("/abs/org", False),
        ("./org/model", False),
        ("~/org", False),
        ("a/b/c", False),
    ],
)
def test_only_hub_repo_ids_become_links(repo, linked):
    expected = f"[n]({'https://huggingface.co'}/{repo})" if linked else "n"
    assert model_link("n", repo) == expected


def test_link_labels_escape_markdown():
    assert model_link("a|b[c]", None) == "a\\|b\\[c\\]"
    assert model_link("a|b[c]", "o/r") == "[a\\|b\\[c\\]](https://huggingface.co/o/r)"


def test_images_count_and_filters():
    rows = [
        {**result("a"), "counts": {"rain": 2, "haze": 3}, "complete": True},
        {**result("b"), "per_category": {"rain": {"psnr": 1.0}}},
        {**result("c"), "overall": {"psnr": 10.0, "not_a_metric": 5.0}, "counts": {"haze": 1}},
    ]
    frame = leaderboard_frame(rows, links=False).set_index("Model")
    assert frame["Images"].to_dict() == {"a": 5, "b": 0, "c": 1}
    assert frame["Complete"].to_dict() == {"a": True, "b": False, "c": False}
    assert "not_a_metric" not in "".join(frame.columns)
    rain = leaderboard_frame(rows, category="rain", links=False)
    assert list(rain["Model"]) == ["b"] and list(rain["Images"]) == [0]
    assert list(leaderboard_frame(rows, complete_only=True, links=False)["Model"]) == ["a"]
    assert list(leaderboard_frame(rows, model_types=["predictions"], links=False)["Rank"]) == [1, 2, 3]
    assert leaderboard_frame(rows, model_types=["model"]).empty


def test_only_extra_metrics_leave_avg_missing_and_keep_the_columns():
    """Scores outside every composite group: no Avg to rank by, the rows stay in input order and
    the metric columns are still shown."""
    rows = [
        {**result("x"), "overall": {"gmsd": 0.2}},
        {**result("y"), "overall": {"gmsd": 0.1}},
    ]
    frame = leaderboard_frame(rows, links=False)
    assert frame["Avg"].isna().all()
    assert list(frame["Model"]) == ["x", "y"] and list(frame["Rank"]) == [1, 2]
    assert list(frame.columns) == ["Rank", "Model", "Type", "Avg", "GMSD↓", "Images", "Complete", "Submitted"]
    assert list(frame["GMSD↓"]) == [0.2, 0.1]


def test_group_filter_keeps_extra_metrics_by_their_group_name():
    rows = [
        {**result("x"), "overall": {"psnr": 20.0, "gmsd": 0.2}},
        {**result("y"), "overall": {"psnr": 30.0}},
    ]
    extra = leaderboard_frame(rows, groups=["extra"], links=False)
    assert list(extra.columns) == ["Rank", "Model", "Type", "Avg", "GMSD↓", "Images", "Complete", "Submitted"]
    assert list(extra["Model"]) == ["y", "x"]  # Avg still ranks by every metric


def test_category_frame_shows_the_leaderboard_name_and_links_it():
    row = {**result("raw-name"), "leaderboard": {"model": "Shown", "model_repo": "org/shown"}}
    assert list(category_frame([row], "psnr", links=False)["Model"]) == ["Shown"]
    assert list(category_frame([row], "psnr")["Model"]) == ["[Shown](https://huggingface.co/org/shown)"]


def test_category_frame_sorts_lower_better_metrics_ascending_missing_last():
    rows = [
        {**result("hi"), "overall": {"lpips": 0.5}},
        {**result("none"), "overall": {}},
        {**result("lo"), "overall": {"lpips": 0.1}, "per_category": {"rain": {"lpips": 0.2}}},
    ]
    frame = category_frame(rows, "lpips")
    assert list(frame["Model"]) == ["lo", "hi", "none"]
    assert list(frame.columns) == [
        "Model",
        "overall",
        "general",
        "rain",
        "haze",
        "snow",
        "low_light",
        "old_photo",
    ]
    assert frame.loc[0, "rain"] == 0.2


def test_sort_directions_and_datatypes():
    assert sort_ascending("Rank") and sort_ascending("Model")
    assert not sort_ascending("Fidelity") and not sort_ascending("VLM") and not sort_ascending("MUSIQ↑")
    assert sort_ascending("NIQE↓")
    frame = leaderboard_frame([result("a")])
    assert column_datatypes(frame) == [
        "number",
        "markdown",
        "str",
        "number",
        "number",
        "number",
        "number",
        "bool",
        "str",
    ]


def _fake(
    model: str, psnr: float, lpips: float, kind: str = "model", repo: str | None = None, **extra
) -> dict:
    overall = {"psnr": psnr, "lpips": lpips, "gmsd": 0.1}
    return {
        "format": "ggt-eval-results",
        "model": model,
        "complete": True,
        "counts": {"rain": 2, "haze": 1},
        "overall": overall,
        "per_category": {"rain": {"psnr": psnr + 1, "lpips": lpips}, "haze": {"psnr": psnr - 1}},
        "leaderboard": {"model": model, "model_type": kind, "model_repo": repo, "submitted_at": "2026-01-01"},
        **extra,
    }


def test_table_columns_composite_sorting_and_filters():
    results = [
        _fake("org/a", 30.0, 0.30, repo="org/a"),
        _fake("b", 25.0, 0.10, kind="predictions"),
        _fake("c", 20.0, 0.50, repo="/local/path"),
        {
            **_fake("c", 35.0, 0.05),
            "leaderboard": {**_fake("c", 0, 0)["leaderboard"], "submitted_at": "2026-02-01"},
        },
    ]
    frame = leaderboard_frame(results)
    assert list(frame.columns) == [
        *("Rank", "Model", "Type", "Avg", "Fidelity", "PSNR↑", "LPIPS↓", "GMSD↓"),
        *("Images", "Complete", "Submitted"),
    ]
    # the latest "c" (35 dB, LPIPS 0.05) replaces the older one and is best on both metrics;
    # min-max composite: b = mean(psnr (25-25)/10, lpips (0.30-0.10)/0.25) = 0.4 beats a = 0.25
    assert list(frame["Model"]) == ["c", "b", "[org/a](https://huggingface.co/org/a)"]
    assert frame["Avg"].tolist() == pytest.approx([1.0, 0.4, 0.25])
    a = frame.set_index("Model").loc["[org/a](https://huggingface.co/org/a)"]
    assert a["Avg"] == pytest.approx(((30 - 25) / 10 + (0.30 - 0.30) / 0.25) / 2)
    assert frame.loc[0, "Images"] == 3
    assert column_datatypes(frame)[:4] == ["number", "markdown", "str", "number"]
    assert column_datatypes(frame)[-2] == "bool"

    by_lpips = sort_frame(frame, "LPIPS↓")
    assert list(by_lpips["LPIPS↓"]) == sorted(frame["LPIPS↓"])
    assert sort_ascending("LPIPS↓") and not sort_ascending("PSNR↑") and not sort_ascending("Avg")
    with pytest.raises(KeyError, match="no column"):
        sort_frame(frame, "Nope")

    rain = leaderboard_frame(results, category="rain", links=False)
    assert "GMSD↓" not in rain.columns and list(rain["Images"]) == [2, 2, 2]
    assert rain.set_index("Model").loc["b", "PSNR↑"] == 26.0
    only_models = leaderboard_frame(results, model_types=["model"], links=False)
    assert set(only_models["Model"]) == {"org/a", "c"}
    fidelity = leaderboard_frame(results, groups=["fidelity"], links=False)
    assert "GMSD↓" not in fidelity.columns and "PSNR↑" in fidelity.columns
    assert list(leaderboard_frame(results, query="ORG", links=False)["Model"]) == ["org/a"]
    with pytest.raises(ValueError, match="unknown category"):
        leaderboard_frame(results, category="fog")
    assert leaderboard_frame([]).empty

    per_category = category_frame(results, "psnr", links=False)
    assert list(per_category["Model"]) == ["c", "org/a", "b"]
    assert per_category.set_index("Model").loc["b", "haze"] == 24.0


def shown_as(raw, shown, *, at="2026-01-01", **meta):
    """A result stored under the raw name ``raw`` and submitted under the name ``shown``."""
    row = result(raw, at=at)
    return {**row, "leaderboard": {**row["leaderboard"], "model": shown, **meta}}


def test_the_submitted_name_keys_and_names_the_row_not_the_results_own_name():
    first = shown_as("run-1", "Net", at="2026-01-01", model_repo="org/net")
    second = {**shown_as("run-2", "net", at="2026-01-02", model_repo="org/net2"), "overall": {"psnr": 31.0}}
    assert latest_per_model([first, second]) == [second]  # one row: "Net" and "net" are one name
    frame = leaderboard_frame([first, second])
    assert list(frame["Model"]) == ["[net](https://huggingface.co/org/net2)"]
    assert list(frame["PSNR↑"]) == [31.0]
    assert list(leaderboard_frame([first, second], links=False)["Model"]) == ["net"]


def test_results_without_any_leaderboard_record_keep_one_row_and_no_intruder(caplog):
    """Results from before submissions were recorded (no ``leaderboard`` key, no owner): the later
    one replaces the row; a later owned result under that name is not the row's and is logged."""
    old = {"model": "old", "overall": {"psnr": 20.0}}
    newer = {"model": "old", "overall": {"psnr": 25.0}}
    assert latest_per_model([old, newer]) == [newer]
    intruder = result("old", owner="mallory", at="2026-01-02", file="x.json")
    with caplog.at_level(logging.WARNING, logger="ggt_hf.leaderboard.table"):
        assert latest_per_model([intruder, old]) == [old]
    assert [r.getMessage() for r in caplog.records] == [
        "ignoring result x.json for 'old': submitted by 'mallory', the row belongs to None"
    ]


def test_a_result_without_a_file_name_is_older_than_one_with_it_at_the_same_time():
    named = result("m", at="2026-01-01", file="0.json")
    unnamed = {**result("m", at="2026-01-01"), "leaderboard": {"model": "m", "submitted_at": "2026-01-01"}}
    assert latest_per_model([named, unnamed]) == [named]
    assert latest_per_model([unnamed, named]) == [named]


def test_an_unknown_category_names_the_choices():
    expected = "unknown category 'fog'; choose from overall, general, rain, haze, snow, low_light, old_photo"
    with pytest.raises(ValueError, match=re.escape(expected)):
        leaderboard_frame([result("a")], category="fog")


def test_type_column_comes_from_the_submission_kind():
    rows = [result("pred"), shown_as("mod", "mod", model_type="model")]
    frame = leaderboard_frame(rows, links=False)
    assert frame.set_index("Model")["Type"].to_dict() == {"pred": "predictions", "mod": "model"}
    assert list(leaderboard_frame(rows, model_types=["model"], links=False)["Model"]) == ["mod"]


def test_name_query_is_case_insensitive_and_a_hidden_row_hides_no_other():
    rows = [result("Other"), result("MyNet", at="2026-01-02"), result("NETWORK", at="2026-01-03")]
    assert list(leaderboard_frame(rows, query="nEt", links=False)["Model"]) == ["MyNet", "NETWORK"]
    incomplete_first = [result("a"), {**result("b", at="2026-01-02"), "complete": True}]
    assert list(leaderboard_frame(incomplete_first, complete_only=True, links=False)["Model"]) == ["b"]


def test_images_of_a_category_are_that_categorys_count():
    row = {
        **result("a"),
        "counts": {"rain": 2, "haze": 3},
        "per_category": {"rain": {"psnr": 1.0}, "snow": {"psnr": 2.0}},
    }
    assert list(leaderboard_frame([row])["Images"]) == [5]
    assert list(leaderboard_frame([row], category="rain")["Images"]) == [2]
    assert list(leaderboard_frame([row], category="snow")["Images"]) == [0]


def _alternating(n):
    """``n`` results submitted in order m00, m01, ...; every other one scores higher (ties in Avg)."""
    return [
        {**result(f"m{i:02d}", at=f"2026-01-01T00:{i:02d}"), "overall": {"psnr": 20.0 + 10 * (i % 2)}}
        for i in range(n)
    ]


def test_equal_avg_keeps_submission_order_on_a_large_board():
    """40 rows with two distinct scores: ties stay in submission order (a stable sort), best first."""
    rows = _alternating(40)
    frame = leaderboard_frame(rows, links=False)
    names = [f"m{i:02d}" for i in range(40)]
    assert list(frame["Model"]) == names[1::2] + names[0::2]
    assert list(frame["Avg"]) == [1.0] * 20 + [0.0] * 20 and list(frame["Rank"]) == list(range(1, 41))
    per_metric = category_frame(rows, "psnr", links=False)
    assert list(per_metric["Model"]) == names[1::2] + names[0::2]


def test_a_board_without_results():
    assert list(category_frame([], "psnr").columns) == ["Model", *TABLE_CATEGORIES]
    frame = leaderboard_frame([])
    assert frame.empty and list(frame.columns) == [
        "Rank",
        "Model",
        "Type",
        "Avg",
        "Images",
        "Complete",
        "Submitted",
    ]


def test_a_nan_score_is_missing_and_a_column_without_values_is_dropped():
    rows = [
        {**result("a"), "overall": {"psnr": 30.0, "lpips": math.nan, "ssim": math.nan}},
        {**result("b"), "overall": {"psnr": 20.0, "lpips": 0.2, "ssim": math.nan}},
    ]
    frame = leaderboard_frame(rows, links=False)
    assert "SSIM↑" not in frame.columns  # NaN everywhere: no column
    assert list(frame["Model"]) == ["a", "b"]
    # a's missing LPIPS leaves its Avg to PSNR alone (best: 1.0); b is worst on PSNR, only one on LPIPS
    assert frame["Avg"].tolist() == pytest.approx([1.0, 0.5])
    assert math.isnan(frame.loc[0, "LPIPS↓"])


def test_sort_frame_orders_best_first_by_the_columns_direction_missing_last():
    frame = leaderboard_frame(
        [
            {**result("a"), "overall": {"psnr": 30.0, "lpips": 0.3}},
            {**result("b"), "overall": {"psnr": 25.0}},
            {**result("c"), "overall": {"psnr": 20.0, "lpips": 0.1}},
            {**result("d"), "overall": {"psnr": 25.0, "lpips": 0.2}},
        ],
        links=False,
    )
    assert list(sort_frame(frame, "LPIPS↓")["Model"]) == ["c", "d", "a", "b"]
    assert list(sort_frame(frame, "PSNR↑")["Model"]) == ["a", "b", "d", "c"]  # tie b, d: table order
    by_model = sort_frame(frame, "Model")
    assert list(by_model["Model"]) == ["a", "b", "c", "d"] and list(by_model.index) == [0, 1, 2, 3]
    assert list(by_model.columns) == list(frame.columns)  # the old index is not kept as a column
    assert list(sort_frame(by_model, "Rank")["Model"]) == list(frame["Model"])
    with pytest.raises(KeyError, match=re.escape("no column 'Nope'; columns: Rank, Model, Type, Avg")):
        sort_frame(frame, "Nope")


def test_sort_frame_keeps_ties_in_table_order_on_a_large_board():
    frame = leaderboard_frame(_alternating(40), links=False)
    shuffled = frame.iloc[::-1].reset_index(drop=True)
    high, low = (list(shuffled.loc[shuffled["PSNR↑"] == v, "Model"]) for v in (30.0, 20.0))
    assert high[:2] == ["m39", "m37"] and low[:2] == ["m38", "m36"]
    assert list(sort_frame(shuffled, "PSNR↑")["Model"]) == high + low
