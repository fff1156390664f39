"""The offline check of a README block that cannot run here (``docs-test: skip (...); check``).

A block that needs keys, GPUs or the Hub is still checked as far as it goes offline:

1. ``bash -n``: the block is valid shell.
2. The block runs with ``bash -e -u -o pipefail`` from a folder that looks like the repository (its
   ``dataset_builder/`` and ``training/`` linked in) with the commands that do the remote or heavy
   work (:data:`RECORDED`: ``ggt``, ``accelerate``, ``python``, ...) replaced by a recorder, so loops
   and expansions run for real (``$s_haze`` is an unset variable, an error) while every other command
   (``cp``, ``mkdir``) acts; an unknown command fails naming it.
3. Every recorded call is checked in order (:data:`CHECKS`, one checker per command): it parses
   (argparse; restorer, system and judge specs; build configs; training recipes and overrides) and
   every path it reads exists, is the reader's data (``data`` / ``photos`` directives), or is written
   by an earlier command of the block (``ggt pack ... OUT``, a build's ``output``, a recipe's
   ``train.output_dir``). Nothing is loaded, called or trained.

To check another block: add ``; check`` to its annotation, declare the reader's inputs with
``data PATH,PATH (what they are)``, and add a checker to :data:`CHECKS` for any command it uses that
has none yet (without one a ``ggt`` command is still argparse-checked).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Commands that do the remote or heavy work: recorded, never run.
RECORDED = (
    *("ggt", "accelerate", "python", "pip", "hf", "huggingface-cli", "torchrun", "curl", "wget", "git"),
    "mutmut",
)
#: The repository folders a block run "from the repository folder" reads.
REPO_LINKS = ("dataset_builder", "training", "spaces", "pyproject.toml")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class DocCheckError(AssertionError):
    """A block command that would fail as typed; the message names the command and the reason."""


@dataclass
class World:
    """What the block can read: files on disk under ``cwd``, the reader's data, earlier outputs."""

    cwd: Path
    produced: set[Path] = field(default_factory=set)
    restored_by: dict[Path, str] = field(default_factory=dict)  # restore output folder → its model

    def path(self, text: str | os.PathLike) -> Path:
        return Path(os.path.normpath(self.cwd / Path(text)))

    def produce(self, text: str | os.PathLike) -> None:
        self.produced.add(self.path(text))

    def known(self, text: str | os.PathLike) -> bool:
        """``text`` exists, or is (under) something an earlier command writes."""
        path = self.path(text)
        return path.exists() or any(path == p or path.is_relative_to(p) for p in self.produced)

    def need(self, text: str | os.PathLike, what: str) -> None:
        if not self.known(text):
            raise DocCheckError(f"{what} {text}: neither the reader's data nor written by an earlier command")

    def need_local_or_hub(self, text: str, what: str) -> None:
        """A dataset or model argument: a known path, ``hf://...``, or a Hub repo id that is no local path."""
        if self.known(text) or text.startswith("hf://"):
            return
        top = self.path(text.split("/")[0])  # owner/...: a folder here, or one a command writes into
        local_looking = top.exists() or any(p.is_relative_to(top) for p in self.produced)
        if _HUB_ID.match(text) and not local_looking:
            return  # owner/name: a Hub repo (the Hub is not reachable here)
        self.need(text, what)


Checker = Callable[[list[str], World], None]


def _parse_ggt(argv: list[str]):
    from ggt_hf.cli import build_parser

    errors = StringIO()
    try:
        with redirect_stderr(errors):
            return build_parser().parse_args(argv)
    except SystemExit:
        raise DocCheckError(f"ggt {shlex.join(argv)}: {errors.getvalue().strip().splitlines()[-1]}") from None


def _check_bench_mfm(args, world: World) -> None:
    from ggt_hf.evaluation.bench_mfm import safe_name
    from ggt_hf.restore.spec import parse_judge, parse_system

    names = [parse_system(s).name for s in args.system]
    if len({safe_name(n) for n in names}) != len(names):
        raise DocCheckError(f"bench-mfm: systems share an output folder: {names}")
    parse_judge(args.judge)
    for flag in ("clean", "real", "human", "votes"):
        if getattr(args, flag):
            world.need(getattr(args, flag), f"--{flag}")
    world.produce(args.out)


def _check_eval(args, world: World) -> None:
    from ggt_hf.restore.spec import parse_judge

    if args.compare:
        for item in args.compare:
            label, sep, path = item.partition("=")
            if not sep:
                raise DocCheckError(f"eval --compare {item}: not LABEL=RESULTS.json")
            world.need(path, f"--compare {label}=")
    else:
        parse_judge(args.judge)
        world.need(args.pred, "--pred")
        world.need_local_or_hub(args.dataset, "--dataset")
    if args.out:
        world.produce(args.out)


