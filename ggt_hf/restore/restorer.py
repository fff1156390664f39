"""The :class:`Restorer`: what :func:`ggt_hf.restore.factory.make_restorer` returns, for every kind.

It knows what it is (``spec``, ``options``, :attr:`Restorer.identity`) and restores one image at a
time (:meth:`Restorer.restore`); callers never look inside it to run it. ``backend`` (API and
diffusers kinds) and ``model`` (model kinds) are there for callers that report what runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ggt_hf.restore.identity import MODEL_KINDS, restorer_identity
from ggt_hf.restore.spec import RestorerOptions, RestorerSpec

#: ``restore(image, prompt) -> image``: every restorer, whatever its kind (a :class:`Restorer` is one).
Restore = Callable[..., Image.Image]

#: What a kind runs: ``(image, prompt or None, item id or None) -> image``.
RunFn = Callable[[Image.Image, "str | None", "str | None"], Image.Image]


@dataclass(frozen=True, eq=False)
class Restorer:
    """A ready-to-run restorer: ``restore(image, prompt=None)`` and the ``identity`` of its outputs."""

    spec: RestorerSpec
    options: RestorerOptions
    run: RunFn
    backend: Any = None
    model: Any = None

    @property
    def identity(self) -> str:
        """Its name and every option that changes its outputs (see :mod:`ggt_hf.restore.identity`)."""
        return restorer_identity(self.spec, self.options)

    @property
    def tile(self) -> int | None:
        """The tile side a model restorer runs in (``None``: whole image, or not a model)."""
        return (self.options.tile or None) if self.spec.kind in MODEL_KINDS else None

    def restore(
        self, image: Image.Image, prompt: str | None = None, *, item_id: str | None = None
    ) -> Image.Image:
        """``image`` restored; ``prompt`` replaces the default prompt for prompt-taking kinds,
        ``item_id`` names the image in a backend's errors."""
        return self.run(image, prompt, item_id)

    __call__ = restore

    def __repr__(self) -> str:
        return f"Restorer({self.identity})"
