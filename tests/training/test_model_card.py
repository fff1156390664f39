"""One model-card renderer for regression and generative restorers: the same front matter (with
model-index eval results), the same training rows, and each kind's own usage and rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from ggt_hf.constants import GGT100K_REPO_ID
from ggt_hf.training.model_card import render_model_card, restorer_card_content

ROOT = Path(__file__).resolve().parents[2]
RESULTS = {"psnr": 31.25, "ssim": 0.9, "not_a_metric": 1.0}


def _restorer_card() -> str:
    from ggt_hf.training.restorer_task import RestorerRecipe

    recipe = RestorerRecipe.from_yaml(
        ROOT / "training/recipes/nafnet/ggt_mix.yaml",
        ["train.hub_model_id=me/nafnet-ggt", "train.push_to_hub=true"],
    )
    return render_model_card(recipe, RESULTS, restorer_card_content(recipe, num_parameters=1234))


def _generative_card() -> str:
    from ggt_hf.generative.card import generative_card_content
    from ggt_hf.generative.task_base import GenerativeRecipe

    recipe = GenerativeRecipe.from_yaml(
        ROOT / "training/recipes/flux_controlnet/controlnet_ggt.yaml", ["train.hub_model_id=me/flux-cn-ggt"]
    )
    content = generative_card_content(
        recipe,
        model_id="me/flux-cn-ggt",
        kind="ControlNet",
        usage="pipe = ...",
        backend_args='controlnet="me/flux-cn-ggt"',
        restore_model="diffusers:black-forest-labs/FLUX.1-dev --controlnet me/flux-cn-ggt",
        extra=[("ControlNet blocks", "4 double + 0 single")],
    )
    return render_model_card(recipe, RESULTS, content)


@pytest.mark.parametrize("render", [_restorer_card, _generative_card])
def test_both_kinds_emit_eval_results_and_the_shared_training_rows(render):
    text = render()
    card = ModelCard(text)
    metrics = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert metrics == {"psnr": 31.25, "ssim": 0.9}  # metrics outside the specs table are not claimed
    assert GGT100K_REPO_ID in card.data.datasets  # the local mirror folder stands for the release
    assert all(r.dataset_type == GGT100K_REPO_ID for r in card.data.eval_results)
    for row in (
        "| steps |",
        "| batch | `total ",
        "| gradient clipping |",
        "| precision |",
        "| GGT sources |",
    ):
        assert row in text
    assert "| psnr | 31.2500 |" in text


def test_each_kind_keeps_its_own_text():
    restorer, generative = _restorer_card(), _generative_card()
    assert "NAFNet" in restorer and 'load_restorer("me/nafnet-ggt")' in restorer and "## Citation" in restorer
    assert "| precision | `fp32` |" in restorer and "| gradient clipping | `0.01` |" in restorer
    assert "ControlNet for `black-forest-labs/FLUX.1-dev`" in generative and "## Citation" not in generative
    assert "| flow matching | `weighting logit_normal, shift none` |" in generative
    assert ModelCard(generative).data.base_model == "black-forest-labs/FLUX.1-dev"


def test_a_card_not_pushed_names_the_folder_it_was_written_to():
    """Issue 23.4: a hub_model_id without push_to_hub used to be the card's model, so its
    ``ggt restore --model me/nafnet-ggt`` went to the Hub for a model that is only on disk."""
    from ggt_hf.training.restorer_task import RestorerRecipe

    recipe = RestorerRecipe.from_yaml(
        ROOT / "training/recipes/nafnet/ggt_mix.yaml",
        ["train.hub_model_id=me/nafnet-ggt", "train.output_dir=outputs/nafnet"],
    )
    text = render_model_card(recipe, RESULTS, restorer_card_content(recipe, 1234, "outputs/nafnet/final"))
    assert 'load_restorer("outputs/nafnet/final")' in text
    assert "`ggt restore --model outputs/nafnet/final photos/ restored/`" in text
    assert "me/nafnet-ggt" not in text
    default = restorer_card_content(recipe).model_id  # out_dir defaults to where the trainer writes
    assert default == str(Path("outputs/nafnet/final"))


def test_only_hub_ids_are_listed_as_hub_datasets(tmp_path, monkeypatch):
    """A local ``data/ggt`` folder looks like ``owner/name`` but is not a Hub dataset."""
    from types import SimpleNamespace

    from ggt_hf.training.model_card import hub_datasets

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "ggt").mkdir(parents=True)

    def source(path):
        return SimpleNamespace(path=path)

    recipe = SimpleNamespace(
        data=SimpleNamespace(
            ggt=[source("ggt-100k"), source("data/ggt"), source("./x/y")],
            baseline=[source("someone/LSDIR"), source("bad//id"), source("a/b/c")],
        )
    )
    assert hub_datasets(recipe) == [GGT100K_REPO_ID, "someone/LSDIR"]
