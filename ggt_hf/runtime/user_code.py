"""Importing a user's ``module:function``: from the working directory too, without shadowing anything.

A module (``my_models.py``) or package (``my_models/__init__.py``) in the working directory is
loaded from its file; ``sys.path`` is never changed, so a ``torch.py`` lying in the same folder is
never imported in place of the installed ``torch`` (by ggt or by the user's module). Anything else
is imported normally, from the installed packages.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable
from importlib.machinery import PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

from ggt_hf.errors import UsageError

logger = logging.getLogger(__name__)

#: Modules this file loaded from a working directory, by name (so a later call from another folder
#: replaces them instead of taking them for installed packages).
_LOADED_FROM_FILE: dict[str, Path] = {}


def split_target(spec: str, what: str, form: str = "module:attribute") -> tuple[str, str]:
    """``(module, attribute)`` of a ``module:attribute`` spec; :class:`UsageError` when malformed."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(spec, f"a {what} is given as {form}")
    return module_name, attr


def load_attr(target: str, what: str = "object") -> Any:
    """The attribute named by an **installed** module's ``module:attribute`` (a registry entry or
    an entry point's value; a user's own file goes through :func:`import_callable`). Import errors
    of the module (e.g. a :class:`~ggt_hf.errors.MissingExtraError`) propagate unchanged; a missing
    attribute raises :class:`AttributeError`."""
    module_name, attr = split_target(target, what)
    return getattr(importlib.import_module(module_name), attr)


def import_callable(spec: str, what: str = "function") -> Callable[..., Any]:
    """The callable named by ``package.module:function``.

    A module or package named ``package`` in the working directory is loaded from its file (no
    ``PYTHONPATH=.`` needed, and ``sys.path`` is left as it was); a name that is also an installed
    or standard module is refused rather than shadowed. A missing module, a module that fails to
    import or a missing attribute raise :class:`UsageError` naming the spec.
    """
    module_name, attr = split_target(spec, what, "module:function (e.g. my_models:restore)")
    cwd = Path.cwd()
    try:
        module = _import(module_name, cwd)
    except UsageError as exc:
        raise UsageError(spec, exc.reason) from None
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(
                spec, f"no module named {exc.name!r} (looked in the working directory {cwd} and sys.path)"
            ) from None
        raise UsageError(spec, f"importing {module_name} failed: {exc}{_sibling_hint(exc, cwd)}") from exc
    except Exception as exc:
        raise UsageError(spec, f"importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UsageError(spec, f"{module_name} has no callable {attr!r}")
    return fn


def _import(module_name: str, cwd: Path) -> ModuleType:
    """``module_name`` loaded from ``cwd`` when its top-level module is there, else imported normally."""
    top = module_name.partition(".")[0]
    location = _local_location(top, cwd)
    if location is None or _same_file(_normal_origin(top), location):
        return importlib.import_module(module_name)  # installed, or the cwd is on sys.path already
    installed = _installed_origin(top, location)
    if installed is not None:
        raise UsageError(
            location,
            f"{location.name} in the working directory has the name of the installed module {top!r} "
            f"({installed}); it is not imported in its place: rename it",
        )
    _load_from_file(top, location)
    return importlib.import_module(module_name)  # submodules resolve through the package's __path__


def _local_location(top: str, cwd: Path) -> Path | None:
    """``cwd/top/__init__.py`` or ``cwd/top.py`` (the order Python itself uses), or ``None``."""
    if not top.isidentifier():
        return None
    for candidate in (cwd / top / "__init__.py", cwd / f"{top}.py"):
        if candidate.is_file():
            return candidate
    return None


def _normal_origin(top: str) -> str | None:
    """The file a plain ``import top`` would run now (nothing is executed to find it)."""
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    return found.origin if found is not None else None


def _installed_origin(top: str, location: Path) -> str | None:
    """Where ``top`` comes from when not from ``location``: built-in, stdlib or an installed package."""
    if top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return "the standard library"
    loaded = sys.modules.get(top)
    if loaded is not None and top not in _LOADED_FROM_FILE:
        return getattr(loaded, "__file__", None) or "already imported"
    elsewhere = [p for p in sys.path if p and not _same_file(p, location.parent)]
    for finder in sys.meta_path:
        try:
            if finder is PathFinder:
                found = PathFinder.find_spec(top, elsewhere)
            else:
                found = finder.find_spec(top, None)  # type: ignore[attr-defined]
        except (AttributeError, ImportError, ValueError):
            continue
        if found is not None and not _same_file(found.origin, location):
            return found.origin or "installed"
    return None


def _load_from_file(top: str, location: Path) -> ModuleType:
    """Execute the module or package at ``location`` as ``top`` (reused when already loaded from there)."""
    loaded = sys.modules.get(top)
    if loaded is not None and _LOADED_FROM_FILE.get(top) == location:
        return loaded
    for name in [n for n in sys.modules if n == top or n.startswith(f"{top}.")]:
        del sys.modules[name]  # a same-named module loaded earlier from another working directory
    search = [str(location.parent)] if location.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(top, location, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise UsageError(location, "cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[top] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(top, None)
        raise
    _LOADED_FROM_FILE[top] = location
    logger.debug("loaded %s from %s", top, location)
    return module


def _sibling_hint(exc: ModuleNotFoundError, cwd: Path) -> str:
    if exc.name and _local_location(exc.name.partition(".")[0], cwd) is not None:
        return (
            f" ({exc.name} is in the working directory, which is not on sys.path: make a package "
            "with relative imports, or run with PYTHONPATH=.)"
        )
    return ""


def _same_file(path: str | os.PathLike[str] | None, other: Path) -> bool:
    """Whether ``path`` (a file or folder; ``None``, ``built-in``, ``frozen``: no) is ``other``."""
    if not path or path in ("built-in", "frozen"):
        return False
    try:
        return Path(path).resolve() == other.resolve()
    except (OSError, ValueError):
        return False
