"""The entry scripts' ``main`` in-process (the subprocess ``accelerate launch`` runs are ``slow``):
recipe + overrides on the command line → a trained artifact and a checkpoint."""

from __future__ import annotations

import pytest

from ggt_hf.generative.entry import train_generative_main


@pytest.mark.parametrize(
    ("task", "family", "recipe", "artifact"),
    [
        ("edit_lora", "flux_kontext", "flux_kontext/tiny_cpu.yaml", "pytorch_lora_weights.safetensors"),
        ("controlnet_flux", "flux", "flux_controlnet/tiny_cpu.yaml", "diffusion_pytorch_model.safetensors"),
    ],
)
def test_main_trains_from_recipe(task, family, recipe, artifact, tiny_pipelines, gen_pairs, tmp_path, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "training" / "recipes"
    out = tmp_path / "out"
    code = train_generative_main(
        task,
        [
            "--config",
            str(root / recipe),
            f"model.pretrained={tiny_pipelines(family)}",
            f"data.ggt=[{{path: {gen_pairs}, kind: pairs}}]",
            f"train.output_dir={out}",
            "train.max_steps=2",
            "--train.log_with=null",  # the --section.key=value spelling works too
            "validation.max_images=0",
        ],
    )
    assert code == 0
    assert (out / "final" / artifact).is_file()
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    assert (out / "run_config.json").is_file()
    assert f"final model: {out / 'final'}" in capsys.readouterr().out


def test_main_rejects_unknown_task():
    with pytest.raises(ValueError, match="unknown generative task"):
        train_generative_main("dreambooth", ["--config", "x.yaml"])