def _check_restore(args, world: World) -> None:
    from ggt_hf.restore.spec import parse_restorer

    spec = parse_restorer(args.model)
    if spec.kind == "restorer":
        world.need_local_or_hub(args.model, "--model")
    if args.controlnet:
        world.need_local_or_hub(args.controlnet, "--controlnet")
    world.need(args.input, "input")
    out = world.path(args.output)
    earlier = world.restored_by.setdefault(out, args.model)
    if earlier != args.model and not args.overwrite:
        raise DocCheckError(
            f"restore --model {args.model} into {args.output}: {earlier} wrote there (use a new folder)"
        )
    world.produce(args.output)


def _check_convert(args, world: World) -> None:
    from ggt_hf.commands.convert import parse_overrides
    from ggt_hf.restorers.convert import checkpoint_layout

    checkpoint_layout(args.model)  # a model without an official layout fails here
    parse_overrides(args.set)
    for path in args.checkpoint:
        world.need(path, "--checkpoint")
    world.produce(args.out)


def _check_pack(args, world: World) -> None:
    if not str(args.input).startswith("hf://"):
        world.need(args.input, "input")
    world.produce(args.out)


def _check_build(args, world: World) -> None:
    from ggt_hf.pipeline.config import BuildConfig

    world.need(args.config, "config")
    config = BuildConfig.from_yaml(world.path(args.config), list(args.overrides or []))
    for source in config.sources:
        world.need(source.path, f"{args.config}: source")
    world.produce(config.output)


def _check_review(args, world: World) -> None:
    world.need(args.run, "run folder")


def _check_space(args, world: World) -> None:
    for flag in ("arena", "arena_lq"):
        if getattr(args, flag, None):
            world.need(getattr(args, flag), f"--{flag.replace('_', '-')}")
    if args.store:
        world.produce(args.store)


def _check_train_plan(args, world: World) -> None:
    from ggt_hf.recipes.plan import plan_recipe

    if args.readme_table:
        world.need(args.readme_table, "--readme-table")
    if args.config:
        world.need(args.config, "--config")
        plan_recipe(world.path(args.config), args.num_processes, overrides=list(args.overrides or []))


def _check_leaderboard(args, world: World) -> None:
    if args.action == "votes":
        world.need(args.store, "--store")
    if getattr(args, "out", None):
        world.produce(args.out)


#: ``ggt`` sub-command → its offline check (after argparse); add one for every command a block uses.
GGT_CHECKS: dict[str, Callable] = {
    "bench-mfm": _check_bench_mfm,
    "eval": _check_eval,
    "restore": _check_restore,
    "pack": _check_pack,
    "convert": _check_convert,
    "build": _check_build,
    "review": _check_review,
    "space": _check_space,
    "leaderboard": _check_leaderboard,
    "train-plan": _check_train_plan,
}


def _check_ggt(argv: list[str], world: World) -> None:
    args = _parse_ggt(argv)
    check = GGT_CHECKS.get(args.command)
    if check is not None:
        try:
            check(args, world)
        except DocCheckError:
            raise
        except (ValueError, OSError) as exc:
            raise DocCheckError(f"ggt {shlex.join(argv)}: {exc}") from exc


def _check_accelerate(argv: list[str], world: World) -> None:
    """``accelerate launch [--config_file F] [--num_processes N] SCRIPT --config RECIPE [overrides]``."""
    from ggt_hf.recipes.plan import load_any_recipe

    if argv[:1] != ["launch"]:
        raise DocCheckError(f"accelerate {shlex.join(argv)}: only `accelerate launch` is checked")
    rest = argv[1:]
    while rest and rest[0].startswith("--"):
        flag = rest.pop(0)
        value = flag.partition("=")[2] or (rest.pop(0) if rest else "")
        if flag.startswith("--config_file"):
            world.need(value, "--config_file")
    if not rest or not rest[0].endswith(".py"):
        raise DocCheckError(f"accelerate {shlex.join(argv)}: no training script (a literal `...`?)")
    script, options = rest[0], rest[1:]
    world.need(script, "training script")
    if "--config" not in options:
        raise DocCheckError(f"{script}: give --config RECIPE")
    from ggt_hf.training.entry import parse_recipe_args

    try:  # the entry scripts' own parser: --config, overrides and the --push_to_hub style flags
        with redirect_stderr(StringIO()):
            config, overrides = parse_recipe_args(options, script)
    except SystemExit:
        raise DocCheckError(
            f"{script} {shlex.join(options)}: the entry script refuses these arguments"
        ) from None
    recipe_path = str(config)
    world.need(recipe_path, "--config")
    try:
        recipe, _ = load_any_recipe(world.path(recipe_path), overrides)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise DocCheckError(f"{script} --config {recipe_path} {shlex.join(overrides)}: {exc}") from exc
    data = recipe.data
    for source in [*data.ggt, *data.baseline]:
        world.need_local_or_hub(source.path, f"{recipe_path}: data path")
    world.produce(recipe.train.output_dir)


