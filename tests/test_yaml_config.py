"""YAML aliases are bounded wherever ggt-hf reads YAML (issue 21.10).

A "billion laughs" document under ``backend.options`` made ``ggt build`` hang (≥1.2 GB and growing):
PyYAML shares aliased nodes, but everything that walks the loaded config expands them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ggt_hf.cli import main
from ggt_hf.errors import UsageError
from ggt_hf.files.yaml_config import MAX_YAML_CHARS, MAX_YAML_NODES, load_yaml, safe_load
from ggt_hf.runtime.error_reporting import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[1]


def laughs(levels: int, indent: str = "") -> str:
    """Aliases of aliases: ``9**levels`` nodes once expanded, a few hundred bytes as text."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_naming_the_file(tmp_path) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(laughs(9))  # 9**9 = 387 M strings once expanded
    with pytest.raises(UsageError, match=f"expand to more than {MAX_YAML_NODES:,} nodes") as info:
        load_yaml(path)
    assert info.value.item == str(path)


def test_ggt_build_refuses_laughs_under_backend_options(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("ggt_hf.files.yaml_config.MAX_YAML_NODES", 1_000)  # so that unbounded code ends too
    (tmp_path / "photos").mkdir()
    options = laughs(4, indent="    ")  # 6,561 nodes once expanded
    Path("lol.yaml").write_text(
        f"output: run\nsources:\n  - {{path: photos/}}\nbackend:\n  options:\n{options}"
    )
    assert main(["build", "lol.yaml"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "error: lol.yaml: YAML aliases expand to more than 1,000 nodes" in err
    assert not Path("run").exists()


def big_text_reused(uses: int, size: int = 64 * 1024) -> str:
    """One ``size``-character text anchored once and repeated through ``uses`` aliases: few nodes,
    ``size * uses`` characters once expanded (the attack that the node count alone let through)."""
    return f'blob: &a "{"x" * size}"\nmany: [' + ", ".join(["*a"] * uses) + "]\n"


def test_a_large_text_reused_through_aliases_is_refused_naming_the_file(tmp_path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(big_text_reused(300))  # 19.7 MB once expanded, from a 65 KB file
    assert MAX_YAML_CHARS < 64 * 1024 * 301
    with pytest.raises(UsageError, match=f"more than {MAX_YAML_CHARS:,} characters") as info:
        load_yaml(path)
    assert info.value.item == str(path)
    assert len(safe_load(big_text_reused(10))["many"]) == 10  # 640 KiB expanded: fine


def test_ggt_build_refuses_a_large_text_reused_under_backend_options(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    options = "".join(f"    {line}\n" for line in big_text_reused(300).splitlines())
    Path("big.yaml").write_text(
        f"output: run\nsources:\n  - {{path: photos/}}\nbackend:\n  name: classical\n  options:\n{options}"
    )
    assert main(["build", "big.yaml", "--stage", "ingest"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"error: big.yaml: YAML text expands (through aliases) to more than {MAX_YAML_CHARS:,}" in err
    assert not Path("run").exists()


def test_self_containing_alias_and_deep_nesting_are_refused() -> None:
    with pytest.raises(UsageError, match="contains it"):
        safe_load("a: &a [1, *a]", "loop.yaml")
    with pytest.raises(UsageError, match="nested too deeply"):
        safe_load("[" * 50_000, "deep.yaml")


def test_a_few_anchors_aliases_and_merge_keys_still_load(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text("defaults: &d {lr: 1.0e-3, betas: [0.9, 0.99]}\n")
    (tmp_path / "run.yaml").write_text(
        "extends: base.yaml\nsmall: &s {width: 8}\ntrain:\n  <<: *s\n  steps: 2\nboth: [*s, *s]\n"
    )
    data = load_yaml(tmp_path / "run.yaml", ["train.steps=3"])
    assert data["train"] == {"width": 8, "steps": 3}
    assert data["both"] == [{"width": 8}, {"width": 8}]
    assert data["defaults"]["betas"] == [0.9, 0.99]
    assert safe_load(laughs(4)) is not None  # 6,561 nodes: well within the limit


@pytest.mark.parametrize("folder", ["dataset_builder", "training/recipes"])
def test_the_repos_own_configs_load(folder) -> None:
    files = sorted((ROOT / folder).rglob("*.yaml"))
    assert files
    for path in files:
        assert isinstance(load_yaml(path), dict), path


@pytest.mark.parametrize("value", [0, 4, 10])
def test_ggt_build_refuses_max_attempts_outside_the_range_naming_it(
    tmp_path, monkeypatch, capsys, value
) -> None:
    """``qc.max_attempts: 10`` used to run 10 paid generations per item (and 0 was silently made 1):
    the value is refused with the valid range before any work."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    Path("b.yaml").write_text(
        f"output: run\nsources:\n  - {{path: photos/}}\nqc: {{max_attempts: {value}}}\n"
    )
    assert main(["build", "b.yaml"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"config.qc.max_attempts: expected between 1 and 3, got {value}" in err
    assert not Path("run").exists()


def test_minimum_and_maximum_metadata_bound_a_field() -> None:
    import dataclasses

    from ggt_hf.files.yaml_config import from_dict

    @dataclasses.dataclass
    class Bounds:
        low: int = dataclasses.field(default=5, metadata={"minimum": 1})
        high: float = dataclasses.field(default=0.5, metadata={"maximum": 1.0})
        both: int = dataclasses.field(default=2, metadata={"minimum": 1, "maximum": 3})

    assert from_dict(Bounds, {"low": 1, "high": 1.0, "both": 3}) == Bounds(1, 1.0, 3)
    for data, message in [
        ({"low": 0}, "cfg.low: expected at least 1, got 0"),
        ({"high": 1.5}, "cfg.high: expected at most 1.0, got 1.5"),
        ({"both": 4}, "cfg.both: expected between 1 and 3, got 4"),
        ({"both": 0}, "cfg.both: expected between 1 and 3, got 0"),
    ]:
        with pytest.raises(ValueError) as info:
            from_dict(Bounds, data, "cfg")
        assert str(info.value) == message


def test_a_text_that_is_not_yaml_where_a_number_belongs_is_named_not_a_crash(
    tmp_path, monkeypatch, capsys
) -> None:
    """``seed: '"'`` crashed ``ggt build`` with a YAML ScannerError from inside the error message
    (it re-read the text as YAML to suggest removing quotes); found by the config property tests."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    Path("b.yaml").write_text("output: run\nsources:\n  - {path: photos/}\nseed: '\"'\n")
    assert main(["build", "b.yaml"]) == EXIT_USAGE
    assert "config.seed: expected an integer, got the string '\"'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "value"), [("2e-4", 2e-4), ("1e3", 1000.0), ("1.0e5", 1e5), ("-3E+2", -300.0)]
)
def test_exponent_floats_are_numbers_as_in_yaml_1_2(text, value) -> None:
    """PyYAML (YAML 1.1) reads `2e-4` as text; a recipe override `train.learning_rate=2e-4` was
    refused as "the string '2e-4'"."""
    assert safe_load(f"lr: {text}") == {"lr": value}
    assert safe_load(f"lr: '{text}'") == {"lr": text}  # quoted stays text
    assert safe_load("v: 1e") == {"v": "1e"} and safe_load("v: 12") == {"v": 12}


def test_a_recipe_override_with_an_exponent_learning_rate_loads() -> None:
    from ggt_hf.training.restorer_task import RestorerRecipe

    recipes = Path(__file__).parents[1] / "training" / "recipes" / "nafnet"
    recipe = RestorerRecipe.from_yaml(recipes / "ggt_mix.yaml", ["train.learning_rate=2e-4"])
    assert recipe.train.learning_rate == 2e-4
