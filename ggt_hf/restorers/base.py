"""The restorer base class: a ``torch.nn.Module`` that is Hub-native through
:class:`huggingface_hub.PyTorchModelHubMixin` (``save_pretrained`` / ``from_pretrained`` /
``push_to_hub`` with ``model.safetensors`` + ``config.json``).

Every architecture keeps its official ``forward`` and parameter names (so official checkpoints load
through :mod:`ggt_hf.restorers.convert`) and adds only:

* ``config``: a dataclass with a ``model_type`` field naming the registry entry, serialised to
  ``config.json`` by the mixin (this is how :func:`ggt_hf.restorers.load_restorer` knows which class
  to build from a repo);
* ``size_multiple``: what H and W must be divisible by; :meth:`Restorer.restore` pads (reflect) and
  crops back, so any image size works.

Loading is safetensors-only: the mixin would fall back to ``pytorch_model.bin`` (a pickle) when a repo
has no safetensors file; :meth:`Restorer._from_pretrained` refuses that instead.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin, constants, hf_hub_download
from safetensors import SafetensorError
from torch import nn

from ggt_hf.errors import BadWeightsError, GGTError
from ggt_hf.restorers.config_bounds import check_restorer_config
from ggt_hf.restorers.weights_file import check_weights_file

HUB_TAGS = ["ggt-hf", "image-restoration", "image-to-image"]


@dataclass(frozen=True)
class RestorerCard:
    """Per-model text for model cards (the card template has no per-model branches)."""

    title: str
    paper: str  # e.g. "Simple Baselines for Image Restoration (ECCV 2022)"
    paper_url: str
    official_repo: str
    #: which official checkpoint layout our parameter names match, and how to convert it
    checkpoint_layout: str
    citation: str
    description: str = ""


class UnsafeCheckpointError(GGTError):
    """A checkpoint that is not safetensors (pickles are never loaded from repos)."""


class Restorer(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="ggt-hf",
    tags=HUB_TAGS,
    pipeline_tag="image-to-image",
    repo_url="https://github.com/ggt-hf/ggt-hf",
    license="apache-2.0",
):
    """Base of every registry restorer. Subclasses set :attr:`config_class` and take ``config``."""

    config_class: ClassVar[type]
    card: ClassVar[RestorerCard]
    #: H and W fed to ``forward`` must be multiples of this; :meth:`restore` pads to it.
    size_multiple: int = 1
    #: auxiliary training loss of the last ``forward`` (e.g. MoCE-IR's expert load balancing), a scalar
    #: tensor to add to the objective, or None; trainers read it after each forward.
    aux_loss: torch.Tensor | None = None

    def __init__(self, config: Any = None) -> None:
        super().__init__()
        if config is None:
            config = self.config_class()
        elif isinstance(config, dict):
            fields = self.config_class.__dataclass_fields__
            config = self.config_class(**{k: v for k, v in config.items() if k in fields})
        self.config = config

    @property
    def model_type(self) -> str:
        return self.config.model_type

    def config_dict(self) -> dict:
        return asdict(self.config)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` on any size: reflect-pad H, W up to :attr:`size_multiple`, run, crop back.

        ``x`` is ``(N, 3, H, W)`` float in [0, 1]; the output has the same shape (multi-output
        architectures return their final, full-resolution image).
        """
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        out = self(x)
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out[..., :h, :w]

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir,
        force_download: bool,
        local_files_only: bool,
        token,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs,
    ):
        """Like the mixin's loader, but safetensors only and strict by default, and nothing is
        allocated before the config's bounds and the weights file's header have been checked."""
        name = constants.SAFETENSORS_SINGLE_FILE
        if os.path.isdir(model_id):
            model_file = os.path.join(model_id, name)
            if not os.path.exists(model_file):
                raise UnsafeCheckpointError(model_id, f"no {name} in the folder (pickles are not loaded)")
        else:
            from huggingface_hub.errors import EntryNotFoundError

            try:
                model_file = hf_hub_download(
                    repo_id=model_id,
                    filename=name,
                    revision=revision,
                    cache_dir=cache_dir,
                    force_download=force_download,
                    token=token,
                    local_files_only=local_files_only,
                )
            except EntryNotFoundError as exc:
                raise UnsafeCheckpointError(
                    model_id, f"the repo has no {name}; pickled checkpoints are never loaded from repos"
                ) from exc
        config_item = os.path.join(model_id, constants.CONFIG_NAME)
        meta = check_restorer_config(cls, model_kwargs.get("config"), config_item)
        shapes = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
        check_weights_file(model_file, shapes, strict=strict)
        model = cls(**model_kwargs)
        try:
            return cls._load_as_safetensor(model, model_file, map_location, strict)
        except (SafetensorError, RuntimeError) as exc:  # what the header could not show
            raise BadWeightsError(
                model_file, f"cannot be loaded into this model: {_first_line(exc)}"
            ) from exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
