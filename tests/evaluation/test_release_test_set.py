"""The paper's Table 2 loop on the GGT-100K test set: the raw release is packed once, ``ggt restore``
reads the packed test split (outputs named by the packed ids), ``ggt eval`` scores them against it,
and a training run folder (``train.output_dir``) is a model as it is."""

from __future__ import annotations

import json

import fsspec
import pytest

from ggt_hf.cli import main
from ggt_hf.restorers import build_restorer, load_restorer
from tests.hub.release_fixtures import official_like, write_files

#: The raw release as downloaded: the same file stems in every category (0000.png, 0001.png).
COUNTS = {("train", "Rain"): 1, ("test", "Rain"): 2, ("test", "Haze"): 2, ("test", "LowLight"): 1}


@pytest.fixture
def release(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_files(fsspec.filesystem("file"), str(tmp_path / "GGT-100K"), official_like(COUNTS))
    return tmp_path / "GGT-100K"


def test_the_raw_release_as_dataset_is_refused_naming_the_packing_step(release, capsys):
    (release.parent / "pred").mkdir()
    assert main(["eval", "--pred", "pred", "--dataset", "GGT-100K/GGT-100K", "--split", "test"]) == 2
    err = capsys.readouterr().err
    assert "a release of LQ/HQ pairs" in err and "ggt pack GGT-100K/GGT-100K" in err
    assert "--dataset packed --split test" in err


def test_restore_reads_a_packed_test_split_and_eval_matches_every_id(release, capsys):
    assert main(["pack", "GGT-100K/", "ggt-100k"]) == 0
    assert main(["restore", "--model", "identity", "ggt-100k", "pred/"]) == 0
    written = sorted(
        p.relative_to(release.parent / "pred").as_posix() for p in (release.parent / "pred").rglob("*.png")
    )
    assert len(written) == 5 and all(p.split("/")[0] in {"rain", "haze", "low_light"} for p in written)
    capsys.readouterr()
    code = main(["eval", "--pred", "pred/", "--dataset", "ggt-100k", "--split", "test", "--metrics", "psnr",
                 "--judge", "none", "--out", "nafnet_ggt.json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    result = json.loads((release.parent / "nafnet_ggt.json").read_text())
    assert len(result["per_image"]) == 5 and result["complete"] is True


def test_a_training_run_folder_is_its_final_model(tmp_path):
    model = build_restorer("nafnet", width=4, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    model.save_pretrained(tmp_path / "outputs" / "nafnet-ggt" / "final")
    (tmp_path / "outputs" / "nafnet-ggt" / "checkpoints").mkdir()
    loaded = load_restorer(str(tmp_path / "outputs" / "nafnet-ggt"), device="cpu")
    assert loaded.config == model.config
    with pytest.raises(Exception, match=r"config\.json"):  # unfinished: no final/ model, said so
        load_restorer(str(tmp_path / "outputs"), device="cpu")
