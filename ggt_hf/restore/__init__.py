"""The restore layer: every caller that restores images goes through it.

``spec`` parses restorer names (one grammar) → ``factory.make_restorer(spec, options)`` builds a
``restorer.Restorer`` (``restore(image, prompt=None)``, ``identity``) → ``identity`` names every
option that changes its outputs → ``provenance`` records, per output folder, which identity made
each output of ``ggt restore``.
"""
