"""Generative restorers: LoRA fine-tuning of instruction-editing pipelines (Qwen-Image-Edit(-Plus),
FLUX.1 Kontext) and FLUX ControlNet training on GGT pairs, over the shared trainer core
(:mod:`ggt_hf.training.core`).

Modules: :mod:`~ggt_hf.generative.components` (base pipelines; tiny test pipelines are in :mod:`ggt_hf.testing.tiny_models`),
:mod:`~ggt_hf.generative.flow_matching` (timestep sampling, noising, target, loss weighting),
:mod:`~ggt_hf.generative.buckets` (aspect/size bucketing, deterministic resumable batches),
:mod:`~ggt_hf.generative.caching` (VAE-latent and text-embedding caches),
:mod:`~ggt_hf.generative.edit_lora` (the edit-model LoRA task) and
:mod:`~ggt_hf.generative.controlnet_flux` (the FLUX ControlNet task). Nothing heavy is imported here.
"""
