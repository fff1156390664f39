"""Every recipe reproduces its official run or states where and why it does not
(``training/recipes/official_settings.yaml``), and the README's recipe table is the generated one."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ggt_hf.constants import GGT100K_MIRROR_DIR
from ggt_hf.recipes.plan import plan_recipe
from ggt_hf.recipes.provenance import OFFICIAL_FILE, check_recipe, load_official, recipe_comments

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "training" / "recipes"
FULL_RECIPES = sorted(
    p.relative_to(RECIPES).as_posix() for p in RECIPES.glob("*/*.yaml") if not p.name.startswith("tiny")
)


def test_every_full_recipe_has_official_rows():
    assert set(FULL_RECIPES) <= set(load_official(RECIPES))


@pytest.mark.parametrize("name", FULL_RECIPES)
def test_recipe_matches_its_official_run_or_says_why(name):
    assert check_recipe(RECIPES, name) == []


def _copy(tmp_path: Path, name: str, edit) -> Path:
    root = tmp_path / "recipes"
    (root / Path(name).parent).mkdir(parents=True)
    shutil.copy(RECIPES / OFFICIAL_FILE, root / OFFICIAL_FILE)
    (root / name).write_text(edit((RECIPES / name).read_text()))
    return root


def test_an_unstated_difference_fails(tmp_path):
    root = _copy(
        tmp_path,
        "nafnet/ggt_mix.yaml",
        lambda s: s.replace(
            "max_grad_norm: 0.01             # official: image_restoration_model.py",
            "max_grad_norm: 0.1   # official:",
        ),
    )
    problems = check_recipe(root, "nafnet/ggt_mix.yaml")
    assert len(problems) == 1 and "train.max_grad_norm = 0.1, official 0.01" in problems[0]


def test_a_silent_default_fails(tmp_path):
    root = _copy(tmp_path, "nafnet/ggt_mix.yaml", lambda s: re.sub(r"\n  max_grad_norm:[^\n]*", "", s))
    problems = check_recipe(root, "nafnet/ggt_mix.yaml")
    assert len(problems) == 1 and "max_grad_norm = None" in problems[0] and "not set (default)" in problems[0]


def test_a_stated_deviation_passes_and_an_uncited_line_fails(tmp_path):
    root = _copy(
        tmp_path,
        "x_restormer/ggt_mix.yaml",
        lambda s: s.replace(
            "learning_rate: 3.0e-4           # official: train.optim_g.lr",
            "learning_rate: 2.0e-4           # deviation: tried on smaller GPUs",
        ).replace("seed: 123                       # official: manual_seed", "seed: 123"),
    )
    assert check_recipe(root, "x_restormer/ggt_mix.yaml") == [
        "x_restormer/ggt_mix.yaml: train.seed has no '# official: <where>', '# deviation: <why>' or "
        "'# assumption: <why>' comment"
    ]


def test_comments_of_flow_mappings_and_continued_lists_are_read():
    loss = recipe_comments(RECIPES / "mprnet/ggt_mix.yaml")
    assert loss["loss.edge_weight"].startswith("official") and loss["loss.eps"] == loss["loss.name"]
    wide = recipe_comments(RECIPES / "qwen_image_edit/lora_ggt_wide.yaml")
    assert wide["lora.target_modules"].startswith("deviation:")


@pytest.mark.parametrize("name", FULL_RECIPES)
def test_every_recipe_reads_ggt_from_the_mirror_folder_convention(name):
    from ggt_hf.recipes.plan import load_any_recipe

    recipe, _ = load_any_recipe(RECIPES / name)
    assert {s.path for s in recipe.data.ggt} <= {GGT100K_MIRROR_DIR}
    assert recipe.validation.path in (None, GGT100K_MIRROR_DIR)


def test_a_hub_mirror_replaces_the_folder_with_overrides():
    """The override the README and the recipes' headers give for a Hub mirror."""
    from ggt_hf.recipes.plan import load_any_recipe

    hub = "you/ggt-100k"
    overrides = [
        f"data.ggt=[{{path: {hub}, split: train}}]",
        f"validation.path={hub}",
        f"data.baseline=[{{path: {hub}, kind: packed, config: baseline}}]",
    ]
    recipe, _ = load_any_recipe(RECIPES / "nafnet/ggt_mix.yaml", overrides)
    assert [(s.path, s.split) for s in recipe.data.ggt] == [(hub, "train")] and recipe.validation.path == hub
    assert [(s.path, s.config) for s in recipe.data.baseline] == [(hub, "baseline")]


def test_inherited_rows_and_their_overrides():
    rows = load_official(RECIPES)
    assert (
        rows["moce_ir/ggt_mix.yaml"]["train.lr_schedule_steps"]
        == rows["promptir/ggt_mix.yaml"]["train.lr_schedule_steps"]
    )
    assert "MoCE-IR" in rows["moce_ir/ggt_mix.yaml"]["train.learning_rate"]["source"]


def test_readme_recipe_table_is_the_generated_one():
    from ggt_hf.recipes.plan import recipe_table

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- recipe-table:begin[^\n]*-->\n(.*?)\n<!-- recipe-table:end -->", readme, re.S)
    assert match, "README.md lost its recipe-table markers"
    assert match.group(1) == recipe_table(RECIPES), (
        "regenerate: ggt train-plan --readme-table training/recipes"
    )


def test_the_readme_table_ignores_a_local_mirror_but_train_plan_counts_it(
    make_pairs_dir, tmp_path, monkeypatch
):
    """The table is about the paper's 103,707 pairs; `ggt train-plan` counts the mirror on disk."""
    from ggt_hf.recipes.plan import recipe_table

    make_pairs_dir(n=4, size=32, nested=False, name=GGT100K_MIRROR_DIR)  # a 4-pair `ggt-100k` here
    monkeypatch.chdir(tmp_path)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert recipe_table(RECIPES) in readme
    plan = plan_recipe(RECIPES / "nafnet/ggt_mix.yaml", 8)
    assert plan.epochs["ggt"] == plan.steps * plan.total_batch * 0.5 / 4  # 1:1 mix over the 4 local pairs
