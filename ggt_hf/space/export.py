"""A self-contained Space repository: ``ggt space export DIR`` and ``ggt space deploy REPO_ID``.

:func:`export_space` writes into ``DIR``:

* ``app.py`` — starts the Space from ``GGT_SPACE_*`` variables (:data:`APP_PY`);
* ``README.md`` — the Space card, whose YAML header's ``sdk_version`` is the gradio installed here
  and ``python_version`` this interpreter's;
* ``wheels/ggt_hf-<version>-py3-none-any.whl`` — this package, built from its source checkout;
* ``requirements.txt`` — the wheel (by its path relative to ``DIR``) and, pinned exactly as
  ``pyproject.toml`` pins them, the base dependencies and those of the extras the tabs need
  (:data:`SPACE_EXTRAS`).

The repository's own ``spaces/`` folder is the development copy written by the same code without a
wheel (``export_space("spaces", wheel=False)``; a test keeps the two in agreement): there the
requirements say where ``ggt-hf`` itself comes from instead of naming a wheel.

:func:`deploy_space` exports into a folder and uploads it: ``HfApi.create_repo(repo_type="space",
space_sdk="gradio", exist_ok=True)`` then ``HfApi.upload_folder``; ``dry_run`` only exports and
reports what would be uploaded.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from ggt_hf.errors import GGTError
from ggt_hf.files.output_folders import claim_output_folder

if TYPE_CHECKING:
    from huggingface_hub import HfApi

logger = logging.getLogger(__name__)

#: Extras whose dependencies the Space's tabs need (gradio; pyiqa/torch for the metric deltas).
SPACE_EXTRAS: tuple[str, ...] = ("space", "metrics")
WHEELS_FOLDER = "wheels"
#: What a source checkout must hold to build the wheel (``ggt_hf/_templates`` links to model_cards/).
_SOURCE_ITEMS = ("pyproject.toml", "README.md", "LICENSE", "ggt_hf", "model_cards")

APP_PY = '''"""Hugging Face Space entry point: the ggt-hf Space, configured from GGT_SPACE_* variables.

