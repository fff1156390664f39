"""SpaceConfig from the environment, `ggt space` / spaces/app.py addresses, the restorer choices,
the Review tab mount, and the Space folder's deploy files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from ggt_hf.commands import COMMANDS  # noqa: E402
from ggt_hf.commands import space as space_command  # noqa: E402
from ggt_hf.constants import CATEGORIES  # noqa: E402
from ggt_hf.space import SpaceConfig  # noqa: E402
from ggt_hf.space.config import DEFAULT_DELTA_METRICS, parse_models  # noqa: E402
from ggt_hf.space.restoration import RestoreService  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def test_config_from_env_and_overrides(tmp_path: Path) -> None:
    env = {
        "GGT_SPACE_STORE": str(tmp_path / "s"),
        "GGT_SPACE_MODELS": "tiny=/models/tiny, user/nafnet-ggt",
        "GGT_SPACE_PIPELINES": "Qwen/Qwen-Image-Edit+user/ggt-lora",
        "GGT_SPACE_METRICS": "piqe",
        "GGT_SPACE_MAX_SIDE": "1024",
        "GGT_SPACE_WARM_UP": "no",
    }
    config = SpaceConfig.from_env(env, max_side=512, dataset=None)
    assert config.store == str(tmp_path / "s") and config.max_side == 512  # the override wins
    assert config.models == {"tiny": "/models/tiny", "user/nafnet-ggt": "user/nafnet-ggt"}
    assert config.pipelines == ["Qwen/Qwen-Image-Edit+user/ggt-lora"]
    assert config.metrics == ["piqe"] and config.warm_up is False
    assert [Path(p).name for p in config.examples][:2] == ["low_light_coffee.jpg", "haze_astronaut.jpg"]
    assert SpaceConfig(warm_up=False).metrics == list(DEFAULT_DELTA_METRICS)
    assert "piqe" in DEFAULT_DELTA_METRICS and "niqe" in DEFAULT_DELTA_METRICS
    with pytest.raises(ValueError, match="GGT_SPACE_MAX_SIDE must be an integer"):
        SpaceConfig.from_env({"GGT_SPACE_MAX_SIDE": "big"})
    with pytest.raises(ValueError, match="tile"):
        SpaceConfig(tile=64, tile_overlap=32)
    with pytest.raises(ValueError, match="label=repo_or_folder"):
        parse_models(["=x"])


def test_restorer_choices_follow_keys_and_config(monkeypatch) -> None:
    for key in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    service = RestoreService(SpaceConfig(warm_up=False))
    assert service.choices() == ["classical", *(f"classical:{c}" for c in CATEGORIES)]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    service = RestoreService(SpaceConfig(warm_up=False, models={"tiny": "/m"}, pipelines=["a/b+c/d"]))
    assert service.choices()[-3:] == ["model:tiny", "openai", "diffusers:a/b+c/d"]


def test_registry_restorer_with_configured_weights_runs_tiled(tmp_path: Path, photos) -> None:
    torch = pytest.importorskip("torch")
    from ggt_hf.restorers import build_restorer

    torch.manual_seed(0)
    model = build_restorer("nafnet", width=8, middle_blk_num=1, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    model.save_pretrained(tmp_path / "tiny")
    models = {"tiny": str(tmp_path / "tiny")}
    config = SpaceConfig(warm_up=False, metrics=[], models=models, tile=64, tile_overlap=8)
    service = RestoreService(config)
    assert "model:tiny" in service.choices()
    source = tmp_path / "in.png"
    photos[1].crop((0, 0, 100, 80)).save(source)
    outcome = service.restore(source, "model:tiny")
    assert outcome.output.size == (100, 80) and outcome.metrics_note.startswith("No NR metric")
    assert any("64×64 tiles with 8 px overlap" in n for n in outcome.notices)
    expected = model.restore(torch.from_numpy(np.array(outcome.input)).permute(2, 0, 1)[None].float() / 255)
    got = torch.from_numpy(np.array(outcome.output)).permute(2, 0, 1)[None].float() / 255
    assert (got - expected.clamp(0, 1)).abs().mean() < 0.02  # tiled ≈ whole-image (8-bit output)


def test_deltas_name_the_metrics_not_computed() -> None:
    service = RestoreService(SpaceConfig(warm_up=False, metrics=["piqe", "psnr"]))
    img = Image.new("RGB", (64, 64), (120, 90, 60))
    rows, note = service.deltas(img, img)
    assert [r[0] for r in rows] == ["PIQE"] and rows[0][4] == 0
    assert "psnr" in note  # an FR metric is refused for the deltas, and said so


def test_warm_up_builds_no_network_for_unobtainable_weights_and_the_first_restore_builds_nothing(
    monkeypatch, tmp_path: Path
) -> None:
    """Offline with empty weight caches, the warm-up drops the learned metrics from the disk alone
    (before: it built each network with random weights to find its file missing, seconds of CPU
    beside the first visitor's restore); once it is done, a restore builds neither a restorer nor
    a metric."""
    import huggingface_hub.constants

    from ggt_hf.metrics import engine as engine_module
    from ggt_hf.space import restoration

    monkeypatch.setenv("GGT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    built: list[str] = []
    real_create = engine_module.create_pyiqa_metric
    monkeypatch.setattr(
        engine_module,
        "create_pyiqa_metric",
        lambda name, *a, **k: built.append(name) or real_create(name, *a, **k),
    )
    restorers: list[str] = []
    real_make = restoration.make_restorer
    monkeypatch.setattr(restoration, "make_restorer", lambda c, o: restorers.append(c) or real_make(c, o))
    service = RestoreService(SpaceConfig(warm_up=False))  # the default metrics: learned ones + PIQE
    service.warm_up()
    assert built == ["piqe"] and restorers == ["classical"]
    before = len(built)
    learned = {"niqe", "musiq", "maniqa", "topiq_nr", "afine_nr"}
    assert learned <= set(service._skipped)
    assert all("could not be downloaded" in service._skipped[name] for name in learned)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photo)
    outcome = service.restore(photo)
    assert len(built) == before and restorers == ["classical"]  # nothing built inside the request
    assert [row[0] for row in outcome.deltas] == ["PIQE"] and "niqe" in outcome.metrics_note


def test_cli_and_env_address(monkeypatch, capsys, tmp_path: Path, port: int) -> None:
    assert COMMANDS["space"] == "ggt_hf.commands.space"
    monkeypatch.setenv("GRADIO_SERVER_NAME", "127.0.0.1")
    monkeypatch.setenv("GRADIO_SERVER_PORT", str(port))
    monkeypatch.setenv("GGT_SPACE_WARM_UP", "0")
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)  # return instead of serving
    parser = argparse.ArgumentParser()
    space_command.add_arguments(parser)
    args = parser.parse_args(["--results-store", str(tmp_path / "store"), "--metrics", "piqe"])
    assert space_command.run(args) == 0
    out = capsys.readouterr().out
    assert f"open http://127.0.0.1:{port}/" in out
    assert f"leaderboard store: {tmp_path / 'store'}" in out and "classical:old_photo" in out


def test_review_tab_mounts_when_a_run_dir_is_configured(space_config, store, serve, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "items").mkdir(parents=True)
    (run / "lq").mkdir()
    (run / "candidates" / "x").mkdir(parents=True)
    Image.new("RGB", (32, 32), (40, 40, 40)).save(run / "lq" / "x.png")
    Image.new("RGB", (32, 32), (90, 90, 90)).save(run / "candidates" / "x" / "attempt1.png")
    attempt = {"attempt": 1, "prompt": "brighten", "seed": 0, "image": "candidates/x/attempt1.png"}
    record = {
        "id": "x",
        "category": "low_light",
        "split": "train",
        "lq_path": "lq/x.png",
        "state": "accepted",
    }
    record.update(final_attempt=1, attempts=[{**attempt, "checks": [], "error": None, "metadata": {}}])
    (run / "items" / "x.json").write_text(json.dumps(record))
    _, client = serve(space_config.with_(run_dir=str(run)), store)
    view = client.predict(api_name="/current")
    assert view["item"]["id"] == "x" and view["progress"]["total"] == 1
    assert client.predict("x", api_name="/accept")["done"]


def test_status_lookup_errors_are_not_called_rejected_submissions():
    import gradio as gr

    from ggt_hf.errors import GGTError
    from ggt_hf.space.submit_tab import _guard

    def lookup(request_id):
        raise GGTError("request", "give a request id")

    with pytest.raises(gr.Error) as lookup_error:
        _guard(lookup, "", prefix="Request lookup failed")
    assert lookup_error.value.message == "Request lookup failed: request: give a request id"
    with pytest.raises(gr.Error) as submit_error:
        _guard(lookup, "")
    assert submit_error.value.message.startswith("Submission rejected: ")


def test_every_space_variable_is_documented_in_the_space_readme_and_the_config() -> None:
    """The Space README's variable table and config.py's docstring list exactly the GGT_SPACE_*
    variables SpaceConfig.from_env reads (one per field): none missing, none invented (issue 23)."""
    import re
    from dataclasses import fields
    from pathlib import Path

    import ggt_hf.space.config as config_module
    from ggt_hf.space.config import SpaceConfig

    read = {f"GGT_SPACE_{f.name.upper()}" for f in fields(SpaceConfig)}
    readme = (Path(__file__).resolve().parents[2] / "spaces" / "README.md").read_text(encoding="utf-8")
    for where, text in (
        ("spaces/README.md", readme),
        ("ggt_hf/space/config.py", config_module.__doc__ or ""),
    ):
        named = set(re.findall(r"GGT_SPACE_[A-Z_]*[A-Z]", text))
        assert named == read, f"{where}: missing {sorted(read - named)}, unknown {sorted(named - read)}"
