"""Run every stage offline on the photos bundled with ggt-hf: ingest → synthetic LQ photos →
GGT build (adaptive heuristic prompts, classical baseline restorer, three-stage QC) → pack →
validate. Re-running on the same OUT resumes."""

from __future__ import annotations

HELP = "run the whole pipeline offline on the bundled sample photos"


def add_arguments(parser) -> None:
    parser.add_argument(
        "out",
        help="output folder, relative to the working directory (ingest/, pairs/, build/; the dataset: build/dataset/)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of the synthetic degradations")


def run(args) -> int:
    from ggt_hf.commands._common import print_problems
    from ggt_hf.pipeline.demo import run_demo

    result = run_demo(args.out, seed=args.seed)
    print(result.ingest)
    print(f"LQ photos: {result.pairs} (recorded synthetic degradations of the clean photos)")
    print(result.build.markdown())
    if print_problems(result.problems, "validate: problems"):
        return 1
    print(f"validate: OK ({result.dataset})")
    print("load it with:")
    print(f'  from datasets import load_dataset; ds = load_dataset("{result.dataset.resolve()}")')
    return 0
