"""How each architecture's official checkpoint files map onto our ``state_dict``: one
:class:`CheckpointLayout` (or :class:`MultiFileLayout`) per registry name in
:data:`OFFICIAL_CHECKPOINTS`. Read by :mod:`ggt_hf.restorers.convert` (which converts the files) and
by the models' card text; kept apart from the converter so a model module never imports it (the
converter builds models through the registry).
"""

from __future__ import annotations

from dataclasses import dataclass

from ggt_hf.errors import UsageError


class CheckpointMismatchError(UsageError):
    """An official checkpoint that is missing or whose keys or shapes do not fit the model it is
    converted into: bad input, refused before anything is written (exit code 2)."""


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
