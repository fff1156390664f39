"""Checks that every training recipe reproduces its official run or says where and why it does not.

``training/recipes/official_settings.yaml`` maps each recipe (path under ``training/recipes/``) to
rows ``section.key: {value, source}`` — the official value and where it was read. A recipe may
``inherit`` another recipe's rows. :func:`check_recipe` reports, for one recipe:

* a row whose official value differs from the recipe's *resolved* value (dataclass defaults
  included) while the recipe line setting that key does not say ``# deviation: <why>`` — or the
  key is not written at all (a silent default);
* a recipe line setting a hyper-parameter (:data:`HYPERPARAMETERS`) without a
  ``# official: <where>``, ``# deviation: <why>`` or ``# assumption: <why>`` comment (a number the
  paper and the official code do not give; its row's ``source`` then starts with ``assumption:``).

The recipe's comments are read line by line (YAML loaders drop them): a key's comment is the one on
its line or on the continuation lines of its value; a flow mapping (``loss: {name: l1, eps: 1e-6}``)
gives its comment to each of its keys.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggt_hf.files.yaml_config import EXTENDS, safe_load

OFFICIAL_FILE = "official_settings.yaml"

#: Recipe keys that are hyper-parameters of the official run (each needs a provenance comment).
HYPERPARAMETERS = frozenset(
    {
        *(
            f"train.{k}"
            for k in (
                "total_batch_size",
                "gradient_accumulation_steps",
                "max_steps",
                "learning_rate",
                "betas",
                "weight_decay",
                "adam_epsilon",
                "lr_scheduler",
                "warmup_steps",
                "lr_schedule_steps",
                "min_lr",
                "lr_milestones",
                "lr_gamma",
                "lr_periods",
                "lr_restart_weights",
                "lr_eta_mins",
                "lr_steps_per_epoch",
                "lr_epoch_delay",
                "max_grad_norm",
                "mixed_precision",
                "ema_decay",
                "ema_schedule",
                "ema_update_every",
                "seed",
                "ddp_find_unused_parameters",
                "resume_from_checkpoint",
            )
        ),
        *(f"data.{k}" for k in ("crop_size", "resolution", "flips", "rot90", "progressive")),
        *(f"loss.{k}" for k in ("name", "weight", "eps", "edge_weight", "aux_weight")),
        *(f"lora.{k}" for k in ("rank", "alpha", "target_modules", "init_lora_weights")),
        *(f"controlnet.{k}" for k in ("num_layers", "num_single_layers")),
        *(f"flow.{k}" for k in ("weighting_scheme", "logit_mean", "logit_std", "shift")),
        "model.guidance_scale",
    }
)

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.]*):(?P<rest>.*)$")


def _split_comment(text: str) -> tuple[str, str]:
    """``value, comment`` of a YAML line tail (a ``#`` after whitespace starts the comment)."""
    match = re.search(r"(^|\s)#\s?(.*)$", text)
    if not match:
        return text.strip(), ""
    return text[: match.start()].strip(), match.group(2).strip()


def recipe_comments(path: str | Path) -> dict[str, str]:
    """``section.key → comment`` for every key a recipe file sets (empty comment when none).

    A recipe that ``extends`` another (:func:`ggt_hf.files.yaml_config.load_yaml`) starts from that file's
    comments; the keys it sets itself carry its own comments (an uncommented override loses the
    parent's citation, as it should)."""
    raw = safe_load(Path(path).read_text(encoding="utf-8"), path) or {}
    parent = raw.get(EXTENDS) if isinstance(raw, dict) else None
    inherited = recipe_comments(Path(path).parent / str(parent)) if parent else {}
    return {**inherited, **_own_comments(path)}


def _own_comments(path: str | Path) -> dict[str, str]:
    out: dict[str, str] = {}
    section: str | None = None
    last: list[str] = []  # the keys the latest key line set (continuation comments go to them)
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.match(line)
        value, comment = _split_comment(match["rest"] if match else line)
        if match and len(match["indent"]) == 0:
            section = match["key"]
            last = []
            if value.startswith("{"):  # flow mapping: each of its keys gets the line's comment
                inner = safe_load(value, path) or {}
                last = [f"{section}.{k}" for k in inner]
        elif match and len(match["indent"]) == 2 and section:
            last = [f"{section}.{match['key']}"]
        elif not (line.startswith("    ") or line.lstrip().startswith(("-", "]"))):
            last = []
        for key in last:
            if comment or key not in out:
                out[key] = comment or out.get(key, "")
    return out


def load_official(root: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``recipe → {section.key: {value, source}}`` with ``inherit`` resolved."""
    raw = (
        safe_load((Path(root) / OFFICIAL_FILE).read_text(encoding="utf-8"), Path(root) / OFFICIAL_FILE) or {}
    )

    def rows(name: str, seen: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
        if name in seen:
            raise ValueError(f"{OFFICIAL_FILE}: inherit cycle through {name}")
        entry = dict(raw[name] or {})
        parent = entry.pop("inherit", None)
        base = rows(parent, (*seen, name)) if parent else {}
        for key, row in entry.items():
            if not isinstance(row, dict) or "value" not in row or not row.get("source"):
                raise ValueError(f"{OFFICIAL_FILE}: {name} {key} needs {{value, source}}")
        return {**base, **entry}

    return {name: rows(name) for name in raw}


def _resolved(recipe: Any, dotted: str) -> Any:
    import dataclasses

    section, key = dotted.split(".", 1)
    if section == "model" and key.startswith("config."):  # an architecture field: recipe or default
        return _model_config_value(recipe.model, key.split(".", 1)[1])
    value = getattr(getattr(recipe, section), key)
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        return [dataclasses.asdict(v) for v in value]  # e.g. data.progressive phases, as YAML gives them
    return value


def _model_config_value(model: Any, field: str) -> Any:
    """``model.config[field]`` as the recipe sets it, else the restorer config class's default."""
    if field in model.config:
        return model.config[field]
    from ggt_hf.restorers import get_restorer_class

    return getattr(get_restorer_class(model.name).config_class(), field)


def same_value(a: Any, b: Any) -> bool:
    """Equality across YAML/dataclass types: tuples = lists, floats compared with a relative 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def check_recipe(root: str | Path, name: str, official: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Problems of recipe ``name`` (path under ``root``) against its official rows (see module docs)."""
    from ggt_hf.recipes.loading import load_any_recipe

    root = Path(root)
    rows = official if official is not None else load_official(root).get(name)
    if rows is None:
        return [f"{name}: no rows in {OFFICIAL_FILE}"]
    recipe, _ = load_any_recipe(root / name)
    comments = recipe_comments(root / name)
    problems = []
    for key, row in sorted(rows.items()):
        comment = comments.get(key, comments.get(key.rsplit(".", 1)[0]) if key.count(".") > 1 else None)
        actual = _resolved(recipe, key)
        if same_value(actual, row["value"]) or (comment or "").startswith("deviation:"):
            continue
        where = "not set (default)" if comment is None else "set without '# deviation: <why>'"
        problems.append(f"{name}: {key} = {actual!r}, official {row['value']!r} ({row['source']}); {where}")
    for key, comment in sorted(comments.items()):
        if key in HYPERPARAMETERS and not comment.startswith(("official", "deviation:", "assumption:")):
            problems.append(
                f"{name}: {key} has no '# official: <where>', '# deviation: <why>' or '# assumption: <why>' comment"
            )
    return problems


@dataclass
class Setting:
    """One official-settings row of a recipe as it runs: its value and where the value comes from."""

    key: str
    value: Any
    #: "official" (the official run's value), "deviation" (differs, the recipe says why) or
    #: "assumption" (a number neither the paper nor the official code gives)
    kind: str
    source: str

    def describe(self) -> str:
        return f"{self.key} = {self.value!r} — {self.kind}: {self.source}"


def recipe_settings(path: str | Path, recipe: Any | None = None) -> list[Setting] | None:
    """Every :data:`OFFICIAL_FILE` row of the recipe at ``path`` with the value it runs (``recipe``:
    already loaded, with overrides), or ``None`` when no official settings cover it (a recipe outside
    a recipes folder)."""
    path = Path(path).resolve()
    root = path.parent.parent
    if not (root / OFFICIAL_FILE).is_file():
        return None
    rows = load_official(root).get(path.relative_to(root).as_posix())
    if rows is None:
        return None
    if recipe is None:
        from ggt_hf.recipes.loading import load_any_recipe

        recipe = load_any_recipe(path)[0]
    comments = recipe_comments(path)
    out = []
    for key, row in sorted(rows.items()):
        actual, source = _resolved(recipe, key), str(row["source"])
        if source.startswith("assumption:"):
            kind, source = "assumption", source.removeprefix("assumption:").strip()
        elif same_value(actual, row["value"]):
            kind = "official"
        else:
            comment = comments.get(key, "")
            why = (
                comment.removeprefix("deviation:").strip()
                if comment.startswith("deviation:")
                else "overridden"
            )
            kind, source = "deviation", f"{why} (official {row['value']!r}: {source})"
        out.append(Setting(key, actual, kind, source))
    return out
