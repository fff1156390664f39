"""``module:function`` from the working directory loads the user's file and nothing else (issue 21.8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import ggt_hf
from ggt_hf.errors import UsageError
from ggt_hf.runtime.user_code import import_callable

REPO = Path(__file__).resolve().parents[1]


def _hostile(folder: Path, name: str, marker: Path) -> None:
    """A ``name.py`` that leaves ``marker`` behind when anything executes it."""
    (folder / f"{name}.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('executed {name}.py')\n"
    )


@pytest.fixture
def installed_pkg(tmp_path, monkeypatch) -> str:
    """A package importable from sys.path (like an installed one) and not imported yet."""
    site = tmp_path / "site"
    (site / "ggt_probe_installed").mkdir(parents=True)
    (site / "ggt_probe_installed" / "__init__.py").write_text("ORIGIN = 'installed'\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "ggt_probe_installed", raising=False)
    return "ggt_probe_installed"


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("my_models", "my_pkg", "my_pkg.sub"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return work


def test_cwd_module_loads_without_changing_sys_path_or_shadowing(cwd, tmp_path, installed_pkg) -> None:
    marker = tmp_path / "marker.txt"
    _hostile(cwd, installed_pkg, marker)
    (cwd / "my_models.py").write_text(
        f"import {installed_pkg} as dep\n\ndef restore(image, prompt=None):\n    return dep.ORIGIN\n"
    )
    path_before = list(sys.path)
    fn = import_callable("my_models:restore")
    assert fn(None) == "installed"  # the user's own import got the installed package
    assert sys.path == path_before
    __import__(installed_pkg)  # a later import by anyone: still not the file beside the user
    assert not marker.exists()


def test_cwd_package_with_dotted_name_and_relative_import(cwd) -> None:
    (cwd / "my_pkg").mkdir()
    (cwd / "my_pkg" / "__init__.py").write_text("")
    (cwd / "my_pkg" / "helpers.py").write_text("SCALE = 3\n")
    (cwd / "my_pkg" / "sub.py").write_text(
        "from .helpers import SCALE\n\ndef run(x):\n    return x * SCALE\n"
    )
    path_before = list(sys.path)
    assert import_callable("my_pkg.sub:run")(2) == 6
    assert sys.path == path_before


def test_a_file_named_like_an_installed_module_is_refused_not_run(cwd, tmp_path, installed_pkg) -> None:
    marker = tmp_path / "marker.txt"
    _hostile(cwd, installed_pkg, marker)
    with pytest.raises(UsageError, match="has the name of the installed module"):
        import_callable(f"{installed_pkg}:restore")
    _hostile(cwd, "json", marker)
    with pytest.raises(UsageError, match="standard library"):
        import_callable("json:loads")
    assert not marker.exists()


def test_same_module_name_in_another_folder_is_reloaded(tmp_path, monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "my_models", raising=False)
    for value in ("first", "second"):
        folder = tmp_path / value
        folder.mkdir()
        (folder / "my_models.py").write_text(f"def restore(image, prompt=None):\n    return {value!r}\n")
        monkeypatch.chdir(folder)
        assert import_callable("my_models:restore")(None) == value


def test_sibling_module_import_names_the_way_out(cwd) -> None:
    (cwd / "helpers_beside.py").write_text("X = 1\n")
    (cwd / "my_models.py").write_text("import helpers_beside\n\ndef restore(image):\n    return image\n")
    with pytest.raises(UsageError, match=r"PYTHONPATH=\."):
        import_callable("my_models:restore")


def test_ggt_restore_never_runs_torch_or_numpy_beside_the_user(tmp_path) -> None:
    """The issue's run: ``ggt restore --model my_models:restore`` in a folder holding a torch.py."""
    marker = tmp_path / "marker.txt"
    work = tmp_path / "work"
    work.mkdir()
    for name in ("torch", "numpy"):
        _hostile(work, name, marker)
    (work / "my_models.py").write_text(
        "import numpy, torch\n\ndef restore(image, prompt=None):\n    return image\n"
    )
    Image.new("RGB", (32, 32), (90, 120, 30)).save(work / "a.png")
    # -P: no script folder on sys.path, as for the installed ``ggt`` console script
    code = "import sys; from ggt_hf.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-P", "-c", code, "restore", "--model", "my_models:restore", "a.png", "out"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (work / "out").exists()
    assert not marker.exists(), marker.read_text()


def test_registries_load_module_attr_through_the_one_loader(monkeypatch):
    """The backend, VLM and restorer registries resolve ``module:Class`` with
    :func:`ggt_hf.runtime.user_code.load_attr` (the one parser of the form, shared with
    :func:`import_callable`): a malformed entry is named, not an obscure import error."""
    import ggt_hf.backends as backends
    import ggt_hf.restorers as restorers

    monkeypatch.setitem(backends.BACKENDS, "broken", "ggt_hf.backends.classical.ClassicalBackend")
    with pytest.raises(UsageError, match="a backend is given as module:attribute"):
        backends.create_backend("broken")
    monkeypatch.setitem(restorers.RESTORERS, "broken", "ggt_hf.restorers")
    with pytest.raises(UsageError, match="a restorer is given as module:attribute"):
        restorers.get_restorer_class("broken")
    assert backends.backend_class("classical").__name__ == "ClassicalBackend"


def test_no_other_module_attr_loader_in_the_package():
    root = Path(ggt_hf.__file__).parent
    allowed = {"runtime/user_code.py", "cli.py", "leaderboard/__init__.py"}  # commands, lazy exports
    found = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "import_module(" in p.read_text(encoding="utf-8") and p.relative_to(root).as_posix() not in allowed
    ]
    assert found == []
