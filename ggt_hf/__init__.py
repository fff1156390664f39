"""ggt-hf: Generative Ground Truth (GGT) for real-world image restoration on the Hugging Face stack.

Import what you need from the sub-modules (``ggt_hf.ingest.photos``, ``ggt_hf.hub.pack``, ...); this
package root stays light so that ``import ggt_hf`` and the ``ggt`` CLI start fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
