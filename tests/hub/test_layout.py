"""Release layout detection: roles, splits and categories from names, archives, plan, refusal."""

from __future__ import annotations

import fsspec
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from ggt_hf.cli import main
from ggt_hf.constants import HubLayout
from ggt_hf.errors import PairingError
from ggt_hf.hub.layout import ReleaseSource, detect_layout, read_path
from ggt_hf.hub.mirror import pack_release
from ggt_hf.hub.validate import validate_folder

from .release_fixtures import image_bytes, official_like, tar_bytes, write_files, zip_bytes

OFFICIAL_COUNTS = {
    ("train", "Rain"): 3,
    ("train", "LowLight"): 2,
    ("test", "Rain"): 2,
    ("test", "OldPhoto"): 1,
}


@pytest.fixture
def memfs():
    fs = fsspec.filesystem("memory")
    yield fs
    fs.rm("/", recursive=True) if fs.exists("/rel") else None
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("GGT-100K/train/Rain/LQ/0001.png", ("train", "rain", "lq", "0001")),
        ("GGT-100K/LowLight/test/target/0001.jpg", ("test", "low_light", "hq", "0001")),
        ("rel/Old-Photo_train/x_GT.png", ("train", "old_photo", "hq", "x")),
        ("rel/testing/haze_input/9.webp", ("test", "haze", "lq", "9")),
        ("rel/snow/train/degraded/a.png", ("train", "snow", "lq", "a")),
        ("rel/snow/train/clean/a.png", ("train", "snow", "hq", "a")),
        ("rel/Hazy/Train/LOW/a.png", ("train", "haze", "lq", "a")),
        ("rel/low_light/test/a_high.png", ("test", "low_light", "hq", "a")),
    ],
)
def test_read_path_finds_split_category_role_and_id(rel, expected):
    reading = read_path(rel)
    assert (reading.split, reading.category, reading.role, reading.stem) == expected


def test_read_path_refuses_conflicting_roles():
    assert read_path("rel/train/rain/LQ/GT/a.png") == "conflicting roles in path: hq, lq"


def test_official_layout_plan_pack_and_load(tmp_path, capsys):
    src, out = tmp_path / "release", tmp_path / "out"
    files = official_like(OFFICIAL_COUNTS)
    del files["GGT-100K/test/Rain/GT/0001.png"]  # one pair without its HQ
    write_files(fsspec.filesystem("file"), str(src), files)

    assert main(["pack", str(src), str(out), "--plan"]) == 0
    plan_text = capsys.readouterr().out
    assert not out.exists()  # --plan writes nothing
    for line in (
        "GGT-100K/train/Rain/LQ/ → data / train / rain / lq (3)",
        "Existing-dataset/train/Rain/GT/ → baseline / train / rain / hq (1)",
        "data/rain/train: 3",
        "data/rain/test: 1",
        "data/low_light/train: 2",
        "data/old_photo/test: 1",
        "baseline/rain/train: 1",
        "GGT-100K/test/Rain/LQ/0001.png: missing HQ partner",
        "pretrained-model/: 2 × model folder",
        "./: 1 × not an image (.md)",
        "./: 1 × not an image (.mp4)",
    ):
        assert line in plan_text, line

    assert main(["pack", str(src), str(out)]) == 0
    printed = capsys.readouterr()
    assert "data/rain/train: 3" in printed.out and "baseline/rain/train: 1" in printed.out
    assert "missing HQ partner" in printed.err
    card = DatasetCard.load(out / HubLayout.CARD)
    configs = [c["config_name"] for c in card.data.to_dict()["configs"]]
    assert configs == ["default", "rain", "low_light", "old_photo", "baseline"]
    assert (out / HubLayout.EVAL_YAML).exists() and "--push-results" in card.text  # the benchmark, documented
    assert validate_folder(out, progress=False) == []
    rain = load_dataset(str(out), "rain")
    assert {k: v.num_rows for k, v in rain.items()} == {"train": 3, "test": 1}
    default = load_dataset(str(out))
    assert {k: v.num_rows for k, v in default.items()} == {"train": 5, "test": 2}
    ids = list(default["train"]["id"]) + list(default["test"]["id"])
    assert len(set(ids)) == 7 and "rain-0001" in ids  # "0000" etc. qualified by category where repeated
    assert load_dataset(str(out), "baseline", split="train").num_rows == 1
    # bytes are the release's, untouched
    shard = next((out / "data" / "old_photo").glob("test-*.parquet"))
    row = pq.read_table(shard).to_pylist()[0]
    assert row["lq"]["bytes"] == files["GGT-100K/test/OldPhoto/LQ/0000.png"]
    assert row["provenance"]["backend"] == "release"