Written by `ggt space export` (the repository's spaces/ folder is its development copy). Locally:
`python app.py` (or `ggt space`); GRADIO_SERVER_NAME / GRADIO_SERVER_PORT pick the address.
Everything lives in the library (ggt_hf.space); this file only starts it.
"""

import logging

from ggt_hf.space import SpaceConfig, launch_space

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    launch_space(SpaceConfig.from_env())
'''

_README_HEADER = """---
title: GGT Restoration Leaderboard
emoji: 🖼️
colorFrom: blue
colorTo: indigo
sdk: gradio
sdk_version: {sdk_version}
python_version: "{python_version}"
app_file: app.py
pinned: false
hf_oauth: true
license: apache-2.0
short_description: Restore photos, compare restorers, submit, vote blind
tags:
  - image-restoration
  - image-to-image
  - leaderboard
  - arena
  - ggt-hf
---
"""

_README_BODY = """
# GGT: Generative Ground Truth for image restoration

The ggt-hf Space: **Restore** a photo (upload or one of the degraded examples, one per category;
before/after slider, lossless PNG download, no-reference metric deltas), the **Leaderboard** of
restorers on the GGT test split (composite and sort directions from the metric specs table),
**Submit** predictions or a Hub model id (pinned to its current commit, queued, scored by
`ggt leaderboard worker`), and the blind **Arena** (Bradley–Terry ranking with bootstrap intervals).

It runs with nothing configured: the `classical` offline baseline on the bundled example photos and
a built-in arena of the baseline's outputs on them. Settings, as Space variables / secrets:

| variable | what it enables |
|---|---|
| `GGT_SPACE_STORE` | leaderboard store folder (use `/data/...` with persistent storage) |
| `GGT_SPACE_REQUESTS_REPO`, `GGT_SPACE_RESULTS_REPO` | mirror requests / results to Hub dataset repos (needs `HF_TOKEN`) |
| `GGT_SPACE_DATASET` | the packed GGT dataset (Hub id) whose test split submissions are checked against |
| `GGT_SPACE_MODELS` | restorer weights offered in Restore: `label=user/repo,...` |
| `GGT_SPACE_PIPELINES` | diffusers pipelines: `model_id[+lora_repo],...` |
| `GGT_SPACE_ARENA` | arena folder of `<system>/<id>.png` outputs (LQ in `<arena>/lq`, never a system) |
| `GGT_SPACE_BUILTIN_ARENA` | `0` hides the built-in arena when no arena folder is set |
| `GGT_SPACE_ADMINS` | Hugging Face accounts that may replace any leaderboard row, comma-separated |
| `GGT_SPACE_RATE_LIMIT`, `GGT_SPACE_VOTE_LIMIT` | submissions / counted votes per account per 24 h (default 5 / 100) |
| `GGT_SPACE_SIGN_IN` | `0` turns the Hugging Face sign-in off (then callers are keyed by their address) |
| `GGT_SPACE_TRUSTED_PROXIES` | proxy IPs whose `X-Forwarded-For` is believed (default none) |
| `GGT_SPACE_TEMP_MAX_MB`, `GGT_SPACE_TEMP_MAX_FILES` | bound of the Space's temp folder (default 1024 MB / 2000 files) |
| `GGT_SPACE_UPLOAD_MAX_MB` | largest single upload (default 200 MB, at most the temp bound) |
| `GGT_SPACE_ARENA_LQ` | the arena's LQ folder when it is not `<arena>/lq` |
| `GGT_SPACE_RUN_DIR` | a build run folder: adds the QC review app as a tab |
| `GGT_SPACE_METRICS` | NR metrics of the restore deltas, comma-separated (default: the paper's NR metrics + PIQE) |
| `GGT_SPACE_MAX_SIDE` | longer uploads are resized to this side (default 2048) |
| `GGT_SPACE_TILE`, `GGT_SPACE_TILE_OVERLAP` | tile size / overlap of registry restorers (default 512 / 32; tile 0 = no tiling) |
| `GGT_SPACE_EXAMPLES` | example photos offered in Restore, comma-separated paths (default: the bundled ones) |
| `GGT_SPACE_DEVICE` | `cpu`, `cuda`, ... (default: CUDA when present) |
| `GGT_SPACE_WARM_UP` | `0` serves before loading the restorer and the metric engine (torch, pyiqa); the first restore then loads them, seconds slower. Default: loaded before the server accepts requests |
| `GEMINI_API_KEY`, `OPENAI_API_KEY`, `HF_TOKEN` | the matching API restorers appear in Restore |

`hf_oauth: true` above adds "Sign in with Hugging Face": submitting and voting need a signed-in
account. A leaderboard row belongs to the account that first submitted its model name; only that
account or an admin can replace it. Votes count at most `GGT_SPACE_VOTE_LIMIT` per account per day
and once per comparison. Model submissions take Hub repo ids only (`user/name`, checked with
`huggingface_hub`'s validator, pinned to the commit sha at submission); every refused submission
counts against the submitter's rate limit.

{install}
Every action is also a named API endpoint (`gradio_client`): `/restore`, `/restorers`,
`/leaderboard`, `/submit_predictions`, `/submit_model`, `/request_status`, `/arena_pair`, `/vote`,
`/arena_ranking`.
"""

_INSTALL_EXPORTED = """This folder was written by `ggt space export`: `requirements.txt` installs ggt-hf from the wheel
in `wheels/` with the pinned dependencies of its `{extras}` extras. Run it locally with
`pip install -r requirements.txt && python app.py`.
"""

_INSTALL_DEV = """This is the development copy in the ggt-hf repository. Deploy with
`ggt space export DIR` (a self-contained folder: this app, this card and a wheel of ggt-hf) or
`ggt space deploy user/space-name`; run it locally with `ggt space` or `python spaces/app.py`.
"""


class SpaceExportError(GGTError):
    """The Space folder cannot be exported or deployed (the reason says why)."""


@dataclass
class SpaceExport:
    """What :func:`export_space` wrote."""

    folder: Path
    files: list[str] = field(default_factory=list)  # relative to ``folder``
    wheel: str | None = None  # relative path of the wheel, when built
    sdk_version: str = ""
    sizes: dict[str, int] = field(default_factory=dict)  # bytes per file

    def describe(self) -> list[str]:
        """Lines for the CLI: the folder, the card's gradio version, each file with its size."""
        lines = [f"Space folder {self.folder} (sdk_version {self.sdk_version}):"]
        return lines + [f"  {name} ({self.sizes.get(name, 0):,} bytes)" for name in self.files]


def source_root() -> Path:
    """The source checkout this ``ggt_hf`` was imported from (the folder with ``pyproject.toml``)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise SpaceExportError(
            "ggt_hf", f"no pyproject.toml next to {root / 'ggt_hf'}: export needs a source checkout of ggt-hf"
        )
    return root


def _gradio_version() -> str:
    try:
        import gradio
    except ImportError:
        raise SpaceExportError("gradio", "not installed: pip install 'ggt-hf[space]'") from None
    return gradio.__version__


def pinned_requirements(root: Path, extras: tuple[str, ...] = SPACE_EXTRAS) -> list[str]:
    """The base dependencies and those of ``extras`` exactly as ``root/pyproject.toml`` pins them
    (extras that name other extras of ggt-hf are expanded), in pyproject order, without duplicates."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    name = project["name"]
    out: list[str] = []

    def add(requirements: list[str]) -> None:
        for requirement in requirements:
            if requirement.replace("_", "-").startswith(f"{name}["):
                for extra in requirement.split("[", 1)[1].rstrip("]").split(","):
                    add(optional[extra.strip()])
            elif requirement not in out:
                out.append(requirement)

    add(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            raise SpaceExportError(extra, f"no such extra in {root / 'pyproject.toml'}")
        add(optional[extra])
    return out


def build_wheel(root: Path, out: Path) -> Path:
    """Build the ggt-hf wheel of the checkout ``root`` into ``out`` (from a clean copy of the
    source, so the checkout gets no build/ or egg-info folders); the wheel's path."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("ggt_hf-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="ggt-space-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for item in _SOURCE_ITEMS:
            path = root / item
            if path.is_dir():
                shutil.copytree(path, src / item, symlinks=True, ignore=ignore)
            elif path.is_file():
                shutil.copy2(path, src / item)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        done = subprocess.run([*command, "-w", str(out), str(src)], capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["pip wheel failed"])[-1]
            raise SpaceExportError(str(root), f"building the wheel failed: {last}")
    wheels = sorted(out.glob("ggt_hf-*.whl"))
    if len(wheels) != 1:
        raise SpaceExportError(str(out), f"expected one ggt_hf wheel, found {len(wheels)}")
    return wheels[0]


def render_readme(sdk_version: str, *, exported: bool = True) -> str:
    """The Space card: YAML header (``sdk_version``, this Python) and the body."""
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = _INSTALL_EXPORTED.format(extras=",".join(SPACE_EXTRAS)) if exported else _INSTALL_DEV
    header = _README_HEADER.format(sdk_version=sdk_version, python_version=python_version)
    return header + _README_BODY.format(install=install)


def render_requirements(requirements: list[str], wheel: str | None) -> str:
    """``requirements.txt``: the wheel's relative path (or, without one, where ggt-hf comes from)
    and the pinned dependencies."""
    source = (
        f"./{wheel}"
        if wheel
        else "# ggt-hf itself: `ggt space export DIR` builds its wheel into DIR/wheels and names it here"
    )
    lines = [
        "# Written by `ggt space export`: ggt-hf and the pinned dependencies of its "
        f"{'/'.join(SPACE_EXTRAS)} extras (gradio itself comes from sdk_version in README.md).",
        source,
        *requirements,
    ]
    return "\n".join(lines) + "\n"


def _earlier_export(folder: Path) -> bool:
    """Whether ``folder`` holds a Space exported by ggt (its ``app.py`` is ours, word for word)."""
    try:
        return (folder / "app.py").read_text(encoding="utf-8") == APP_PY
    except (OSError, UnicodeDecodeError):
        return False


def export_space(folder: str | os.PathLike, *, wheel: bool = True) -> SpaceExport:
    """Write the Space repository into ``folder`` (new, empty, or an earlier export: a folder of
    other files is refused, see :mod:`ggt_hf.files.output_folders`; files it owns are replaced, so
    re-running is safe). ``wheel=False`` writes the development copy (no wheel)."""
    folder = Path(folder)
    root = source_root()
    sdk_version = _gradio_version()
    requirements = pinned_requirements(root)
    claim_output_folder(folder, "space", recognise=_earlier_export, command="ggt space export")
    export = SpaceExport(folder, sdk_version=sdk_version)
    if wheel:
        built = build_wheel(root, folder / WHEELS_FOLDER)
        export.wheel = built.relative_to(folder).as_posix()
    texts = {
        "app.py": APP_PY,
        "README.md": render_readme(sdk_version, exported=wheel),
        "requirements.txt": render_requirements(requirements, export.wheel),
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    export.files = sorted([*texts, *([export.wheel] if export.wheel else [])])
    export.sizes = {name: (folder / name).stat().st_size for name in export.files}
    logger.info("exported the Space into %s (%s)", folder, ", ".join(export.files))
    return export


def deploy_space(
    repo_id: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    folder: str | os.PathLike | None = None,
    api: HfApi | None = None,
    token: str | None = None,
) -> tuple[SpaceExport, str | None]:
    """Export the Space (into ``folder``, default a temporary folder) and upload it to the Space
    ``repo_id``: ``create_repo(repo_type="space", space_sdk="gradio", exist_ok=True)`` then
    ``upload_folder``. Returns the export and the Space URL (``None`` on a dry run)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise SpaceExportError(repo_id, "not a Hub repo id (expected user/space-name)") from None
    with tempfile.TemporaryDirectory(prefix="ggt-space-export-") as tmp:
        export = export_space(folder if folder is not None else tmp)
        if dry_run:
            return export, None
        if api is None:
            from huggingface_hub import HfApi

            from ggt_hf.hub.push import resolve_token

            api = HfApi(token=resolve_token(token))
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(export.folder),
            repo_id=repo_id,
            repo_type="space",
            allow_patterns=export.files,
            commit_message=f"Deploy the ggt-hf Space (gradio {export.sdk_version})",
        )
    return export, str(url)


__all__ = [
    "APP_PY",
    "SPACE_EXTRAS",
    "SpaceExport",
    "SpaceExportError",
    "build_wheel",
    "deploy_space",
    "export_space",
    "pinned_requirements",
    "render_readme",
    "render_requirements",
]
