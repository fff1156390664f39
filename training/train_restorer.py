"""Train a registry restorer (NAFNet, SwinIR, MPRNet, Restormer, X-Restormer, PromptIR, MoCE-IR) on GGT.

    accelerate launch training/train_restorer.py --config training/recipes/nafnet/ggt_mix.yaml
    accelerate launch --config_file training/accelerate_configs/multi_gpu.yaml \
        training/train_restorer.py --config training/recipes/swinir/ggt_mix.yaml train.max_steps=1000

The trainer core lives in ``ggt_hf.training``; this file only parses the recipe.
"""

import sys

from ggt_hf.runtime.error_reporting import run_reporting_errors  # one line per error, on rank 0 only
from ggt_hf.training.entry import train_restorer_main

if __name__ == "__main__":
    sys.exit(run_reporting_errors(lambda: train_restorer_main()))
