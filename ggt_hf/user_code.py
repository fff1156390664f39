"""Importing a user's ``module:function`` as the user expects: from the working directory too."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from ggt_hf.errors import UsageError


def import_callable(spec: str, what: str = "function") -> Callable[..., Any]:
    """The callable named by ``package.module:function``.

    The working directory is importable (as ``python -c`` would make it), so a ``my_model.py``
    beside the user needs no ``PYTHONPATH=.``. A missing module, a module that fails to import or
    a missing attribute raise :class:`UsageError` naming the spec.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(spec, f"a {what} is given as module:function (e.g. my_models:restore)")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(
                spec, f"no module named {exc.name!r} (looked in the working directory {cwd} and sys.path)"
            ) from None
        raise UsageError(spec, f"importing {module_name} failed: {exc}") from exc
    except Exception as exc:
        raise UsageError(spec, f"importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UsageError(spec, f"{module_name} has no callable {attr!r}")
    return fn
