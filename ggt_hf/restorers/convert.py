"""Convert an official release checkpoint (``.pth``) into a Hub-native restorer folder.

Each official repository wraps its weights differently (BasicSR-style ``{"params": sd}``, MPRNet's
``{"state_dict": sd}`` saved from ``nn.DataParallel`` with ``module.`` prefixes, ...). How a file of
one architecture maps onto our parameter names is one :class:`CheckpointLayout` entry in
:data:`OFFICIAL_CHECKPOINTS`, keyed by the registry name; adding an architecture means adding one
entry here (no per-model branches anywhere else):

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ggt_hf.errors import GGTError
from ggt_hf.files.output_folders import check_no_overlap, claim_output_folder

logger = logging.getLogger(__name__)


class CheckpointMismatchError(GGTError):
    """An official checkpoint whose keys or shapes do not fit the model it is converted into."""


@dataclass(frozen=True)
class CheckpointLayout:
    """How an official checkpoint file of one architecture maps onto our ``state_dict``.

    Attributes:
        source: where the official weights are published (shown in errors and model cards).
        state_dict_keys: top-level keys that may hold the state dict, tried in order (the first
            present wins); a file without any of them is taken to be the state dict itself.
        strip_prefixes: key prefixes removed when present (``module.`` from ``nn.DataParallel``).
        renames: ``(regex, replacement)`` pairs applied in order with :func:`re.sub` to every key,
            for releases whose names differ from ours.
        drop_keys: regexes of keys to discard (e.g. buffers an older release stored).
        add_prefix: prepended to every kept key (the file is one part of a multi-file model).
        optional: a trailing part of a multi-file model that may be left out; its weights then
            keep the model's random initialisation (e.g. to train that part from scratch).
    """

    source: str
    state_dict_keys: tuple[str, ...] = ("params", "params_ema", "state_dict", "model")
    strip_prefixes: tuple[str, ...] = ("module.",)
    renames: tuple[tuple[str, str], ...] = ()
    drop_keys: tuple[str, ...] = ()
    add_prefix: str = ""
    optional: bool = False

    def describe(self) -> str:
        """One line for model cards: which key holds the weights and what is rewritten."""
        parts = [f"state dict under {' or '.join(repr(k) for k in self.state_dict_keys)}"]
        if self.strip_prefixes:
            parts.append(f"prefixes {', '.join(repr(p) for p in self.strip_prefixes)} stripped")
        if self.renames:
            parts.append(f"{len(self.renames)} rename rule(s)")
        if self.drop_keys:
            parts.append(f"{len(self.drop_keys)} drop rule(s)")
        if self.add_prefix:
            parts.append(f"keys put under {self.add_prefix!r}")
        if self.optional:
            parts.append("optional")
        return f"{self.source}: " + "; ".join(parts)


@dataclass(frozen=True)
class MultiFileLayout:
    """A model released as several files, one :class:`CheckpointLayout` per file, in the order the
    files are given to :func:`convert_checkpoint`; their state dicts are merged."""

    parts: tuple[CheckpointLayout, ...]

    def describe(self) -> str:
        return " + ".join(f"({i + 1}) {part.describe()}" for i, part in enumerate(self.parts))


#: FoundIR's ``ResidualDiffusion`` schedule buffers, rebuilt from the config (src/model.py)
_FOUNDIR_SCHEDULE_BUFFERS = (
    "alphas|alphas_cumsum|delta|delta_cumsum|one_minus_alphas_cumsum|betas2|betas|betas2_cumsum|"
    "betas_cumsum|posterior_mean_coef1|posterior_mean_coef2|posterior_mean_coef3|posterior_variance|"
    "posterior_log_variance_clipped"
)


#: registry name → how its official checkpoints are laid out. Extend with one entry per model.
OFFICIAL_CHECKPOINTS: dict[str, CheckpointLayout | MultiFileLayout] = {
    # BasicSR-style: torch.save({"params": net.state_dict()}) (EMA models also "params_ema").
    "nafnet": CheckpointLayout(
        source="megvii-research/NAFNet (e.g. NAFNet-SIDD-width32.pth)",
        state_dict_keys=("params", "params_ema"),
    ),
    # KAIR: main_test_swinir.py loads "params_ema" for real-SR models and "params" otherwise; the
    # denoising / JPEG models we default to use "params".
    "swinir": CheckpointLayout(
        source="JingyunLiang/SwinIR releases (e.g. 005_colorDN_DFWB_s128w8_SwinIR-M_noise15.pth)",
        state_dict_keys=("params", "params_ema"),
    ),
    # MPRNet: torch.save({"epoch": ..., "state_dict": model.state_dict(), "optimizer": ...}), saved
    # from nn.DataParallel so keys may start with "module." (utils.load_checkpoint strips it).
    "mprnet": CheckpointLayout(
        source="swz30/MPRNet (model_deraining.pth / model_deblurring.pth)",
        state_dict_keys=("state_dict",),
    ),
    # BasicSR: {"params": sd}; the test options load "params" (no EMA in the released files).
    "restormer": CheckpointLayout(
        source="swz30/Restormer releases (e.g. deraining.pth, motion_deblurring.pth)",
        state_dict_keys=("params", "params_ema"),
    ),
    # BasicSR fork: {"params": sd} (options/test/*.yml load the default "params").
    "x_restormer": CheckpointLayout(
        source="Andrew0613/X-Restormer releases (e.g. derain_155k.pth)",
        state_dict_keys=("params", "params_ema"),
    ),
    # PyTorch Lightning .ckpt: {"state_dict": {"net.<name>": ...}, "optimizer_states": ...}; the
    # LightningModule holds the model as ``self.net``.
    "promptir": CheckpointLayout(
        source="va1shn9v/PromptIR release (model.ckpt)",
        state_dict_keys=("state_dict",),
        strip_prefixes=("net.", "module."),
        drop_keys=(r"^loss_fn\.",),  # the LightningModule's loss, should it ever hold state
    ),
    # PyTorch Lightning .ckpt (src/train.py PLTrainModel.net), like PromptIR which it builds on.
    "moce_ir": CheckpointLayout(
        source="eduardzamfir/MoCE-IR release (last.ckpt)",
        state_dict_keys=("state_dict",),
        strip_prefixes=("net.", "module."),
        drop_keys=(r"^(loss_fn|aux_fn)\.",),  # the LightningModule's L1 / FFT losses
    ),
    # Two files: the DA-CLIP encoder, written by open_clip's trainer as {"state_dict": sd, "epoch",
    # "name", "optimizer"} (factory.load_state_dict reads "state_dict" if present and strips
    # "module."), and the restoration UNet, a plain state dict (BaseModel.save_network).
    "daclip": MultiFileLayout(
        parts=(
            CheckpointLayout(
                source="weblzw/daclip-uir-ViT-B-32-irsde (daclip_ViT-B-32.pt)",
                state_dict_keys=("state_dict",),
                add_prefix="daclip.",
            ),
            CheckpointLayout(
                source="weblzw/daclip-uir-ViT-B-32-irsde (universal-ir.pth)",
                state_dict_keys=(),
                add_prefix="unet.",
                # left out: a random UNet on the released encoder, how the official run starts
                optional=True,
            ),
        )
    ),
    # Trainer.save: {"step", "model": ResidualDiffusion state dict, "opt0", "ema": ema_pytorch.EMA
    # state ("ema_model.<model key>", "online_model.*", "initted", "step"), "scaler"}; the official
    # test samples with the EMA weights. Schedule buffers are rebuilt from the config.
    "foundir": CheckpointLayout(
        source="House-Leo/FoundIR release (model-2000.pt)",
        state_dict_keys=("ema", "model"),
        strip_prefixes=("ema_model.", "module."),
        drop_keys=(r"^online_model\.", r"^(initted|step)$", rf"^({_FOUNDIR_SCHEDULE_BUFFERS})$"),
    ),
}


def checkpoint_layout(name: str) -> CheckpointLayout | MultiFileLayout:
    """The :class:`CheckpointLayout` registered for restorer ``name`` (case and ``-`` ignored)."""
    key = name.strip().lower().replace("-", "_")
    if key not in OFFICIAL_CHECKPOINTS:
        raise CheckpointMismatchError(
            name,
            f"no official checkpoint layout registered; known: {', '.join(sorted(OFFICIAL_CHECKPOINTS))}",
        )
    return OFFICIAL_CHECKPOINTS[key]


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
        out_dir: folder to write ``model.safetensors`` + ``config.json`` (+ README.md) into.
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
