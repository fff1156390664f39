"""The resolved run of a training recipe: batch split over the launch, steps, epochs, schedule,
precision, clipping and cache disk — what ``ggt train-plan`` prints and the README's recipe table
is generated from.

A recipe of either kind (a restorer's or a generative model's, told apart by ``model.family``) is
read by :func:`load_any_recipe`; the batch split comes from :mod:`ggt_hf.training.batching`, the
same function the entry scripts apply, so the plan is what the launch runs. This package sits above
both :mod:`ggt_hf.training` and :mod:`ggt_hf.generative`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ggt_hf.recipes.loading import load_any_recipe
from ggt_hf.recipes.provenance import recipe_settings
from ggt_hf.training.batching import apply_world_size
from ggt_hf.training.schedules import schedule_milestones

#: Train pairs of the paper's GGT-100K release, for epoch counts when the data is not on disk.
PAPER_GGT_TRAIN_PAIRS = 103_707
#: Bytes per element of the cache dtypes.
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class TrainPlan:
    """What one launch of a recipe will do (see the module docstring)."""

    recipe: str
    model: str
    num_processes: int
    total_batch: int
    batch_per_process: int
    accumulation: int
    steps: int
    samples: int
    epochs: dict[str, float]
    schedule: str
    milestones: list[tuple[int, float]]
    optimizer: str
    precision: str
    clipping: str
    crop_or_resolution: str
    cache_disk: str | None = None
    notes: list[str] = field(default_factory=list)
    #: the data: one line per group ("ggt: ...", "baseline: ..."), the GGT:baseline mix, and where
    #: the weights start (scratch, a pretrained model, or a resumed checkpoint)
    data: list[str] = field(default_factory=list)
    mix: str = ""
    start: str = ""
    #: every official-settings row with its value and source (None: no official settings cover it)
    settings: list[Any] | None = None


def _source_sizes(data, ggt_pairs: int | None) -> dict[str, int | None]:
    """Pairs per group: ``ggt_pairs`` when given for the GGT group, else local sources are counted and
    Hub ids / missing folders fall back to the paper's count."""
    from ggt_hf.training.data import open_source

    sizes: dict[str, int | None] = {}
    for group in ("ggt", "baseline"):
        total: int | None = 0
        for spec in getattr(data, group):
            count = None
            if not (group == "ggt" and ggt_pairs) and Path(spec.path).exists():
                try:
                    count = len(open_source(spec))
                except Exception:
                    count = None
            if count is None and group == "ggt":
                count = ggt_pairs or PAPER_GGT_TRAIN_PAIRS
            total = None if (count is None or total is None) else total + count
        if getattr(data, group):
            sizes[group] = total
    return sizes


#: What the paper's shared baseline pool is, for plans and tables.
PAPER_POOL = "the release's Existing-dataset/, the paper's shared w/o pool"


def describe_source(spec) -> str:
    """One source of a recipe's data, in a few words (the paper's pool named as such)."""
    if spec.kind == "packed" and spec.config == "baseline":
        return f"{spec.path} config baseline ({PAPER_POOL})"
    details = [spec.kind]
    details += [f"config {spec.config}"] if spec.config else []
    details += [f"degrade {spec.degrade}"] if spec.degrade else []
    details += [f"split {spec.split}"] if spec.kind != "clean" and spec.split != "train" else []
    details += [f"weight {spec.weight:g}"] if spec.weight != 1.0 else []
    return f"{spec.path} ({', '.join(details)})"


def describe_data(data) -> tuple[list[str], str]:
    """``(one line per data group, the mix)`` of a recipe's data section."""
    lines = [
        f"{group}: " + "; ".join(describe_source(s) for s in getattr(data, group))
        for group in ("ggt", "baseline")
        if getattr(data, group)
    ]
    if data.ggt and data.baseline:
        share = data.ratio / (1 + data.ratio)
        paper = " (the paper's w/ setting)" if data.ratio == 1 else ""
        mix = f"GGT:baseline {data.ratio:g}:1, {share:.0%} GGT{paper}"
    else:
        mix = "baseline only (the paper's w/o setting)" if data.baseline else "GGT only"
    if len(data.baseline) > 1:
        weights = {s.weight for s in data.baseline}
        mix += f"; {len(data.baseline)} baseline sources" + (", equal weights" if len(weights) == 1 else "")
    return lines, mix


