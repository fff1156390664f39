"""Training: the data path (:mod:`ggt_hf.training.data`), the trainer core and the restorer task.

Nothing heavy is imported here: ``import ggt_hf.training`` does not pull in torch, ``datasets`` or
accelerate; import the sub-module you need.
"""
