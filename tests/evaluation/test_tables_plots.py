"""Table-1 / Table-2 Markdown, CSV and JSON of a composite, and its radar and bar plots."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from ggt_hf.evaluation.composite import composite
from ggt_hf.evaluation.plots import avg_bar_chart, radar_chart
from ggt_hf.evaluation.tables import category_table, markdown_table, to_json, write_csv

# Same hand-worked table as test_composite.py, plus an extra (group None, lower better) metric:
#            psnr↑  lpips↓  musiq↑  vlm_r↑  gmsd↓
#   A          30    0.1      50    0.25    0.3
#   B          26    0.3      70    0.75    0.1
#   C          22    0.5      60    0.50    0.2
# groups: A (1, 0, 0), B (1/2, 1, 1), C (0, 1/2, 1/2); Avg A 1/3, B 5/6, C 1/3; ranking B, A, C.
# Best cells: psnr A (max), lpips A (min, 0.1), musiq B, vlm_r B, gmsd B (min, 0.1),
# Fidelity A, Perceptual B, VLM B, Avg. B.
RAW = {
    "A": {"psnr": 30.0, "lpips": 0.1, "musiq": 50.0, "vlm_r": 0.25, "gmsd": 0.3},
    "B": {"psnr": 26.0, "lpips": 0.3, "musiq": 70.0, "vlm_r": 0.75, "gmsd": 0.1},
    "C": {"psnr": 22.0, "lpips": 0.5, "musiq": 60.0, "vlm_r": 0.50, "gmsd": 0.2},
}


def parse_markdown(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Header and rows (first cell → header → cell) of the first Markdown table in ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "").replace(":", "")) == {"-"}
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header)
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return header, rows


def bold_rows(rows: dict[str, dict[str, str]], column: str) -> list[str]:
    return [name for name, row in rows.items() if row[column].startswith("**")]


def test_markdown_table_columns_arrows_and_bold_per_direction():
    text = markdown_table(composite(RAW), title="Bench")
    assert text.startswith("### Bench\n")
    header, rows = parse_markdown(text)
    assert header == [
        "System",
        "PSNR↑",
        "LPIPS↓",
        "MUSIQ↑",
        "VLM-R↑",
        "GMSD↓",
        "Fidelity",
        "Perceptual",
        "VLM",
        "Avg.",
    ]
    assert list(rows) == ["A", "B", "C"]  # input order unless sort=True
    assert rows["A"]["PSNR↑"] == "**30.0000**" and rows["C"]["PSNR↑"] == "22.0000"
    assert bold_rows(rows, "PSNR↑") == ["A"]  # the largest
    assert bold_rows(rows, "LPIPS↓") == ["A"]  # the smallest, 0.1 (not C's 0.5)
    assert rows["A"]["LPIPS↓"] == "**0.1000**"
    assert bold_rows(rows, "MUSIQ↑") == ["B"]
    assert bold_rows(rows, "VLM-R↑") == ["B"]
    assert bold_rows(rows, "GMSD↓") == ["B"]  # groupless extra: bolded by its spec's direction too
    assert bold_rows(rows, "Fidelity") == ["A"]
    assert bold_rows(rows, "Perceptual") == ["B"] and bold_rows(rows, "VLM") == ["B"]
    assert bold_rows(rows, "Avg.") == ["B"]
    assert rows["B"]["Avg."] == "**0.8333**" and rows["A"]["Avg."] == "0.3333"


def test_markdown_table_sort_digits_ties_and_missing():
    raw = {
        "A": {"psnr": 30.0, "lpips": 0.2},
        "B": {"psnr": 30.0, "lpips": None},
        "C|x": {"psnr": 20.0, "lpips": 0.4},
    }
    r = composite(raw)
    text = markdown_table(r, digits=2, sort=True)
    assert "###" not in text
    assert "C\\|x" in text  # pipes in names are escaped
    header, rows = parse_markdown(text.replace("\\|", "/"))
    # no perceptual / vlm metric: those group columns are left out
    assert header == ["System", "PSNR↑", "LPIPS↓", "Fidelity", "Avg."]
    # A: fid mean(1, 1) = 1; B: psnr 1, lpips missing -> 1; C: 0 -> ranking A, B, C
    assert list(rows) == ["A", "B", "C/x"]
    assert bold_rows(rows, "PSNR↑") == ["A", "B"]  # a tie: both bold
    assert rows["B"]["LPIPS↓"] == "—"
    assert bold_rows(rows, "LPIPS↓") == ["A"]
    assert rows["C/x"]["PSNR↑"] == "20.00"
    # metrics argument selects columns
    header, _ = parse_markdown(markdown_table(r, ["lpips"]).replace("\\|", "/"))
    assert header == ["System", "LPIPS↓", "Fidelity", "Avg."]


def test_category_table_shape():
    per_category = {
        "overall": {"psnr": 25.0, "lpips": 0.25},
        "rain": {"psnr": 24.0, "lpips": 0.3},
        "haze": {"psnr": 26.5, "lpips": float("nan")},
        "low_light": {"psnr": 25.125},
    }
    text = category_table(per_category, ["psnr", "lpips"], digits=3, title="Per category")
    assert text.startswith("### Per category")
    header, rows = parse_markdown(text)
    assert header == ["Category", "PSNR↑", "LPIPS↓"]
    assert list(rows) == ["rain", "haze", "low_light", "**overall**"]  # overall moved last
    assert rows["rain"] == {"Category": "rain", "PSNR↑": "24.000", "LPIPS↓": "0.300"}
    assert rows["haze"]["LPIPS↓"] == "—" and rows["low_light"]["LPIPS↓"] == "—"
    assert rows["**overall**"]["PSNR↑"] == "25.000"
    assert "**" not in text.replace("**overall**", "")  # no competitor bolding in Table 2


def test_write_csv_round_trip(tmp_path):
    raw = {s: dict(row) for s, row in RAW.items()}
    raw["C"]["musiq"] = None
    r = composite(raw)
    path = write_csv(r, tmp_path / "sub" / "table1.csv")
    assert path == tmp_path / "sub" / "table1.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["system"] for row in rows] == ["A", "B", "C"]
    assert rows[0].keys() >= {"rank", "psnr", "lpips_norm", "fidelity", "perceptual", "vlm", "avg"}
    for row in rows:
        s = row["system"]
        for m in r.metrics:
            expected = r.raw[s][m]
            assert (row[m] == "") if expected is None else float(row[m]) == expected
            norm = r.normalised[s][m]
            assert (row[f"{m}_norm"] == "") if norm is None else float(row[f"{m}_norm"]) == norm
        for g in ("fidelity", "perceptual", "vlm"):
            score = r.groups[s][g]
            assert (row[g] == "") if score is None else float(row[g]) == score
        assert float(row["avg"]) == r.avg[s]  # full precision survives
        assert row["groups_used"] == ";".join(r.groups_used[s])
    # C lost its only perceptual metric: the group is empty and Avg is over the other two
    assert rows[2]["perceptual"] == "" and rows[2]["groups_used"] == "fidelity;vlm"
    assert {row["system"]: int(row["rank"]) for row in rows} == {
        s: i for i, s in enumerate(r.ranking(), start=1)
    }


def test_to_json_is_serialisable_and_carries_the_specs():
    raw = {s: dict(row) for s, row in RAW.items()}
    raw["A"]["psnr"] = float("nan")
    r = composite(raw)
    data = to_json(r)
    text = json.dumps(data, allow_nan=False)  # no NaN / inf leaks into the JSON
    back = json.loads(text)
    assert back == data
    assert back["ranking"] == r.ranking() and back["systems"] == ["A", "B", "C"]
    specs = {m["name"]: m for m in back["metrics"]}
    assert list(specs) == ["psnr", "lpips", "musiq", "vlm_r", "gmsd"]
    assert specs["lpips"] == {
        "name": "lpips",
        "title": "LPIPS",
        "mode": "FR",
        "lower_better": True,
        "group": "fidelity",
    }
    assert specs["gmsd"]["group"] is None
    assert back["raw"]["A"]["psnr"] is None
    assert back["avg"]["B"] == pytest.approx(r.avg["B"])
    assert back["group_scores"]["C"] == r.groups["C"]
    assert back["groups"] == ["fidelity", "perceptual", "vlm"]


def _check_png(path, min_bytes=5_000) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > min_bytes
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.verify()
    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB"))
    assert arr.shape[0] > 200 and arr.shape[1] > 300
    assert arr.std() > 5  # not a blank canvas
    return arr


def test_radar_and_bar_charts_are_valid_pngs(tmp_path):
    r = composite(RAW)
    radar = radar_chart(r, tmp_path / "plots" / "radar.png")
    bar = avg_bar_chart(r, tmp_path / "plots" / "avg.png")
    assert radar == tmp_path / "plots" / "radar.png" and bar == tmp_path / "plots" / "avg.png"
    _check_png(radar)
    _check_png(bar)


def test_radar_differs_between_inputs(tmp_path):
    first = radar_chart(composite(RAW), tmp_path / "a.png")
    swapped = {"A": RAW["C"], "B": RAW["A"], "C": RAW["B"]}
    swapped["C"] = {**swapped["C"], "musiq": 40.0}
    second = radar_chart(composite(swapped), tmp_path / "b.png")
    a, b = _check_png(first), _check_png(second)
    assert a.shape != b.shape or np.abs(a.astype(int) - b.astype(int)).mean() > 0.1


def test_plots_handle_missing_groups_and_avg(tmp_path):
    # psnr only (one radar axis), a system with no score at all (no Avg)
    r = composite({"A": {"psnr": 30.0}, "B": {"psnr": 20.0}, "none": {}})
    _check_png(radar_chart(r, tmp_path / "radar1.png"), min_bytes=2_000)
    _check_png(avg_bar_chart(r, tmp_path / "bar1.png"), min_bytes=2_000)
    # nothing to plot at all: still a PNG with a message
    empty = composite({"A": {"gmsd": 0.1}})
    with Image.open(radar_chart(empty, tmp_path / "radar0.png")) as img:
        assert img.format == "PNG"
