"""Leaderboard tables (:mod:`ggt_hf.leaderboard.table`) from hand-made results: the row owner rule,
the name fallbacks, Hub links, counts, filters and the composite's missing values."""

from __future__ import annotations

import logging

import pytest

from ggt_hf.leaderboard.table import (
    category_frame,
    column_datatypes,
    latest_per_model,
    leaderboard_frame,
    model_link,
    sort_ascending,
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
