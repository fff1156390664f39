"""Check a packed dataset folder: card YAML and configs, schema of every shard, every image
decodes at its recorded size, ids unique, counts consistent. Lists every problem with its file and
row; exits 1 when there is any."""

from __future__ import annotations

HELP = "check a packed dataset folder (exit 1 on problems)"


def add_arguments(parser) -> None:
    parser.add_argument("folder", help="packed dataset folder")
    parser.add_argument("--workers", type=int, default=2)


def run(args) -> int:
    from ggt_hf.commands._common import print_problems
    from ggt_hf.hub.validate import validate_folder

    problems = validate_folder(args.folder, workers=args.workers)
    if print_problems(problems, f"{args.folder}: problems", limit=200):
        return 1
    print(f"{args.folder}: OK")
    return 0