def describe_start(recipe) -> str:
    """Where a recipe's weights start: a resumed checkpoint, a pretrained model, or scratch."""
    if recipe.train.resume_from_checkpoint:
        return f"resumes {recipe.train.resume_from_checkpoint} (step, weights, optimizer, EMA, data position)"
    pretrained = getattr(recipe.model, "pretrained", None)
    return f"from {pretrained}" if pretrained else "from scratch"


def _epochs(recipe, samples: int, ggt_pairs: int | None) -> dict[str, float]:
    data = recipe.data
    ratio = data.ratio if data.baseline else None
    ggt_share = 1.0 if ratio is None else ratio / (1 + ratio)
    out = {}
    for group, size in _source_sizes(data, ggt_pairs).items():
        if size:
            share = ggt_share if group == "ggt" else 1 - ggt_share
            out[group] = samples * share / size
    return out


def cache_disk_bytes(recipe) -> int | None:
    """Estimated bytes of the frozen-encoder cache of a generative recipe over its GGT pairs."""
    from ggt_hf.generative.caching import cache_bytes_per_pair

    per_pair = cache_bytes_per_pair(recipe)
    if per_pair is None:
        return None
    return per_pair * PAPER_GGT_TRAIN_PAIRS


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{n} B"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def plan_recipe(
    path: str | Path, num_processes: int = 1, ggt_pairs: int | None = None, overrides: list[str] | None = None
) -> TrainPlan:
    """The :class:`TrainPlan` of recipe ``path`` (with ``section.key=value`` ``overrides``) launched on
    ``num_processes`` processes; raises :class:`BatchSplitError` when the total batch cannot split."""
    recipe, kind = load_any_recipe(path, overrides)
    train = recipe.train
    micros = apply_world_size(recipe, num_processes)
    micro, accum = recipe.data.batch_size, train.gradient_accumulation_steps
    total = micro * accum * num_processes
    samples = total * train.max_steps
    milestones = schedule_milestones(train)
    notes = []
    if micros:
        phases = recipe.data.progressive
        micro, total = micros[0], phases[0].total_batch_size
        samples = sum(p.steps * p.total_batch_size for p in phases)
        notes.append(
            "progressive: "
            + " → ".join(
                f"{p.crop_size}² × {p.total_batch_size} ({m}/process) for {p.steps:,}"
                for p, m in zip(phases, micros, strict=True)
            )
        )
    elif not train.total_batch_size:
        notes.append("no train.total_batch_size: the total batch grows with the number of processes")
    if kind == "restorer":
        model = recipe.model.name
        shape = f"crop {recipe.data.crop_size}" if not micros else "progressive crops (see note)"
        cache = None
    else:
        model = f"{recipe.model.family} ({recipe.model.pretrained})"
        shape = f"bucket {recipe.data.resolution}²"
        size = cache_disk_bytes(recipe)
        cache = None if size is None else f"{_human_bytes(size)} for {PAPER_GGT_TRAIN_PAIRS:,} pairs"
    data_lines, mix = describe_data(recipe.data)
    return TrainPlan(
        recipe=str(path),
        model=model,
        num_processes=num_processes,
        total_batch=total,
        batch_per_process=micro,
        accumulation=accum,
        steps=train.max_steps,
        samples=samples,
        epochs=_epochs(recipe, samples, ggt_pairs),
        schedule=train.lr_scheduler,
        milestones=milestones,
        optimizer=f"AdamW lr {train.learning_rate:g} betas {tuple(train.betas)} wd {train.weight_decay:g}",
        precision="fp32" if train.mixed_precision == "no" else train.mixed_precision,
        clipping=f"grad norm ≤ {train.max_grad_norm:g}" if train.max_grad_norm else "none",
        crop_or_resolution=shape,
        cache_disk=cache,
        notes=notes,
        data=data_lines,
        mix=mix,
        start=describe_start(recipe),
        settings=recipe_settings(path, recipe),
    )


