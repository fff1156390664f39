"""The docs are tests: every fenced ``bash`` block of README.md, dataset_builder/README.md and
training/README.md runs, exactly as written, from a fresh temporary working directory (relative
paths, ``bash -e -o pipefail``, the environment inherited, ``HF_HUB_OFFLINE=1``).

A block is annotated by an HTML comment on the line before its fence, with ``;``-separated
directives:

* ``<!-- docs-test: skip (reason) -->`` — needs what a fresh offline folder cannot have: API keys, a
  GPU, the network, a person, or data only the reader has. The reason is required.
* ``slow (reason)`` — runs only in the slow pass (``pytest -m slow``).
* ``photos DIR (description)`` — the reader's photos: DIR is filled with degraded copies of the
  bundled sample photos (one per category below) before the block runs.
* ``check`` — a skipped block checked offline as far as it goes (tests/docs_offline.py: ``bash -n``,
  expansions under ``set -u``, every command parsed, every path it reads known) without the remote
  parts; ``data PATH,PATH (description)`` names the reader's inputs it reads (``x.json``: a file,
  else a folder).

The fast checks below keep the collection honest: every block is either run or skipped with a
reason, the main journeys are among the runnable blocks, and every ``ggt`` sub-command any block
names exists.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "dataset_builder/README.md", "training/README.md")
FENCE = re.compile(r"^```bash\n(.*?)^```\n", re.S | re.M)
ANNOTATION = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
DIRECTIVE = re.compile(r"^(skip|slow|photos|check|data)(?:\s+([^\s(]+))?\s*(?:\((.*)\))?$")
#: The degraded sample photos a ``photos DIR`` block gets: file name -> category of the degradation.
PHOTOS = {"coffee.png": "haze", "chelsea.png": "low_light", "astronaut.png": "rain"}


@dataclass
class Block:
    """One fenced bash block and its docs-test directives."""

    doc: str
    line: int
    code: str
    skip: str | None = None
    slow: bool = False
    photos: str | None = None
    check: bool = False  # skipped, but checked offline (tests/docs_offline.py)
    data: list[str] = field(default_factory=list)  # the reader's inputs a checked block reads
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.doc}:{self.line}"


def _parse_annotation(block: Block, text: str) -> None:
    for part in filter(None, (p.strip() for p in re.split(r";(?![^()]*\))", text))):
        match = DIRECTIVE.match(part)
        if match is None:
            block.problems.append(f"unknown docs-test directive {part!r}")
            continue
        kind, arg, reason = match.groups()
        if kind == "skip":
            if not reason:
                block.problems.append("skip needs a reason in parentheses")
            block.skip = reason or "no reason given"
        elif kind == "slow":
            block.slow = True
        elif kind == "check":
            block.check = True
        elif kind == "data" and arg:
            block.data += arg.split(",")
        elif not arg:
            block.problems.append(f"{kind} needs a path")
        else:
            block.photos = arg


def collect_blocks(doc: str) -> list[Block]:
    """Every ```bash block of ``doc`` (relative to the repository root), in order."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        block = Block(doc, text.count("\n", 0, match.start()) + 1, match.group(1))
        if (annotation := ANNOTATION.search(before)) is not None:
            _parse_annotation(block, annotation.group(1))
        blocks.append(block)
    return blocks


ALL_BLOCKS = [block for doc in DOCS for block in collect_blocks(doc)]
RUNNABLE = [block for block in ALL_BLOCKS if block.skip is None and not block.problems]
CHECKED = [block for block in ALL_BLOCKS if block.skip is not None and block.check and not block.problems]
#: Skipped blocks not yet checked offline (issue 23): lower it as blocks gain ``check``, never raise it.
UNCHECKED_SKIPS = 2


def _make_photos(folder: Path) -> None:
    """The reader's photos: real photos with a recorded, seeded degradation each."""
    import numpy as np
    from PIL import Image

    from ggt_hf.degrade import degrade
    from ggt_hf.pipeline.demo import sample_dir

    folder.mkdir(parents=True)
    for name, category in PHOTOS.items():
        with Image.open(sample_dir() / name) as img:
            clean = np.asarray(img.convert("RGB"))
        Image.fromarray(degrade(clean, category, seed=0).image).save(folder / name)


def run_block(block: Block, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``block`` exactly as written from ``cwd``; returns the finished process."""
    if block.photos:
        _make_photos(cwd / block.photos)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _params(blocks: list[Block]):
    return [
        pytest.param(block, id=block.name, marks=[pytest.mark.slow] if block.slow else []) for block in blocks
    ]


@pytest.mark.timeout(1900)  # above run_block's own limit: a shared, busy machine is slow
@pytest.mark.parametrize("block", _params(RUNNABLE))
def test_doc_block_runs_from_a_fresh_folder(block: Block, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    done = run_block(block, fresh)
    assert done.returncode == 0, (
        f"{block.name} failed (exit {done.returncode}):\n{block.code}\n"
        f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}"
    )


# ---------------------------------------------------------------------------------- fast checks


@pytest.mark.parametrize("block", [pytest.param(b, id=b.name) for b in ALL_BLOCKS])
def test_every_block_is_run_or_skipped_with_a_reason(block: Block) -> None:
    assert not block.problems, f"{block.name}: {'; '.join(block.problems)}"


def test_the_main_journeys_are_among_the_runnable_blocks() -> None:
    runnable = [" ".join(b.code.split()) for b in RUNNABLE]
    assert any(code == "ggt demo demo_out" for code in runnable), "the README's main command"
    journey = next((code for code in runnable if "ggt ingest" in code), "")
    for step in ("ggt ingest", "ggt build", "ggt validate", "ggt push"):
        assert step in journey, f"the own-photos journey lost its {step!r} step"


def test_every_ggt_command_named_in_the_docs_exists() -> None:
    from ggt_hf.cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    named = {m.group(1) for b in ALL_BLOCKS for m in re.finditer(r"(?:^|[\s;&|])ggt ([a-z][\w-]*)", b.code)}
    assert named, "no ggt command found in the docs: the collector is broken"
    assert named <= set(commands.choices), f"unknown sub-commands: {sorted(named - set(commands.choices))}"


def test_the_collector_reads_directives() -> None:
    block = Block("x", 1, "")
    _parse_annotation(block, "photos pics (bundled; real); slow")
    assert (block.photos, block.slow, block.skip, block.problems) == ("pics", True, None, [])
    bad = Block("x", 1, "")
    _parse_annotation(bad, "skip; sometimes")
    assert bad.problems == ["skip needs a reason in parentheses", "unknown docs-test directive 'sometimes'"]
    checked = Block("x", 1, "")
    _parse_annotation(checked, "skip (keys); check; data a/,b.json (the reader's)")
    assert (checked.check, checked.data, checked.problems) == (True, ["a/", "b.json"], [])


# ------------------------------------------------------------ skipped blocks, checked offline


@pytest.mark.parametrize("block", [pytest.param(b, id=b.name) for b in CHECKED])
def test_skipped_block_is_checked_offline(block: Block, tmp_path: Path) -> None:
    from tests.docs_offline import check_block

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    calls = check_block(block.code, fresh, [*block.data, *([block.photos] if block.photos else [])])
    assert calls, f"{block.name}: no command was recorded: the checker is broken"


def test_the_paper_reproduction_blocks_are_checked() -> None:
    checked = ["\n".join(b.code.splitlines()) for b in CHECKED]
    for marker in (
        "ggt bench-mfm",
        "training/recipes/nafnet/wo_ggt.yaml",
        "gemini_nano_banana.yaml --stage pack",
    ):
        assert any(marker in code for code in checked), f"the block with {marker!r} is not checked offline"


def test_no_new_unchecked_skipped_blocks() -> None:
    unchecked = [b.name for b in ALL_BLOCKS if b.skip is not None and not b.check]
    assert len(unchecked) <= UNCHECKED_SKIPS, f"check new skipped blocks offline (; check): {unchecked}"


#: What the checker must catch: the paper blocks' faults before issue 23, and the like.
BROKEN = {
    "a bad system spec": (
        "ggt bench-mfm --real real_lq/ --system gemini:m@adaptive:gpt=NB2+GPT",
        "unknown VLM",
    ),
    "$s_haze": (
        "for s in a b; do ggt eval --pred real_lq/ --dataset real_lq/ --out nafnet_$s_haze.json; done",
        "unbound variable",
    ),
    "a config resolved against its own folder": (
        "ggt build dataset_builder/configs/gemini_nano_banana.yaml\nggt review runs/gemini",
        "source",
    ),
    "a run that was never built": ("ggt review runs/gemini", "run folder runs/gemini"),
    "a literal '...'": (
        "accelerate launch ... training/train_controlnet_flux.py --config x.yaml",
        "no training",
    ),
    "a prediction folder no command writes": (
        "ggt eval --pred pred_x/ --dataset real_lq/ --out x.json",
        "--pred pred_x/",
    ),
    "an unknown flag": ("ggt eval --pred real_lq/ --dataset real_lq/ --judges none", "unrecognized"),
    "an unknown command": ("ggtt eval", "unknown command ggtt"),
    "a literal [--option]": (
        "ggt restore --model classical photos/ out/ [--device cuda --dtype bfloat16]",
        "invalid choice: 'bfloat16]'",
    ),
    "two restorers into one folder": (
        "ggt restore --model classical photos/ out/\nggt restore --model classical:haze photos/ out/",
        "classical wrote there",
    ),
    "shell syntax": ("for s in a b; do ggt eval", "bash -n"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_the_offline_check_catches(name: str, tmp_path: Path) -> None:
    from tests.docs_offline import DocCheckError, check_block

    code, reason = BROKEN[name]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(DocCheckError, match=re.escape(reason)):
        check_block(code, fresh, ["real_lq/", "photos/"])


def test_the_example_build_configs_read_the_same_photos_folder_beside_them() -> None:
    from ggt_hf.pipeline.config import BuildConfig

    folder = ROOT / "dataset_builder" / "configs"
    for name in ("offline_classical.yaml", "gemini_nano_banana.yaml"):
        sources = [Path(s.path) for s in BuildConfig.from_yaml(folder / name).sources]
        assert sources == [folder / "photos"], f"{name}: copy it beside photos/, as the README says"


def test_the_dataset_format_section_names_every_shard_folder() -> None:
    from ggt_hf.constants import HubLayout

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The dataset format", 1)[1].split("\n## ", 1)[0]
    missing = [s for s in HubLayout.SUBSETS if f"{s}/<category>/" not in section]
    assert not missing, f"README 'The dataset format' omits the shard folders {missing}"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ('pip install -e ".[metrics,nope]"', "no extra(s) ['nope']"),
        ("python -c 'print(1'", "python -c"),
        ("python spaces/no_app.py", "python script spaces/no_app.py"),
        (
            "ggt train-plan --config training/recipes/nafnet/no.yaml",
            "--config training/recipes/nafnet/no.yaml",
        ),
    ],
    ids=["unknown-extra", "python-syntax", "missing-script", "missing-recipe"],
)
def test_the_offline_check_catches_setup_commands(code: str, reason: str, tmp_path: Path) -> None:
    from tests.docs_offline import DocCheckError, check_block

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with pytest.raises(DocCheckError, match=re.escape(reason)):
        check_block(code, fresh, [])
