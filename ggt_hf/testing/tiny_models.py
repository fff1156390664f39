"""Tiny random generative pipelines for tests, smoke recipes and benchmarks — never for real use.

The ``build_tiny_*`` functions write randomly initialised pipelines (a few hundred k parameters, built
offline from small configs; tokenizers are byte-level BPEs trained here with the ``tokenizers``
library) into a folder with ``save_pretrained``. They follow diffusers' own ``get_dummy_components``
in its pipeline tests, except that the VAEs downsample ×8 (like the real ones) so the pipelines'
~1024² condition-image resizing stays cheap. Tests, recipes ``tiny_cpu.yaml`` and the step benchmark
use them; nothing here downloads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ggt_hf.generative.components import import_diffusers

logger = logging.getLogger(__name__)

#: Qwen2-VL's special tokens, which every tiny Qwen tokenizer must hold.
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
_SENTENCES = [
    "Describe the key features of the input image (color, shape, size, texture, objects, background),",
    "then explain how the user's text instruction should alter or modify the image.",
    "Restore this photo to high quality: remove noise, blur, compression artifacts, rain, haze and snow.",
    "Enhance the low-light photo, repair the old photo, keep the content and the framing.",
    "system user assistant Picture 1:",
]


def _bpe(special: list[str], vocab_size: int = 300):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_SENTENCES, trainer)
    return tok


def _unigram(special: list[str], vocab_size: int = 200):
    """A SentencePiece-style Unigram tokenizer (what ``T5TokenizerFast`` reloads from disk)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=special, unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(_SENTENCES, trainer)
    return tok


def _tiny_qwen_text(torch):
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2TokenizerFast,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
    )
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=_bpe(QWEN_SPECIAL_TOKENS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": len(tokenizer),
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": 16,
        },
        hidden_size=16,
        vocab_size=len(tokenizer),
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
    )
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor()
    )
    return Qwen2_5_VLForConditionalGeneration(config).eval(), tokenizer, processor


def build_tiny_qwen_edit(folder: str | Path, *, plus: bool = False, seed: int = 0) -> Path:
    """Save a tiny random ``QwenImageEditPipeline`` (or ``...PlusPipeline``) into ``folder``."""
    import torch

    d = import_diffusers()
    torch.manual_seed(seed)
    transformer = d.QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = d.AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=4,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    text_encoder, tokenizer, processor = _tiny_qwen_text(torch)
    cls = d.QwenImageEditPlusPipeline if plus else d.QwenImageEditPipeline
    pipe = cls(
        scheduler=_flux_style_scheduler(d),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )
    pipe.save_pretrained(folder)
    return Path(folder)


def _flux_style_scheduler(d):
    """The scheduler config the real Qwen-Image / FLUX repos ship (dynamic shift on)."""
    return d.FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )


def _tiny_flux_parts(torch, d) -> dict[str, Any]:
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizerFast,
        T5Config,
        T5EncoderModel,
        T5TokenizerFast,
    )

    clip_tok = CLIPTokenizerFast(
        tokenizer_object=_bpe(["<|startoftext|>", "<|endoftext|>"]),
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=77,
    )
    t5_tok = T5TokenizerFast(
        tokenizer_object=_unigram(["<pad>", "</s>", "<unk>"]),
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_ids=0,
        model_max_length=512,
    )
    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(clip_tok),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            projection_dim=32,
            max_position_embeddings=77,
            bos_token_id=clip_tok.bos_token_id,
            eos_token_id=clip_tok.eos_token_id,
            pad_token_id=clip_tok.pad_token_id,
        )
    ).eval()
    t5 = T5EncoderModel(
        T5Config(vocab_size=len(t5_tok), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4)
    ).eval()
    transformer = d.FluxTransformer2DModel(
        patch_size=1,
        in_channels=16,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
        guidance_embeds=True,
    )
    vae = d.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=2,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    return {
        "scheduler": _flux_style_scheduler(d),
        "vae": vae,
        "text_encoder": clip,
        "tokenizer": clip_tok,
        "text_encoder_2": t5,
        "tokenizer_2": t5_tok,
        "transformer": transformer,
    }


def build_tiny_flux(folder: str | Path, *, kontext: bool = True, seed: int = 0) -> Path:
    """Save a tiny random ``FluxKontextPipeline`` (or plain ``FluxPipeline``) into ``folder``."""
    import torch

    d = import_diffusers()
    torch.manual_seed(seed)
    cls = d.FluxKontextPipeline if kontext else d.FluxPipeline
    cls(**_tiny_flux_parts(torch, d)).save_pretrained(folder)
    return Path(folder)


def build_tiny(family: str, folder: str | Path, seed: int = 0) -> Path:
    """A tiny pipeline of ``family`` saved in ``folder`` (reused when it already holds one)."""
    folder = Path(folder)
    if (folder / "model_index.json").is_file():
        return folder
    if family in ("qwen_image_edit", "qwen_image_edit_plus"):
        return build_tiny_qwen_edit(folder, plus=family.endswith("plus"), seed=seed)
    if family in ("flux_kontext", "flux"):
        return build_tiny_flux(folder, kontext=family == "flux_kontext", seed=seed)
    raise ValueError(f"no tiny builder for family {family!r}")
