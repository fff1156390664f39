"""The architecture, checked: one layer table, no import cycles, imports only go down.

Every module under ``ggt_hf/`` is parsed with :mod:`ast` (nothing is imported): its ``import`` and
``from ... import`` statements at any depth (inside functions and ``if TYPE_CHECKING:`` blocks too)
and the dotted module names written as whole strings (``"ggt_hf.backends.gemini:GeminiVLM"``: the
lazy registries import those). From that graph:

* no two modules may import each other, directly or around a circle (:data:`KNOWN_CYCLES` aside);
* a module may import only from its own package or from a package of a LOWER tier of
  :data:`LAYERS` (a root module such as ``errors.py`` counts as a package of its own);
* the README's "Architecture" section is :func:`architecture_table` of the same table, so the two
  cannot drift (``python tests/test_architecture.py`` rewrites it).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: package (or root module) → (tier, what it owns), bottom to top. A package may import only
#: packages of a lower tier; packages of one tier are independent of each other.
LAYERS: dict[str, tuple[int, str]] = {
    "ggt_hf": (0, "the package root: the version only, so `import ggt_hf` stays light"),
    "constants": (0, "categories, column names, Hub layout, judge aspects, schema versions, format tags"),
    "errors": (1, "typed exceptions (`GGTError` carries item and reason) and how an item is named"),
    "records": (1, "typed, versioned records of a build: items, provenance, QC checks"),
    "files": (
        2,
        "atomic writes, safe folder walks, locks, output-folder ownership, YAML/metadata/table "
        "files, a build run's folder (`run_store`)",
    ),
    "imaging": (2, "safe image decode, normalise and encode; tensors; image hashes"),
    "runtime": (
        2,
        "parallelism, memory, network/offline Hub, secret redaction, error reports, "
        "user code (`module:attr`)",
    ),
    "metrics": (3, "the metric specs table and the runner over pyiqa, metric weights"),
    "degrade": (3, "synthetic degradations and synthetic LQ/HQ pairs"),
    "restorers": (3, "restorer architectures (configuration + modeling), their registry, tiling, conversion"),
    "judging": (3, "the judge protocol (`Verdict`, `Judge`), geometry/colour checks, the heuristic judge"),
    "prompt_texts": (3, "the prompt and instruction texts sent to models"),
    "hub": (
        4,
        "the dataset format: pack, layout, validate, push, mirror, eval results; the card renderer; "
        "Hub id or local folder",
    ),
    "backends": (
        4,
        "MFM and VLM clients behind one protocol, their registry, retry/rate-limit/cache wrappers",
    ),
    "prompts": (
        5,
        "prompting strategies (fixed, fixed-no-change, adaptive through a VLM), corrective prompts",
    ),
    "ingest": (5, "real LQ photos into normalised LQ images with source, licence and category"),
    "qc": (6, "quality control: metric filter, judge loop with corrective re-prompts, human review"),
    "restore": (6, "restorer specs, the `Restorer` factory and restore provenance"),
    "pipeline": (7, "`ggt build` (photos to a packed dataset: stages, config, report, lock) and `ggt demo`"),
    "evaluation": (7, "evaluating restorers: references, metrics, composite score, VLM-R, bench-mfm, tables"),
    "training": (8, "the one trainer core, training data, losses, schedules, batch split, model cards"),
    "generative": (9, "LoRA / ControlNet training of diffusion restorers on the trainer core"),
    "recipes": (10, "training recipes of either kind: reading one, `ggt train-plan`, official settings"),
    "leaderboard": (10, "submissions, the evaluation queue, results and votes stores, arena, study, table"),
    "space": (11, "the Gradio Space: restore, leaderboard, arena, submissions"),
    "testing": (11, "tiny models for tests and the README"),
    "commands": (12, "one module per `ggt` sub-command"),
    "cli": (13, "the `ggt` entry point"),
}

#: Import cycles allowed for now, each a set of modules (none: the last one, pipeline/build.py <->
#: pipeline/unfiltered.py, went with the one review gate). An entry must still be a cycle.
KNOWN_CYCLES: list[frozenset[str]] = []

_MODULE_STRING = re.compile(r"ggt_hf(?:\.\w+)+(?::\w+)?")
README_START = "<!-- architecture: generated from tests/test_architecture.py LAYERS -->"
README_END = "<!-- architecture: end -->"


def module_files(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package ``__init__``) for every ``.py`` under ``root/<pkg>``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _known(name: str, modules: dict) -> str | None:
    """``name`` or its nearest enclosing module that exists (``pkg.mod.Class`` → ``pkg.mod``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(name: str, is_package: bool, node: ast.AST, modules: dict) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = name.split(".")[: None if is_package else -1]
            base = base[: len(base) - node.level + 1]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` imports mod
        return [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names]
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _MODULE_STRING.fullmatch(node.value)
    ):
        return [node.value.partition(":")[0]]
    return []


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the modules of the same tree it imports (any depth, ``TYPE_CHECKING`` included)."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _targets(name, is_package, node, modules):
                known = _known(target, modules)
                if known and known != name:
                    edges.add(known)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of ``graph``: its strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_of(module: str) -> str:
    """``ggt_hf.hub.card`` → ``hub``; ``ggt_hf.errors`` → ``errors``; ``ggt_hf`` → ``ggt_hf``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(graph: dict[str, set[str]], layers: dict[str, tuple[int, str]]) -> list[str]:
    """Every import from a package to one of the same or a higher tier, as readable lines."""
    problems = []
    for module, targets in sorted(graph.items()):
        source = package_of(module)
        for target in sorted(targets):
            dest = package_of(target)
            if dest == source:
                continue
            if source not in layers or dest not in layers:
                missing = source if source not in layers else dest
                problems.append(f"{module} -> {target}: package {missing!r} is not in the layer table")
            elif layers[dest][0] >= layers[source][0]:
                problems.append(
                    f"{module} -> {target}: {source} (tier {layers[source][0]}) may not import "
                    f"{dest} (tier {layers[dest][0]})"
                )
    return problems


def architecture_table(layers: dict[str, tuple[int, str]] = LAYERS) -> str:
    """The README's architecture table, bottom tier first."""
    rows = ["| tier | package | owns | may import |", "|---|---|---|---|"]
    for name, (tier, owns) in sorted(layers.items(), key=lambda kv: (kv[1][0], kv[0] != "ggt_hf", kv[0])):
        where = (
            "`ggt_hf/__init__.py`"
            if name == "ggt_hf"
            else f"`ggt_hf/{name}{'/' if _is_dir(name) else '.py'}`"
        )
        below = "nothing of ggt_hf" if tier == 0 else ("tier 0" if tier == 1 else f"tiers 0–{tier - 1}")
        rows.append(f"| {tier} | {where} | {owns} | {below} |")
    return "\n".join(rows)


def _is_dir(name: str) -> bool:
    return (REPO / "ggt_hf" / name).is_dir()


def _readme_section(text: str) -> str | None:
    if README_START not in text or README_END not in text:
        return None
    return text.split(README_START, 1)[1].split(README_END, 1)[0].strip()


# ---------------------------------------------------------------- the real tree


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(REPO / "ggt_hf")


def test_layer_table_names_every_package():
    root = REPO / "ggt_hf"
    found = {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    found |= {p.stem for p in root.glob("*.py") if p.stem != "__init__"} | {"ggt_hf"}
    assert found == set(LAYERS), (
        f"add to LAYERS: {sorted(found - set(LAYERS))}; remove from LAYERS: {sorted(set(LAYERS) - found)}"
    )


def test_no_import_cycles(graph):
    cycles = [c for c in import_cycles(graph) if frozenset(c) not in KNOWN_CYCLES]
    assert not cycles, "import cycles (break each by moving what both need to a lower module):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_known_cycles_still_exist(graph):
    """An exception may not outlive its cycle: once the cycle is gone, remove it from KNOWN_CYCLES."""
    found = {frozenset(c) for c in import_cycles(graph)}
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not gone, f"no longer a cycle, remove from KNOWN_CYCLES: {gone}"


def test_imports_only_go_down(graph):
    problems = upward_imports(graph, LAYERS)
    assert not problems, "imports against the layer table (tests/test_architecture.py LAYERS):\n" + "\n".join(
        problems
    )


def test_readme_architecture_section_is_the_layer_table():
    section = _readme_section((REPO / "README.md").read_text(encoding="utf-8"))
    assert section is not None, (
        f"README.md lacks the architecture table between {README_START} and {README_END}"
    )
    assert section == architecture_table(), (
        "README architecture table is stale: run python tests/test_architecture.py"
    )


# ---------------------------------------------------------------- the checker itself


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "ggt_hf"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_checker_finds_a_cycle_hidden_in_a_function_and_under_type_checking(tmp_path):
    root = _tree(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/a.py": "def f():\n    from ggt_hf.low import b\n",
            "low/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ggt_hf.low.c import C\n",
            "low/c.py": "from .a import f\n",
            "low/d.py": "from ggt_hf.low.a import f\n",
        },
    )
    assert import_cycles(import_graph(root)) == [["ggt_hf.low.a", "ggt_hf.low.b", "ggt_hf.low.c"]]


def test_checker_finds_an_upward_import_and_an_unlisted_package(tmp_path):
    root = _tree(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/x.py": "REGISTRY = {'y': 'ggt_hf.high.y:Thing'}\n",
            "high/__init__.py": "",
            "high/y.py": "import ggt_hf.low.x\n",
            "stray.py": "from ggt_hf.low import x\n",
        },
    )
    problems = upward_imports(import_graph(root), {"ggt_hf": (0, ""), "low": (1, ""), "high": (2, "")})
    assert problems == [
        "ggt_hf.low.x -> ggt_hf.high.y: low (tier 1) may not import high (tier 2)",
        "ggt_hf.stray -> ggt_hf.low.x: package 'stray' is not in the layer table",
    ]


def test_checker_refuses_imports_between_packages_of_one_tier(tmp_path):
    root = _tree(tmp_path, {"a/__init__.py": "from ggt_hf.b import thing\n", "b/__init__.py": "thing = 1\n"})
    assert upward_imports(import_graph(root), {"a": (1, ""), "b": (1, "")}) == [
        "ggt_hf.a -> ggt_hf.b: a (tier 1) may not import b (tier 1)"
    ]


if __name__ == "__main__":  # rewrite the README's architecture table from LAYERS
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    if _readme_section(text) is None:
        sys.exit(f"README.md lacks the markers {README_START} / {README_END}")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(
        f"{head}{README_START}\n\n{architecture_table()}\n\n{README_END}{tail}", encoding="utf-8"
    )
