"""Judging a restoration: the judge protocol (:mod:`~ggt_hf.judging.verdict`), the geometry and
colour checks (:mod:`~ggt_hf.judging.geometry`) and the offline heuristic judge
(:mod:`~ggt_hf.judging.heuristic`). Below backends, QC and evaluation, which all use it."""
