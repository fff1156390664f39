"""The Gradio Space: restoration demo, leaderboard, submissions and the preference arena.

``build_app(config)`` returns the ``gr.Blocks``; ``launch_space(config)`` serves it (``ggt space`` and
``spaces/app.py`` call it). The tabs only call the library: restoration in
:mod:`ggt_hf.space.restoration`, everything leaderboard-related in :mod:`ggt_hf.leaderboard`.
Importing this package needs the ``space`` extra (gradio).
"""

from ggt_hf.space.app import build_app, launch_space, open_space_store
from ggt_hf.space.config import SpaceConfig

__all__ = ["SpaceConfig", "build_app", "launch_space", "open_space_store"]
