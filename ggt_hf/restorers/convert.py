"""Convert an official release checkpoint (``.pth``) into a Hub-native restorer folder.

Each official repository wraps its weights differently (BasicSR-style ``{"params": sd}``, MPRNet's
``{"state_dict": sd}`` saved from ``nn.DataParallel`` with ``module.`` prefixes, ...). How a file of
one architecture maps onto our parameter names is one :class:`CheckpointLayout` entry in
:data:`OFFICIAL_CHECKPOINTS` (:mod:`ggt_hf.restorers.checkpoint_layouts`, which the models' cards
also read), keyed by the registry name; adding an architecture means adding one entry there (no
per-model branches anywhere else):

>>> OFFICIAL_CHECKPOINTS["nafnet"].state_dict_keys
('params', 'params_ema')

:func:`convert_checkpoint` unwraps, strips prefixes, applies renames, loads the result *strictly* into
the registry model (a mismatch raises :class:`CheckpointMismatchError` naming the keys) and writes it
with ``save_pretrained`` (``model.safetensors`` + ``config.json``).

Models released as several files (DA-CLIP: the encoder and the UNet) register a
:class:`MultiFileLayout` and take the files in its order.

.. note:: The ``.pth`` file is read with ``torch.load(..., weights_only=True)``: only tensors and
   plain containers are unpickled, never arbitrary objects. A file that needs more is refused unless
   the caller passes ``trust_pickle=True`` (``ggt convert --trust-pickle``); nothing else in ggt-hf
   (``load_restorer``, the Space, the leaderboard worker) ever reads a pickle. It should still be a
   file *you* chose (e.g. downloaded from the official release page); repos on the Hub are only
   ever read as safetensors (see :mod:`ggt_hf.restorers.base`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ggt_hf.files.output_folders import check_no_overlap, claim_output_folder
from ggt_hf.restorers.checkpoint_layouts import (
    CheckpointLayout,
    CheckpointMismatchError,
    MultiFileLayout,
    checkpoint_layout,
)

logger = logging.getLogger(__name__)


def _is_state_dict(obj: Any) -> bool:
    import torch

    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_state_dict(
    raw: Mapping[str, Any], layout: CheckpointLayout, state_dict_key: str | None = None, item: object = ""
) -> dict[str, Any]:
    """The state dict inside an official checkpoint object, with prefixes stripped and renames applied.

    ``state_dict_key`` overrides the layout's search order (e.g. ``"params_ema"``).
    """
    keys = (state_dict_key,) if state_dict_key else layout.state_dict_keys
    found = next((k for k in keys if isinstance(raw, Mapping) and k in raw), None)
    if found is not None:
        state = raw[found]
    elif state_dict_key is None and _is_state_dict(raw):
        state = raw
    else:
        top = sorted(raw)[:10] if isinstance(raw, Mapping) else type(raw).__name__
        raise CheckpointMismatchError(
            item, f"none of the keys {list(keys)} found in the checkpoint (top level: {top})"
        )
    if not _is_state_dict(state):
        raise CheckpointMismatchError(item, f"checkpoint entry {found!r} is not a state dict of tensors")
    out: dict[str, Any] = {}
    for key, value in state.items():
        for prefix in layout.strip_prefixes:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        for pattern, replacement in layout.renames:
            key = re.sub(pattern, replacement, key)
        if any(re.search(pattern, key) for pattern in layout.drop_keys):
            continue
        out[layout.add_prefix + key] = value
    logger.debug("unwrapped %d tensors from %s (entry %r)", len(out), item, found)
    return out


def load_state_dict_strict(model, state: Mapping[str, Any], item: object = "") -> None:
    """``model.load_state_dict(state, strict=True)`` with an error that names every bad key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(
        f"{k} (checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)})"
        for k in set(own) & set(state)
        if tuple(state[k].shape) != tuple(own[k].shape)
    )
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if keys:
            shown = ", ".join(keys[:8]) + (f", ... (+{len(keys) - 8})" if len(keys) > 8 else "")
            problems.append(f"{len(keys)} {label} key(s): {shown}")
    if problems:
        raise CheckpointMismatchError(
            item,
            "checkpoint does not match the model config (check config_overrides): " + "; ".join(problems),
        )
    model.load_state_dict(state, strict=True)


def _first_line(exc: Exception) -> str:
    """The first line of an error message, without terminal colour codes."""
    return (
        re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[0]
        if str(exc).strip()
        else type(exc).__name__
    )


