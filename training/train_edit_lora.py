"""LoRA fine-tuning of Qwen-Image-Edit(-Plus) / FLUX.1 Kontext on GGT pairs (LQ → HQ edits).

    accelerate launch training/train_edit_lora.py --config training/recipes/qwen_image_edit/lora_ggt.yaml
    accelerate launch --config_file training/accelerate_configs/multi_gpu_8.yaml \
        training/train_edit_lora.py --config training/recipes/flux_kontext/lora_ggt.yaml train.max_steps=4000

Append ``train.push_to_hub=true train.hub_model_id=you/name`` to upload the final LoRA folder
(weights + model card) to the Hub; ``train.resume_from_checkpoint=latest`` resumes exactly.

The task lives in ``ggt_hf.generative.edit_lora``; this file only parses the recipe.
"""

import sys

from ggt_hf.generative.entry import train_generative_main
from ggt_hf.runtime.error_reporting import run_reporting_errors  # one line per error, on rank 0 only

if __name__ == "__main__":
    sys.exit(run_reporting_errors(lambda: train_generative_main("edit_lora")))
