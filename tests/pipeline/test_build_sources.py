"""Build sources as users give them: a `ggt ingest` output folder used as-is, and config paths
relative to the config file (overrides relative to the working directory)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ggt_hf.ingest.normalize import NormalizePolicy
from ggt_hf.ingest.photos import IngestConfig, ingest, read_ingested
from ggt_hf.pipeline.build import build, item_ids
from ggt_hf.pipeline.config import BuildConfig
from ggt_hf.qc.review import ITEMS_DIR


def _photos(folder: Path, photos, n: int = 2) -> Path:
    for i, img in enumerate(photos[:n]):
        (folder / "rain").mkdir(parents=True, exist_ok=True)
        img.resize((128, 128)).save(folder / "rain" / f"p{i}.png")
    return folder


def test_config_paths_are_relative_to_the_config_file_and_overrides_to_the_cwd(tmp_path, monkeypatch):
    configs = tmp_path / "project" / "configs"
    configs.mkdir(parents=True)
    path = configs / "b.yaml"
    path.write_text("output: ../runs/a\nsources: [{path: ../photos}, {path: /abs/x}]\n")
    monkeypatch.chdir(tmp_path)
    config = BuildConfig.from_yaml("project/configs/b.yaml")
    assert Path(config.output) == tmp_path / "project" / "runs" / "a"
    assert [Path(s.path) for s in config.sources] == [tmp_path / "project" / "photos", Path("/abs/x")]
    overridden = BuildConfig.from_yaml("project/configs/b.yaml", ["output=here", "sources=[{path: mine}]"])
    assert overridden.output == "here" and overridden.sources[0].path == "mine"


def test_an_ingest_output_folder_is_used_as_is(tmp_path, monkeypatch, photos):
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "photos", photos)
    ingest(
        "photos", "work/ingest", IngestConfig(policy=NormalizePolicy(size=128), min_side=64), progress=False
    )
    before = (tmp_path / "work" / "ingest" / "ingested.jsonl").read_bytes()
    Path("build.yaml").write_text("output: work/run\nsources: [{path: work/ingest, license: cc0-1.0}]\n")
    config = BuildConfig.from_yaml("build.yaml")
    build(config, stage="ingest", progress=False)
    run = tmp_path / "work" / "run"
    assert not (run / "ingest").exists(), "the ingest folder was ingested again"
    assert (tmp_path / "work" / "ingest" / "ingested.jsonl").read_bytes() == before
    records = {r["id"]: r for r in read_ingested("work/ingest")}
    assert sorted(item_ids(run)) == sorted(records)
    for item_id in item_ids(run):
        item = json.loads((run / ITEMS_DIR / f"{item_id}.json").read_text())
        assert not os.path.isabs(item["lq_path"])
        assert (run / item["lq_path"]).resolve() == (tmp_path / "work" / "ingest" / records[item_id]["image"])
        assert item["category"] == "rain" and item["license"] == "cc0-1.0"
