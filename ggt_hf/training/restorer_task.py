"""Training a registry restorer (NAFNet, SwinIR, MPRNet, Restormer, X-Restormer, PromptIR, MoCE-IR)
on GGT pairs mixed with baseline data — the :class:`~ggt_hf.training.core.TrainTask` behind
``training/train_restorer.py``.

A recipe (``training/recipes/<model>/<recipe>.yaml``) has five sections, each a dataclass::

    model:      {name: nafnet, config: {width: 32}, pretrained: null}
    data:       {ggt: [{path: ggt-100k}], baseline: [...], ratio: 1.0, crop_size: 256, ...}
    loss:       {name: psnr}
    validation: {path: ggt-100k, split: test, max_images: 50, metrics: [psnr, ssim]}
    train:      {max_steps: 400000, learning_rate: 1.0e-3, betas: [0.9, 0.9], ...}   # CoreConfig

Diffusion restorers (DA-CLIP, FoundIR: ``trains_with_own_objective``) return their own training
objective from ``forward(lq, hq)`` and the recipe's ``loss`` is not used. Architectures whose
official forward returns several outputs (MPRNet's three stages) are trained
with the loss summed over all outputs, as their official recipes do; an architecture that sets
``model.aux_loss`` (MoCE-IR's routing balance) has it added to the loss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ggt_hf.files.yaml_config import from_dict, load_yaml, to_dict
from ggt_hf.training.core import CoreConfig
from ggt_hf.training.data import DataConfig, SourceSpec, open_source
from ggt_hf.training.losses import LossConfig, RestorationLoss

logger = logging.getLogger(__name__)


@dataclass
class ModelConfig:
    """Which restorer: a registry ``name`` with config overrides, optionally initialised from
    ``pretrained`` (a Hub repo or local ``save_pretrained`` folder)."""

    name: str = "nafnet"
    config: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None


@dataclass
class ValidationConfig:
    """Held-out pairs scored through the metric engine (whole images, tiled inference)."""

    path: str | None = None
    kind: str = "auto"
    config: str | None = None
    split: str = "test"
    max_images: int = 16
    metrics: list[str] = field(default_factory=lambda: ["psnr", "ssim"])
    tile: int = 512
    overlap: int = 32
    log_images: int = 2
    use_ema: bool = True


@dataclass
class RestorerRecipe:
    """A whole restorer training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(ggt=[]))
    loss: LossConfig = field(default_factory=LossConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    train: CoreConfig = field(default_factory=CoreConfig)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> RestorerRecipe:
        """Load a recipe; ``overrides`` are ``section.key=value`` strings (YAML values)."""
        return from_dict(cls, load_yaml(path, overrides), str(path))

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def _build_model(spec: ModelConfig):
    from ggt_hf.restorers import build_restorer, get_restorer_class

    if spec.pretrained:
        model = get_restorer_class(spec.name).from_pretrained(spec.pretrained)
        logger.info("initialised %s from %s", spec.name, spec.pretrained)
        return model
    return build_restorer(spec.name, **spec.config)


class RestorerTask:
    """Regression training of one registry restorer (see the module docstring)."""

    def __init__(self, recipe: RestorerRecipe) -> None:
        self.recipe = recipe
        self.model = None
        self.wrapped = None
        self.loss_fn = RestorationLoss(recipe.loss)
        self._val_pairs = None
        self.seen: dict[str, int] = {}  # samples per source ("ggt" / "baseline") on this process
        self.first_ids: list[str] = []

    # -- TrainTask ------------------------------------------------------------------------------
    def setup(self, accelerator) -> None:
        self.model = _build_model(self.recipe.model)
        self.model.train()

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def modules_to_prepare(self) -> list[torch.nn.Module]:
        return [self.model]

    def on_prepared(self, modules: list[torch.nn.Module]) -> None:
        self.wrapped = modules[0]

    def training_step(self, batch: dict[str, Any], accelerator) -> tuple[torch.Tensor, dict[str, float]]:
        for source in batch.get("source", []):
            self.seen[source] = self.seen.get(source, 0) + 1
        if len(self.first_ids) < 64:
            self.first_ids.extend(batch.get("id", [])[: 64 - len(self.first_ids)])
        lq = batch["lq"].to(accelerator.device, non_blocking=True)
        hq = batch["hq"].to(accelerator.device, non_blocking=True)
        loss = torch.zeros((), device=lq.device)
        logs: dict[str, float] = {}
        if getattr(accelerator.unwrap_model(self.wrapped), "trains_with_own_objective", False):
            # diffusion restorers (DA-CLIP, FoundIR): forward(lq, hq) is the model's own objective
            loss = self.wrapped(lq, hq)
            logs["loss/objective"] = float(loss.detach())
            outputs = []
        else:
            out = self.wrapped(lq)
            outputs = out if isinstance(out, (list, tuple)) else [out]
        for pred in outputs:
            part, parts = self.loss_fn(pred.float(), hq.float())
            loss = loss + part
            for key, value in parts.items():
                logs[key] = logs.get(key, 0.0) + value
        total = sum(self.seen.values())
        if total and self.recipe.data.baseline:
            logs["data/ggt_fraction"] = self.seen.get("ggt", 0) / total
        aux = getattr(accelerator.unwrap_model(self.wrapped), "aux_loss", None)
        if isinstance(aux, torch.Tensor):
            loss = loss + self.recipe.loss.aux_weight * aux
            logs["aux_loss"] = float(aux.detach())
        return loss, logs

    def on_train_end(self, accelerator) -> None:
        """Write this process's realised data mix (``data_stats/rank<N>.json``)."""
        import json

        total = sum(self.seen.values())
        stats = {
            "rank": accelerator.process_index,
            "world_size": accelerator.num_processes,
            "samples": total,
            "sources": self.seen,
            "ggt_fraction": self.seen.get("ggt", 0) / total if total else None,
            "target_ggt_fraction": (
                self.recipe.data.ratio / (1 + self.recipe.data.ratio) if self.recipe.data.baseline else 1.0
            ),
            "first_ids": self.first_ids,
        }
        folder = Path(self.recipe.train.output_dir) / "data_stats"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"rank{accelerator.process_index}.json").write_text(json.dumps(stats, indent=2))
        logger.info("rank %d realised data mix: %s", accelerator.process_index, self.seen)

    def validation_pairs(self) -> list:
        """Up to ``max_images`` decoded validation pairs (loaded once)."""
        cfg = self.recipe.validation
        if self._val_pairs is None:
            if not cfg.path:
                self._val_pairs = []
            else:
                source = open_source(
                    SourceSpec(path=cfg.path, kind=cfg.kind, config=cfg.config, split=cfg.split)
                )
                self._val_pairs = [source[i] for i in range(min(cfg.max_images, len(source)))]
        return self._val_pairs

    def validate(self, accelerator, step: int, ema_module) -> dict[str, float]:
        """PSNR/SSIM (or the configured metrics) of tiled restorations, on the main process."""
        cfg = self.recipe.validation
        if not accelerator.is_main_process or not cfg.path:
            return {}
        from ggt_hf.imaging.tensors import to_tensor
        from ggt_hf.metrics.engine import MetricEngine
        from ggt_hf.restorers.tiling import restore_image

        model = ema_module.module if (ema_module is not None and cfg.use_ema) else None
        model = model or accelerator.unwrap_model(self.wrapped)
        was_training = model.training
        model.eval()
        engine = MetricEngine(cfg.metrics, device=str(accelerator.device))
        skipped = engine.drop_unavailable()
        sums: dict[str, float] = {}
        shown = []
        pairs = self.validation_pairs()
        for pair in pairs:
            restored = restore_image(
                model, pair.lq, tile=cfg.tile, overlap=cfg.overlap, device=accelerator.device
            )
            pred, ref = to_tensor([restored]), to_tensor([pair.hq])
            for name, values in engine.score_batch(pred, ref).items():
                sums[name] = sums.get(name, 0.0) + values[0]
            if len(shown) < cfg.log_images:
                shown.append(torch.cat([to_tensor([pair.lq]), pred, ref], dim=3)[0])
        model.train(was_training)
        for name, reason in skipped.items():
            logger.warning("validation metric %s skipped: %s", name, reason)
        self._log_images(accelerator, shown, step)
        return {name: total / len(pairs) for name, total in sums.items()} if pairs else {}

    @staticmethod
    def _log_images(accelerator, images: list[torch.Tensor], step: int) -> None:
        if not images:
            return
        for tracker in accelerator.trackers:
            if tracker.name == "tensorboard":
                tracker.log_images(
                    {f"val/lq|pred|hq_{i}": im for i, im in enumerate(images)}, step, dataformats="CHW"
                )

    def final_model(self, accelerator, ema_module):
        if ema_module is not None and self.recipe.validation.use_ema:
            return ema_module.module
        return accelerator.unwrap_model(self.wrapped)

    def save_pretrained(self, out_dir: Path, accelerator, ema_module) -> None:
        self.final_model(accelerator, ema_module).save_pretrained(out_dir)
        self._num_parameters = self.final_model(accelerator, ema_module).num_parameters()

    def model_card(self, out_dir: Path, results: dict[str, float]) -> str:
        from ggt_hf.training.model_card import render_model_card, restorer_card_content

        content = restorer_card_content(self.recipe, getattr(self, "_num_parameters", None), out_dir)
        return render_model_card(self.recipe, results, content)