def read_checkpoint(path: Path, trust_pickle: bool = False) -> Any:
    """``torch.load`` of an official file: ``weights_only=True`` (tensors and plain containers only);
    a file that needs more is refused unless ``trust_pickle`` — which unpickles arbitrary objects
    and so may run code from the file. Never used for Hub repos (those are safetensors only)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        if not trust_pickle:
            raise CheckpointMismatchError(
                path,
                f"not a weights-only torch checkpoint ({_first_line(exc)}); if it is a file you trust "
                "and it needs full unpickling (which can run code), pass --trust-pickle",
            ) from exc
        logger.warning("%s: loading with weights_only=False (--trust-pickle)", path)
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise CheckpointMismatchError(path, f"not a torch checkpoint ({exc2})") from exc2


def _as_paths(checkpoint_path: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(checkpoint_path, (str, Path)):
        return [Path(checkpoint_path)]
    return [Path(p) for p in checkpoint_path]


def load_official_checkpoint(
    name: str,
    checkpoint_path: str | Path | Sequence[str | Path],
    config_overrides: Mapping[str, Any] | None = None,
    state_dict_key: str | None = None,
    trust_pickle: bool = False,
):
    """A registry model of architecture ``name`` with the weights of its official file(s).

    ``config_overrides`` selects the official variant (e.g. ``{"width": 64}`` for NAFNet-width64).
    Models released as several files (DA-CLIP: encoder + UNet) take a list, in the layout's order.
    Files are read by :func:`read_checkpoint`; pass only files you trust the origin of.
    """
    from ggt_hf.restorers import build_restorer

    paths = _as_paths(checkpoint_path)
    layout = checkpoint_layout(name)
    parts = layout.parts if isinstance(layout, MultiFileLayout) else (layout,)
    required = sum(not part.optional for part in parts)
    if not required <= len(paths) <= len(parts):
        count = f"{required}-{len(parts)}" if required < len(parts) else str(len(parts))
        raise CheckpointMismatchError(
            name, f"expects {count} checkpoint file(s), got {len(paths)}: {layout.describe()}"
        )
    state: dict[str, Any] = {}
    for path, part in zip(paths, parts, strict=False):
        if not path.is_file():
            raise CheckpointMismatchError(path, "checkpoint file not found")
        raw = read_checkpoint(path, trust_pickle)
        key = state_dict_key if len(parts) == 1 else None
        state.update(unwrap_state_dict(raw, part, state_dict_key=key, item=path))
    model = build_restorer(name, **dict(config_overrides or {}))
    for part in parts[len(paths) :]:  # optional parts left out keep their initialisation
        kept = {k: v for k, v in model.state_dict().items() if k.startswith(part.add_prefix)}
        logger.warning("%s: no file for %s, %d tensors keep their random init", name, part.source, len(kept))
        state.update(kept)
    load_state_dict_strict(model, state, item=", ".join(str(p) for p in paths))
    return model.eval()


def convert_checkpoint(
    name: str,
    checkpoint_path: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    config_overrides: Mapping[str, Any] | None = None,
    state_dict_key: str | None = None,
    trust_pickle: bool = False,
) -> Path:
    """Convert an official checkpoint of restorer ``name`` into a ``save_pretrained`` folder.

    Args:
        name: registry name (``nafnet``, ``swinir``, ``mprnet``, ...).
        checkpoint_path: the official file (a local file you chose), or a list of files for models
            released as several (DA-CLIP); read with ``torch.load(weights_only=True)`` so no code is
            executed, unless ``trust_pickle`` (see :func:`read_checkpoint`).
        out_dir: folder to write ``model.safetensors`` + ``config.json`` into (``ggt convert`` then
            writes its model card: :func:`ggt_hf.hub.restorer_card.write_converted_card`).
        config_overrides: fields of the model config that select the official variant.
        state_dict_key: force the top-level key (default: the layout's search order; e.g.
            ``"model"`` for FoundIR's non-EMA weights).
        trust_pickle: allow ``weights_only=False`` for a file that needs it.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`, loadable with ``load_restorer(out_dir)``.
    """
    sources = [checkpoint_path] if isinstance(checkpoint_path, (str, Path)) else list(checkpoint_path)
    check_no_overlap(sources, out_dir)  # save_pretrained could overwrite the checkpoint it reads
    model = load_official_checkpoint(name, checkpoint_path, config_overrides, state_dict_key, trust_pickle)
    out = claim_output_folder(
        out_dir, "model", recognise=lambda f: (f / "config.json").is_file(), command="ggt convert"
    )
    model.save_pretrained(out)
    logger.info("converted %s (%s, %d parameters) to %s", checkpoint_path, name, model.num_parameters(), out)
    return out
