"""Quality control of generated HQ candidates, in the paper's three stages.

1. :mod:`ggt_hf.qc.metric_filter` — no-reference metric improvement of HQ over LQ;
2. :mod:`ggt_hf.qc.loop` — the VLM judge over five aspects plus automatic geometry/colour checks
   (:mod:`ggt_hf.judging.geometry`), with corrective re-prompting up to 3 attempts;
3. :mod:`ggt_hf.qc.review` — the human review queue (decisions persisted, resumable).

Every check is a :class:`ggt_hf.records.QCCheck` with its stage, value and reason, so the packed
dataset can say why each pair was kept or dropped.
"""
