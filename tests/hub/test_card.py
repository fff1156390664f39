"""The dataset card: YAML configs, dataset_info, counts and preview, all derived from shards."""

from __future__ import annotations

from huggingface_hub import DatasetCard
from PIL import Image

from ggt_hf.constants import CATEGORIES, HubLayout
from ggt_hf.hub.card import CardInfo, finalize_folder, list_shards, render_grid, sample_tiles, size_category
from ggt_hf.hub.pack import PackConfig, pack
from ggt_hf.hub.pairs import pairs_from_dir


def test_card_yaml_configs_and_counts(make_pairs_dir, tmp_path):
    records, _ = pairs_from_dir(make_pairs_dir(n=7), split="train")
    out = tmp_path / "ds"
    pack(
        records,
        out,
        PackConfig(card=CardInfo(pretty_name="My GGT", license="cc-by-4.0", repo_id="me/ggt")),
        progress=False,
    )
    card = DatasetCard.load(out / HubLayout.CARD)
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0" and data["pretty_name"] == "My GGT"
    assert data["task_categories"] == ["image-to-image"] and data["size_categories"] == ["n<1K"]
    configs = {c["config_name"]: c for c in data["configs"]}
    assert list(configs) == ["default", *CATEGORIES]
    assert configs["default"]["default"] is True
    assert configs["default"]["data_files"] == [{"split": "train", "path": "data/*/train-*.parquet"}]
    assert configs["snow"]["data_files"] == [{"split": "train", "path": "data/snow/train-*.parquet"}]
    infos = {i["config_name"]: i for i in data["dataset_info"]}
    assert infos["default"]["splits"][0]["num_examples"] == 7
    assert infos["general"]["splits"][0]["num_examples"] == 2  # p0 and p6
    assert "| General (mixed) | 2 | `general` |" in card.text
    assert 'load_dataset("me/ggt")' in card.text
    assert "![LQ | HQ samples per category](assets/sample_grid.jpg)" in card.text
    grid = Image.open(out / HubLayout.SAMPLE_GRID)
    tiles = len(sample_tiles(out, list_shards(out)))  # 7 pairs over 6 categories: 7 tiles
    assert tiles == 7 and grid.size == (2 * 2 * 192 + 8, 4 * (192 + 22))

    # repacking without card info keeps what the folder's manifest recorded
    finalize_folder(out)
    assert DatasetCard.load(out / HubLayout.CARD).data.pretty_name == "My GGT"


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 103_707, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "100K<n<1M",
        "1M<n<10M",
    ]


def test_sample_grid_labels_each_tile_with_category_and_side(tmp_path):
    import io

    import numpy as np

    def png(value: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (value,) * 3).save(buf, format="PNG")
        return buf.getvalue()

    labelled = np.asarray(Image.open(io.BytesIO(render_grid([("rain", png(255), png(255))], tile=64))))
    assert labelled.shape[:2] == (64 + 22, 2 * 2 * 64 + 8)  # two pairs per row
    strip, image = labelled[:22], labelled[22:]
    assert (image > 200).all()  # a white pair stays white below the captions
    for left in (0, 64):  # "Rain: LQ" over the LQ tile, "Rain: HQ" over the HQ tile: dark text
        assert (strip[:, left : left + 64] < 100).sum() > 20
