"""Hugging Face Space entry point: the ggt-hf Space, configured from GGT_SPACE_* variables.

Written by `ggt space export` (the repository's spaces/ folder is its development copy). Locally:
`python app.py` (or `ggt space`); GRADIO_SERVER_NAME / GRADIO_SERVER_PORT pick the address.
Everything lives in the library (ggt_hf.space); this file only starts it.
"""

import logging

from ggt_hf.space import SpaceConfig, launch_space

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    launch_space(SpaceConfig.from_env())
