"""Training recipes of either kind (restorer or generative): reading one (:mod:`~ggt_hf.recipes.plan`),
the plan of its launch (``ggt train-plan``, the README's recipe table) and the check that it matches
its official run (:mod:`~ggt_hf.recipes.provenance`). Above :mod:`ggt_hf.training` and
:mod:`ggt_hf.generative`, which it both reads."""