def test_category_first_input_target_mixed_extensions(memfs):
    files = {}
    for category, split, n in (("Snow", "train", 3), ("Snow", "test", 2), ("Haze", "train", 1)):
        for i in range(n):
            files[f"GGT-100K/{category}/{split}/input/{i}.png"] = image_bytes(
                hash((category, split, i)) % 10**6
            )
            files[f"GGT-100K/{category}/{split}/target/{i}.jpg"] = image_bytes(i + 7, "JPEG")
    files["GGT-100K/Haze/train/input/extra.png"] = image_bytes(3)  # no target
    write_files(memfs, "/rel", files)
    plan = detect_layout(ReleaseSource("memory://rel"))
    assert plan.counts() == {
        ("data", "haze", "train"): 1,
        ("data", "snow", "test"): 2,
        ("data", "snow", "train"): 3,
    }
    assert [str(p) for p in plan.unmatched] == ["GGT-100K/Haze/train/input/extra.png: missing HQ partner"]
    pair = next(p for p in plan.pairs if p.category == "haze")
    assert (pair.lq.rel, pair.hq.rel) == (
        "GGT-100K/Haze/train/input/0.png",
        "GGT-100K/Haze/train/target/0.jpg",
    )


def test_archives_read_in_place_and_suffix_naming(memfs, tmp_path):
    haze = {f"LQ/h{i}.png": image_bytes(200 + i) for i in range(2)} | {
        f"GT/h{i}.png": image_bytes(300 + i) for i in range(2)
    }
    snow = {f"Snow/{i:04d}_lq.png": image_bytes(400 + i) for i in range(3)} | {
        f"Snow/{i:04d}_gt.png": image_bytes(500 + i) for i in range(3)
    }
    write_files(
        memfs,
        "/rel",
        {
            "test/Haze.zip": zip_bytes(haze),
            "train/Snow.tar": tar_bytes(snow),
            "train/rain/r1_LQ.png": image_bytes(600),
            "train/rain/r1_GT.webp": image_bytes(601, "WEBP"),
        },
    )
    source = ReleaseSource("memory://rel")
    plan = detect_layout(source)
    assert plan.counts() == {
        ("data", "haze", "test"): 2,
        ("data", "rain", "train"): 1,
        ("data", "snow", "train"): 3,
    }
    report = pack_release(plan, source, tmp_path / "out")
    assert sum(report.written.values()) == 6 and not report.problems
    table = pq.read_table(next((tmp_path / "out" / "data" / "haze").glob("test-*.parquet")))
    stored = {r["id"]: r["lq"]["bytes"] for r in table.to_pylist()}
    assert stored == {"h0": haze["LQ/h0.png"], "h1": haze["LQ/h1.png"]}  # member bytes, unchanged
    assert not list(tmp_path.glob("out/**/*.png"))  # nothing extracted next to the output


def test_ambiguous_layout_refused_with_plan_and_templates(memfs, tmp_path, capsys):
    write_files(memfs, "/rel", {f"photos/rain/train/{i}.png": image_bytes(i) for i in range(3)})
    plan = detect_layout(ReleaseSource("memory://rel"))
    assert plan.ambiguous
    with pytest.raises(PairingError) as exc:
        plan.check()
    text = str(exc.value)
    assert "ambiguous layout" in text and "no LQ/HQ role in its path or name" in text
    assert "--lq-template" in text and "photos/{category}/{split}/{id}.{ext}" in text
    assert main(["pack", "memory://rel", str(tmp_path / "out")]) == 1
    assert "ambiguous layout" in capsys.readouterr().err and not (tmp_path / "out" / "data").exists()


def test_role_first_layout_and_undetectable_baseline_is_skipped_not_blocking(memfs):
    files = {}
    for role, ext in (("LQ", "png"), ("GroundTruth", "jpg")):
        for category, split, n in (("dark", "training", 2), ("foggy", "testing", 3)):
            for i in range(n):
                files[f"rel/{role}/{category}/{split}/images/{i}.{ext}"] = image_bytes(
                    i, "JPEG" if ext == "jpg" else "PNG"
                )
    # LOL-style baseline folders: no train/test folder, so no split to give them
    files |= {
        f"rel/Existing-dataset/LOL/our485/{r}/{i}.png": image_bytes(i)
        for r in ("low", "high")
        for i in range(2)
    }
    write_files(memfs, "/rel", files)
    plan = detect_layout(ReleaseSource("memory://rel"))
    assert not plan.ambiguous
    assert plan.counts() == {("data", "haze", "test"): 3, ("data", "low_light", "train"): 2}
    assert (
        plan.skipped[
            (
                "rel/Existing-dataset/LOL/our485/low",
                "baseline image with no train/test split in its path or name",
            )
        ]
        == 2
    )
    # given a split, the same baseline folders are detected
    with_split = detect_layout(ReleaseSource("memory://rel"), split="train")
    assert with_split.counts()[("baseline", "low_light", "train")] == 2