def _milestone_text(points: list[tuple[int, float]]) -> str:
    return " → ".join(f"{lr:.3g}@{step:,}" for step, lr in points)


def format_plan(plan: TrainPlan) -> str:
    """The plan as aligned ``key: value`` lines."""
    rows = [
        ("recipe", plan.recipe),
        ("model", plan.model),
        ("processes", plan.num_processes),
        (
            "total batch",
            f"{plan.total_batch} = {plan.batch_per_process} per process × "
            f"{plan.accumulation} accumulation × {plan.num_processes} processes",
        ),
        *(("data", line) for line in plan.data),
        ("mix", plan.mix),
        ("steps", f"{plan.steps:,} ({plan.samples:,} samples), {plan.start}"),
        ("epochs", ", ".join(f"{g} {e:.2f}" for g, e in plan.epochs.items()) or "unknown data size"),
        ("schedule", f"{plan.schedule}: {_milestone_text(plan.milestones)}"),
        ("optimizer", plan.optimizer),
        ("precision", plan.precision),
        ("clipping", plan.clipping),
        ("input", plan.crop_or_resolution),
    ]
    if plan.cache_disk:
        rows.append(("cache disk", plan.cache_disk))
    rows += [("note", n) for n in plan.notes]
    if plan.settings is not None:
        rows += [("setting", s.describe()) for s in plan.settings]
    else:
        rows.append(("setting", "no official settings cover this recipe (not in a recipes folder)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


TABLE_HEADER = (
    "| recipe | data | starts | total batch = per process × accumulation × processes | steps | "
    "epochs of GGT-100K | learning rate (value@step) | precision | clipping | cache disk |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def short_data(data) -> str:
    """The table's data cell: the baseline (the paper's pool or the model's own) and the GGT mix."""
    paper = [s for s in data.baseline if s.kind == "packed" and s.config == "baseline"]
    base = "Existing-dataset" if paper and len(paper) == len(data.baseline) else "own data"
    if data.ggt and data.baseline:
        return f"{base} + GGT {data.ratio:g}:1"
    return f"{base} only" if data.baseline else "GGT only"


def short_start(recipe) -> str:
    """The table's start cell: scratch, pretrained or a resumed checkpoint."""
    if recipe.train.resume_from_checkpoint:
        return "resumes a checkpoint"
    pretrained = getattr(recipe.model, "pretrained", None)
    return f"from {pretrained}" if pretrained else "scratch"


def table_processes(path: str | Path, most: int = 8) -> int:
    """The launch a table row shows: ``most`` processes, or the largest divisor of the recipe's total
    batch below it (a total batch of 4 runs on 4 processes, not 8)."""
    recipe, _ = load_any_recipe(path)
    total = recipe.train.total_batch_size
    return max(n for n in range(1, most + 1) if not total or total % n == 0)


def recipe_table(root: str | Path, most_processes: int = 8) -> str:
    """The README's recipe table: one row per full recipe under ``root`` (tiny CPU recipes skipped)."""
    root = Path(root)
    rows = [TABLE_HEADER]
    for path in sorted(root.glob("*/*.yaml")):
        if path.name.startswith("tiny"):
            continue
        num_processes = table_processes(path, most_processes)
        plan = plan_recipe(path, num_processes, ggt_pairs=PAPER_GGT_TRAIN_PAIRS)  # never the local copy
        batch = f"{plan.total_batch} = {plan.batch_per_process}×{plan.accumulation}×{num_processes}"
        epochs = f"{plan.epochs['ggt']:.1f}" if "ggt" in plan.epochs else "— (no GGT data)"
        recipe, _ = load_any_recipe(path)
        rows.append(
            f"| `{path.relative_to(root).as_posix()}` | {short_data(recipe.data)} | {short_start(recipe)} | "
            f"{batch} | {plan.steps:,} | {epochs} | "
            f"{_milestone_text(plan.milestones)} | {plan.precision} | {plan.clipping} | "
            f"{plan.cache_disk or '—'} |"
        )
    return "\n".join(rows)
