"""The recipes against the official runs, setting by setting (issue 25: the paper's runs, exactly).

Each test pins one setting that differed from the official code to the official value, read from the
recipe as the trainer resolves it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ggt_hf.recipes.provenance import check_recipe, load_official
from ggt_hf.training.restorer_task import RestorerRecipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "training" / "recipes"


def recipe(name: str) -> RestorerRecipe:
    return RestorerRecipe.from_yaml(RECIPES / name)


# -- point 5: MoCE-IR trains without the complexity bias -------------------------------------------
def test_moce_ir_trains_without_the_complexity_bias_as_the_official_command():
    from ggt_hf.restorers.moce_ir import MoCEIRConfig

    assert MoCEIRConfig().with_complexity is True  # the model's default (its __main__ example) ...
    for name in ("moce_ir/ggt_mix.yaml", "moce_ir/wo_ggt.yaml"):
        assert recipe(name).model.config["with_complexity"] is False  # ... not the training command's
        assert load_official(RECIPES)[name]["model.config.with_complexity"]["value"] is False
        assert check_recipe(RECIPES, name) == []


def test_an_architecture_default_that_differs_from_the_official_run_is_reported(tmp_path):
    import shutil

    root = tmp_path / "recipes"
    (root / "moce_ir").mkdir(parents=True)
    shutil.copy(RECIPES / "official_settings.yaml", root)
    text = (RECIPES / "moce_ir/ggt_mix.yaml").read_text()
    (root / "moce_ir/ggt_mix.yaml").write_text(
        "\n".join(
            "  config: {}" if line.startswith("  config: {with_complexity") else line
            for line in text.splitlines()
        )
    )
    problems = check_recipe(root, "moce_ir/ggt_mix.yaml")
    assert len(problems) == 1 and "model.config.with_complexity = True, official False" in problems[0]


# -- point 4: FoundIR's EMA is ema-pytorch 0.6.2's -------------------------------------------------
def test_foundir_recipes_keep_the_official_ema():
    official = load_official(RECIPES)["foundir/ggt_mix.yaml"]
    for name in ("foundir/ggt_mix.yaml", "foundir/wo_ggt.yaml"):
        train = recipe(name).train
        assert (train.ema_decay, train.ema_schedule, train.ema_update_every) == (0.995, "ema_pytorch", 10)
        assert official["train.ema_decay"]["value"] == train.ema_decay  # the two files agree
        assert check_recipe(RECIPES, name) == []


def test_the_ema_pytorch_schedule_copies_then_warms_up_to_beta():
    from ggt_hf.training.ema import ema_pytorch_decay

    # counts are ema-pytorch's calls so far; updates happen on every 10th call
    assert ema_pytorch_decay(0.995, 101) == 0.0  # still copying
    assert ema_pytorch_decay(0.995, 111) == pytest.approx(1 - 11 ** (-2 / 3))  # the first average: ≈0.80
    reached = next(c for c in range(101, 10_000) if ema_pytorch_decay(0.995, c) >= 0.995)
    assert 2_900 <= reached <= 2_950  # "reaching 0.995 near step 2.9k"


def _toy_steps(n: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    for _ in range(n):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator))
            model[1].running_mean.add_(torch.randn(4, generator=generator))
        yield model


@pytest.mark.parametrize("steps", [95, 230, 1000])
def test_the_trainer_ema_equals_ema_pytorch_0_6_2(steps):
    ema_pytorch = pytest.importorskip("ema_pytorch")
    from importlib.metadata import version

    if version("ema-pytorch") != "0.6.2":
        pytest.skip("compares against ema-pytorch 0.6.2, FoundIR's pinned version")
    from ggt_hf.training.core import CoreConfig
    from ggt_hf.training.ema import create_ema, update_ema

    core = CoreConfig(ema_decay=0.995, ema_schedule="ema_pytorch", ema_update_every=10)
    ours = theirs = None
    for step, model in enumerate(_toy_steps(steps), start=1):
        if ours is None:
            ours, theirs = create_ema(model, core), ema_pytorch.EMA(model, beta=0.995, update_every=10)
        update_ema(ours, model, core, step)  # FoundIR: self.step += 1; self.ema.update()
        theirs.update()
    mine, official = ours.module.state_dict(), theirs.ema_model.state_dict()
    for key, value in official.items():
        if value.is_floating_point():
            # ema-pytorch computes the decay in float32 tensors, this in float64: float32 round-off
            torch.testing.assert_close(mine[key], value)


# -- point 6: PromptIR and MoCE-IR step their schedule per epoch -----------------------------------
EPOCH = 4451  # iterations per official epoch (142,431 samples at total batch 32)


def _cosine(epoch: int) -> float:
    return 0.5 * 2e-4 * (1 + math.cos(math.pi * (epoch - 15) / 135))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # PromptIR train.py:41 scheduler.step(self.current_epoch) at each epoch's end: one epoch late
        (
            "promptir/ggt_mix.yaml",
            {
                0: 0.0,
                2 * EPOCH - 1: 0.0,
                2 * EPOCH: 2e-4 / 14,
                16 * EPOCH - 1: 2e-4,  # epoch 15 trains at the peak (warm-up ends at W - 1 = 14)
                16 * EPOCH: 2e-4,
                17 * EPOCH: _cosine(16),
                120 * EPOCH - 1: _cosine(118),
            },
        ),
        # MoCE-IR src/train.py:80 scheduler.step(): epoch e trains at the closed form of e
        (
            "moce_ir/ggt_mix.yaml",
            {
                0: 0.0,
                EPOCH - 1: 0.0,
                EPOCH: 2e-4 / 14,
                14 * EPOCH: 2e-4,
                16 * EPOCH: _cosine(16),
                120 * EPOCH - 1: _cosine(119),
            },
        ),
    ],
)
def test_the_learning_rate_follows_the_official_epochs(name, expected):
    from ggt_hf.training.schedules import per_epoch_lr

    train = recipe(name).train
    assert (train.lr_scheduler, train.lr_steps_per_epoch, train.max_steps) == (
        "warmup_cosine_per_epoch",
        EPOCH,
        120 * EPOCH,
    )
    for step, lr in expected.items():
        assert per_epoch_lr(train, step) == pytest.approx(lr, rel=1e-12, abs=1e-15), step
    assert check_recipe(RECIPES, name) == []


# -- point 7: DA-CLIP's encoder autocasts to fp16 on GPU -------------------------------------------
def test_the_daclip_encoder_autocasts_to_fp16_on_gpu_only():
    from ggt_hf.restorers.daclip.configuration_daclip import DACLIPConfig
    from ggt_hf.restorers.daclip.modeling_daclip import encoder_autocast

    assert DACLIPConfig().clip_autocast is True
    on_gpu = encoder_autocast(torch.device("cuda", 0))
    assert on_gpu == {"device_type": "cuda", "dtype": torch.float16, "enabled": True}
    assert encoder_autocast(torch.device("cpu"))["enabled"] is False  # the official context is a no-op on CPU
    assert encoder_autocast(torch.device("cuda"), enabled=False)["enabled"] is False


def test_the_daclip_encoder_runs_inside_that_autocast(monkeypatch):
    from ggt_hf.restorers.daclip import modeling_daclip

    seen = []
    real = torch.autocast

    def recording(**kwargs):
        seen.append(kwargs)
        return real(**{**kwargs, "enabled": False})

    monkeypatch.setattr(modeling_daclip.torch, "autocast", recording)
    model = modeling_daclip.DACLIP.__new__(modeling_daclip.DACLIP)
    torch.nn.Module.__init__(model)
    model.config = modeling_daclip.DACLIPConfig()
    model.daclip = type("Encoder", (), {"encode_image": lambda self, x, control: (x.mean(1), x.mean(1))})()
    model._encode(torch.zeros(1, 3, 4, 4))
    assert seen == [{"device_type": "cuda", "dtype": torch.float16, "enabled": False}]


# -- point 1: the paper's baseline pool is every pair's default; the model's own data an alternative
PAPER_POOL = [{"path": "ggt-100k", "kind": "packed", "config": "baseline"}]
PAIRS = [
    *((f"{m}/wo_ggt.yaml", f"{m}/ggt_mix.yaml") for m in
      ("nafnet", "swinir", "mprnet", "restormer", "x_restormer", "promptir", "moce_ir", "daclip", "foundir")),
    ("flux_controlnet/controlnet_wo_ggt.yaml", "flux_controlnet/controlnet_w_ggt.yaml"),
    ("flux_kontext/lora_wo_ggt.yaml", "flux_kontext/lora_w_ggt.yaml"),
    ("qwen_image_edit/lora_wo_ggt.yaml", "qwen_image_edit/lora_w_ggt.yaml"),
]  # fmt: skip


def _data(name: str) -> dict:
    from dataclasses import asdict

    from ggt_hf.recipes.loading import load_any_recipe

    return asdict(load_any_recipe(RECIPES / name)[0])


def _pool(data: dict) -> list[dict]:
    return [{k: s[k] for k in ("path", "kind", "config")} for s in data["data"]["baseline"]]


@pytest.mark.parametrize(("wo", "w"), PAIRS)
def test_every_pair_trains_on_the_papers_shared_pool_by_default(wo, w):
    without, with_ggt = _data(wo), _data(w)
    assert _pool(without) == _pool(with_ggt) == PAPER_POOL
    assert without["data"]["ggt"] == [] and with_ggt["data"]["ggt"] and with_ggt["data"]["ratio"] == 1.0


@pytest.mark.parametrize("name", [n for pair in PAIRS for n in pair])
def test_the_models_own_data_is_a_named_alternative_differing_only_in_baseline(name):
    default, own = _data(name), _data(name.replace(".yaml", "_own_data.yaml"))
    assert _pool(own) != PAPER_POOL and own["data"]["baseline"]
    for run in (default, own):
        run["data"].pop("baseline")
        run["train"].pop("output_dir")
    assert own == default


def test_daclip_own_data_draws_the_ten_degradation_types_uniformly():
    sources = recipe("daclip/wo_ggt_own_data.yaml").data.baseline
    types = {Path(s.path).name for s in sources}
    assert types == {  # train.yml distortion
        "motion-blurry", "hazy", "jpeg-compressed", "low-light", "noisy",
        "raindrop", "rainy", "shadowed", "snowy", "uncompleted",
    }  # fmt: skip
    assert len(sources) == 10 and {s.weight for s in sources} == {1.0}


def test_a_released_type_folder_with_lq_and_gt_is_a_pair_source(tmp_path):
    from PIL import Image

    from ggt_hf.training.data import SourceSpec, open_source

    for sub in ("LQ", "GT"):
        (tmp_path / "hazy" / sub).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "hazy" / sub / "0001.png")
    source = open_source(SourceSpec(str(tmp_path / "hazy")), "baseline")
    assert len(source) == 1 and source.read(0).lq.shape == (8, 8, 3)


# -- point 3: FoundIR's run length -----------------------------------------------------------------
def test_foundir_from_scratch_is_two_million_steps_with_a_true_resume():
    stage1, stage2 = recipe("foundir/scratch_stage1.yaml"), recipe("foundir/scratch_stage2.yaml")
    assert (
        stage1.train.max_steps == 500_000 and stage1.train.max_steps % stage1.train.checkpointing_steps == 0
    )
    assert stage2.train.max_steps == 2_000_000  # the total (train.py:49), the counter resumes at 500k
    assert stage2.train.resume_from_checkpoint == (
        f"{stage1.train.output_dir}/checkpoints/checkpoint-{stage1.train.max_steps}"
    )  # step, raw weights, optimizer, EMA: not model.pretrained (the EMA weights, a fresh optimizer)
    assert stage1.model.pretrained is None and stage2.model.pretrained is None
    assert stage1.data.ggt == stage2.data.ggt == []


def test_foundir_paper_runs_fine_tune_the_release_and_say_what_is_assumed():
    official = load_official(RECIPES)
    for name in ("foundir/ggt_mix.yaml", "foundir/wo_ggt.yaml"):
        run = recipe(name)
        assert run.model.pretrained == "foundir-official" and run.train.resume_from_checkpoint is None
        rows = official[name]
        for key in ("model.pretrained", "train.max_steps", "train.resume_from_checkpoint"):
            assert rows[key]["source"].startswith("assumption:"), key
        assert check_recipe(RECIPES, name) == []


# -- done when: `ggt train-plan` shows the data pool, the mix, the run length and every setting's source
FULL = sorted(
    p.relative_to(RECIPES).as_posix() for p in RECIPES.glob("*/*.yaml") if not p.name.startswith("tiny")
)


@pytest.mark.parametrize("name", FULL)
def test_the_plan_shows_data_mix_length_and_every_settings_source(name):
    from ggt_hf.recipes.plan import format_plan, plan_recipe

    plan = plan_recipe(RECIPES / name, ggt_pairs=103_707)
    text = format_plan(plan)
    assert plan.data and plan.mix and plan.start
    rows = load_official(RECIPES)[name]
    assert {s.key for s in plan.settings} == set(rows)
    for setting in plan.settings:
        assert setting.kind in ("official", "deviation", "assumption") and setting.source
        assert f"setting      {setting.describe()}" in text
        if setting.kind == "official":  # a file (and, where read, its line) of the official code
            assert "@" in setting.source
    for line in plan.data:
        assert f"data         {line}" in text
    assert f"steps        {plan.steps:,} " in text and plan.start in text


def test_train_plan_names_the_papers_pool_and_the_assumptions(capsys):
    from ggt_hf.cli import main

    assert main(["train-plan", "--config", str(RECIPES / "foundir/wo_ggt.yaml"), "--num-processes", "8"]) == 0
    out = capsys.readouterr().out
    assert (
        "baseline: ggt-100k config baseline (the release's Existing-dataset/, the paper's shared w/o pool)"
        in out
    )
    assert "mix          baseline only (the paper's w/o setting)" in out
    assert "steps        40,000 (6,400,000 samples), from foundir-official" in out
    assert "train.max_steps = 40000 — assumption: the paper gives no FoundIR length" in out


# -- MPRNet steps its schedule per epoch too --------------------------------------------------------
MPRNET_EPOCH = 857  # iterations per official epoch (Rain13K 13,712 pairs at batch 16)


def _mprnet_official_lrs(epochs: int, base: float, eta_min: float, warm: int = 3) -> list[float]:
    """The rate each official epoch (1-based) trains at, as Deraining/train.py makes it:
    ``GradualWarmupScheduler(multiplier=1, total_epoch=3)`` — whose ``get_lr`` is
    ``base · last_epoch / total_epoch`` until ``last_epoch > total_epoch``, then hands over to the
    after-scheduler (its current rate first, one ``after.step()`` per later step) — over torch's real
    ``CosineAnnealingLR(T_max=NUM_EPOCHS - 3)``; one ``scheduler.step()`` before epoch 1 and one
    after each epoch (``_LRScheduler.__init__`` already made ``last_epoch`` 0)."""
    param = torch.nn.Parameter(torch.zeros(1))
    after = torch.optim.lr_scheduler.CosineAnnealingLR(
        torch.optim.Adam([param], lr=base), epochs - warm, eta_min=eta_min
    )
    rates, last_epoch = [], 1  # the explicit step() before the loop
    for _ in range(epochs):
        if last_epoch <= warm:
            rates.append(base * last_epoch / warm)
        else:
            if last_epoch > warm + 1:
                after.step()
            rates.append(after.get_last_lr()[0])
        last_epoch += 1
    return rates


def test_mprnet_steps_its_warmup_and_cosine_per_epoch_as_the_official_code():
    from ggt_hf.training.schedules import build_scheduler, gradual_per_epoch_lr

    train = recipe("mprnet/ggt_mix.yaml").train
    assert (train.lr_scheduler, train.lr_steps_per_epoch, train.max_steps, train.warmup_steps) == (
        "gradual_warmup_cosine_per_epoch",
        MPRNET_EPOCH,
        250 * MPRNET_EPOCH,
        3 * MPRNET_EPOCH,
    )
    official = _mprnet_official_lrs(250, 2e-4, 1e-6)
    assert official[:4] == pytest.approx([2e-4 / 3, 4e-4 / 3, 2e-4, 2e-4])  # the staircase warm-up
    for epoch, lr in enumerate(official):  # first, middle and last iteration of every epoch
        for step in (epoch * MPRNET_EPOCH, epoch * MPRNET_EPOCH + 400, (epoch + 1) * MPRNET_EPOCH - 1):
            assert gradual_per_epoch_lr(train, step) == pytest.approx(lr, rel=1e-9), (epoch, step)
    # the scheduler the trainer builds gives the same rates (one epoch's worth of real steps)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=train.learning_rate)
    scheduler = build_scheduler(train, optimizer)
    seen = []
    for _ in range(MPRNET_EPOCH + 1):
        seen.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert seen[0] == seen[MPRNET_EPOCH - 1] == pytest.approx(official[0], rel=1e-12)
    assert seen[MPRNET_EPOCH] == pytest.approx(official[1], rel=1e-12)
    assert check_recipe(RECIPES, "mprnet/ggt_mix.yaml") == []