def _check_python(argv: list[str], world: World) -> None:
    """``python -c CODE`` compiles; ``python -m MODULE`` is importable; ``python SCRIPT`` exists."""
    import importlib.util

    if argv[:1] == ["-c"] and len(argv) > 1:
        try:
            compile(argv[1], "<python -c>", "exec")
        except SyntaxError as exc:
            raise DocCheckError(f"python -c {argv[1]!r}: {exc}") from exc
    elif argv[:1] == ["-m"] and len(argv) > 1:
        if importlib.util.find_spec(argv[1]) is None:
            raise DocCheckError(f"python -m {argv[1]}: no such module installed")
    elif argv and argv[0].endswith(".py"):
        world.need(argv[0], "python script")
    else:
        raise DocCheckError(f"python {shlex.join(argv)}: only -c, -m and a script are checked")


def _check_pip(argv: list[str], world: World) -> None:
    """``pip install -e ".[extras]"`` from the repository folder: every extra exists in pyproject.toml."""
    import tomllib

    if argv[:2] != ["install", "-e"] or len(argv) < 3:
        raise DocCheckError(f"pip {shlex.join(argv)}: only `pip install -e .[extras]` is checked")
    target, _, extras = argv[2].partition("[")
    world.need(Path(target) / "pyproject.toml", "pip install -e: the repository folder's")
    declared = tomllib.loads((world.path(target) / "pyproject.toml").read_text())["project"]
    unknown = {e.strip() for e in extras.rstrip("]").split(",") if e.strip()} - set(
        declared.get("optional-dependencies", {})
    )
    if unknown:
        raise DocCheckError(f"pip install -e {argv[2]}: no extra(s) {sorted(unknown)} in pyproject.toml")


def _check_mutmut(argv: list[str], world: World) -> None:
    """``mutmut run PATTERN...`` names mutants of modules ``[tool.mutmut] only_mutate`` lists;
    ``results`` / ``show`` / ``browse`` read what a run left."""
    import fnmatch

    import tomllib

    if argv[:1] != ["run"]:
        if argv[:1] not in (["results"], ["show"], ["browse"]):
            raise DocCheckError(f"mutmut {shlex.join(argv)}: only run, results, show and browse are checked")
        return
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    modules = [m.removesuffix(".py").replace("/", ".") for m in config["only_mutate"]]
    for pattern in argv[1:]:
        if not any(fnmatch.fnmatch(f"{m}.x_function__mutmut_1", pattern) for m in modules):
            raise DocCheckError(f"mutmut run {pattern}: no module of [tool.mutmut] only_mutate matches")


#: Recorded command → its offline check; a recorded command without one fails (add a checker).
CHECKS: dict[str, Checker] = {
    "ggt": _check_ggt,
    "accelerate": _check_accelerate,
    "python": _check_python,
    "pip": _check_pip,
    "mutmut": _check_mutmut,
}


def _recorder_prelude(log: Path) -> str:
    functions = "\n".join(f'{name}() {{ __docs_record {name} "$@"; }}' for name in RECORDED)
    return (
        f'__docs_record() {{ printf \'%s\\0\' "$#" "$@" >> {shlex.quote(str(log))}; }}\n'
        f"{functions}\n"
        'command_not_found_handle() { echo "docs-check: unknown command $1" >&2; return 127; }\n'
    )


def _read_calls(log: Path) -> list[list[str]]:
    fields = log.read_bytes().decode().split("\0")[:-1] if log.exists() else []
    calls = []
    while fields:
        count = int(fields.pop(0))
        calls.append(fields[:count])
        del fields[:count]
    return calls


def recorded_calls(code: str, cwd: Path) -> list[list[str]]:
    """Run ``code`` with the :data:`RECORDED` commands recorded; returns their argv, in order."""
    syntax = subprocess.run(["bash", "-n", "-c", code], capture_output=True, text=True)
    if syntax.returncode:
        raise DocCheckError(f"bash -n: {syntax.stderr.strip()}")
    for name in REPO_LINKS:
        if not (cwd / name).exists():
            (cwd / name).symlink_to(ROOT / name)
    log = cwd.parent / f".{cwd.name}.calls"
    done = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", _recorder_prelude(log) + code],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode:
        raise DocCheckError(f"the block stops (exit {done.returncode}): {done.stderr.strip()[-1000:]}")
    return _read_calls(log)


def check_block(code: str, cwd: Path, data: list[str]) -> list[list[str]]:
    """The offline check of ``code`` from ``cwd`` (see the module docstring); returns the calls checked.

    ``data`` are the reader's inputs (created empty: a name with a suffix is a file, else a folder).
    """
    for item in data:
        path = cwd / item
        if Path(item.rstrip("/")).suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    world = World(cwd)
    calls = recorded_calls(code, cwd)
    for argv in calls:
        check = CHECKS.get(argv[0])
        if check is None:
            raise DocCheckError(f"{shlex.join(argv)}: no offline check for {argv[0]!r} (add one to CHECKS)")
        check(argv[1:], world)
    return calls
