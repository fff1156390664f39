"""FLUX ControlNet training on GGT pairs: the LQ photo is the control image, the HQ the target.

    accelerate launch --config_file training/accelerate_configs/deepspeed_zero2.yaml \
        training/train_controlnet_flux.py --config training/recipes/flux_controlnet/controlnet_ggt.yaml

Append ``train.push_to_hub=true train.hub_model_id=you/name`` to upload the final ControlNet folder
(weights + model card) to the Hub; ``train.resume_from_checkpoint=latest`` resumes exactly.

The task lives in ``ggt_hf.generative.controlnet_flux``; this file only parses the recipe.
"""

import sys

from ggt_hf.generative.entry import train_generative_main
from ggt_hf.runtime.error_reporting import run_reporting_errors  # one line per error, on rank 0 only

if __name__ == "__main__":
    sys.exit(run_reporting_errors(lambda: train_generative_main("controlnet_flux")))
