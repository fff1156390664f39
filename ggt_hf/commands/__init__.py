"""``ggt`` sub-commands: one module each, imported only when its command runs.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``
(the exit code). Register a new one by adding its name to :data:`COMMANDS`.
"""

COMMANDS: dict[str, str] = {
    "demo": "ggt_hf.commands.demo",
    "ingest": "ggt_hf.commands.ingest",
    "pack": "ggt_hf.commands.pack",
    "validate": "ggt_hf.commands.validate",
    "card": "ggt_hf.commands.card",
    "push": "ggt_hf.commands.push",
    "mirror": "ggt_hf.commands.mirror",
    "degrade": "ggt_hf.commands.degrade",
    "metrics": "ggt_hf.commands.metrics",
    "eval": "ggt_hf.commands.eval",
    "bench-mfm": "ggt_hf.commands.bench_mfm",
    "build": "ggt_hf.commands.build",
    "review": "ggt_hf.commands.review",
    "restore": "ggt_hf.commands.restore",
    "convert": "ggt_hf.commands.convert",
    "space": "ggt_hf.commands.space",
    "leaderboard": "ggt_hf.commands.leaderboard",
    "train-plan": "ggt_hf.commands.train_plan",
    "train-tiles": "ggt_hf.commands.train_tiles",
}
